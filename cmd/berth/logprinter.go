package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/service"
)

// logPrinter writes the lines of `berth services logs`: with prefix,
// "NAME | " before each (names padded to one width, coloured per
// container on a terminal unless NO_COLOR is set), with timestamps the
// line's time.
type logPrinter struct {
	w          io.Writer
	prefix     bool
	timestamps bool
	width      int
	colors     map[string]string // name -> ANSI colour; nil: no colour
}

// logColors are ANSI foreground colours, one per container in turn.
var logColors = []string{"36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91"}

// logTimeLayout is the time --timestamps prints (UTC, fixed width).
const logTimeLayout = "2006-01-02T15:04:05.000000Z"

func newLogPrinter(w io.Writer, names []string, prefix, timestamps bool) *logPrinter {
	p := &logPrinter{w: w, prefix: prefix, timestamps: timestamps}
	for _, n := range names {
		p.width = max(p.width, len(n))
	}
	if prefix && colorTerminal(w) {
		p.colors = map[string]string{}
		for i, n := range names {
			p.colors[n] = logColors[i%len(logColors)]
		}
	}
	return p
}

func (p *logPrinter) print(l service.LogLine) error {
	var b strings.Builder
	if p.prefix {
		name := fmt.Sprintf("%-*s |", p.width, l.Service)
		if c, ok := p.colors[l.Service]; ok {
			name = "\x1b[" + c + "m" + name + "\x1b[0m"
		}
		b.WriteString(name + " ")
	}
	if p.timestamps {
		if l.Time.IsZero() {
			b.WriteString(strings.Repeat(" ", len(logTimeLayout)) + " ")
		} else {
			b.WriteString(l.Time.UTC().Format(logTimeLayout) + " ")
		}
	}
	b.WriteString(l.Text + "\n")
	_, err := io.WriteString(p.w, b.String())
	return err
}

// colorTerminal reports whether w is a terminal and NO_COLOR
// (no-color.org) is not set.
func colorTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
