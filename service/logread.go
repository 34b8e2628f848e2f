package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// logTimeLayout is the time at the start of every line of a log file
// (UTC, fixed width), followed by one space. Lines without it come from a
// berth that did not stamp them; readers take them as they are.
const logTimeLayout = "2006-01-02T15:04:05.000000Z"

// LogLine is one line of a service's log.
type LogLine struct {
	Service string
	// Time is when the line's first byte reached berth; zero when the
	// line carries no time (a log written by an older berth).
	Time time.Time
	Text string // without the time and the line break
	// after is, for a line without a time, the time of the last line
	// before it that had one (set by Logs, also across a tail's cut).
	after time.Time
}

// ParseLogLine splits a line of a log file (without its '\n') into its
// time and text; a line without a time is all text.
func ParseLogLine(s string) (time.Time, string) {
	n := len(logTimeLayout)
	if len(s) > n && s[n] == ' ' {
		if t, err := time.Parse(logTimeLayout, s[:n]); err == nil {
			return t, s[n+1:]
		}
	}
	return time.Time{}, s
}

// LogOptions say which lines Logs writes.
type LogOptions struct {
	// Tail, when >= 0, starts each log at its last Tail lines.
	Tail int
	// Follow keeps writing lines as they are appended, until the
	// context ends.
	Follow bool
	// Poll is how often a followed log is read again (default 200 ms).
	Poll time.Duration
}

// ErrNoLog means a service has no log file (yet).
var ErrNoLog = errors.New("no log")

// Logs gives emit the lines of the named services' logs in stateDir,
// merged in time order: each log's lines in their order, and across logs
// by their times (a line without one counts as the time of the line
// before it). When following, the lines that arrived since the last read
// are merged the same way, so lines that arrive within one Poll of each
// other are ordered by time, later ones as they come. A log that does not
// exist is an error wrapping ErrNoLog.
func Logs(ctx context.Context, stateDir string, names []string, opt LogOptions, emit func(LogLine) error) error {
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	logs := make([]*logFile, len(names))
	for i, n := range names {
		logs[i] = &logFile{name: n, path: LogPath(stateDir, n)}
		defer logs[i].close()
	}
	first := true
	for {
		batches := make([][]LogLine, 0, len(logs))
		for _, l := range logs {
			lines, err := l.read(first && opt.Tail >= 0, opt.Tail)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %w: %w", l.name, ErrNoLog, err)
			}
			if err != nil {
				return err
			}
			batches = append(batches, lines)
		}
		first = false
		for _, line := range MergeLogs(batches...) {
			if err := emit(line); err != nil {
				return err
			}
		}
		if !opt.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opt.Poll):
		}
	}
}

// MergeLogs merges logs, each in its own order, into one by time: a line
// without a time counts as the time of the line before it in its log.
// Lines of equal time keep the order of the logs given.
func MergeLogs(logs ...[]LogLine) []LogLine {
	type head struct {
		lines []LogLine
		key   time.Time
	}
	heads := make([]*head, 0, len(logs))
	total := 0
	for _, l := range logs {
		if len(l) > 0 {
			heads = append(heads, &head{lines: l})
			total += len(l)
		}
	}
	keyOf := func(h *head) time.Time {
		l := h.lines[0]
		switch {
		case !l.Time.IsZero():
			return l.Time
		case !l.after.IsZero():
			return l.after
		}
		return h.key
	}
	out := make([]LogLine, 0, total)
	for len(heads) > 0 {
		best := 0
		for i := 1; i < len(heads); i++ {
			if keyOf(heads[i]).Before(keyOf(heads[best])) {
				best = i
			}
		}
		h := heads[best]
		h.key = keyOf(h)
		out = append(out, h.lines[0])
		if h.lines = h.lines[1:]; len(h.lines) == 0 {
			heads = slices.Delete(heads, best, best+1)
		}
	}
	return out
}

// logFile reads one log file from where it last stopped.
type logFile struct {
	name    string
	path    string
	f       *os.File
	r       *bufio.Reader
	partial string    // a last line without its '\n' yet
	last    time.Time // of the last line read that had one
}

// read returns the complete lines appended since the last read; with
// tail, only the last n of them.
func (l *logFile) read(tail bool, n int) ([]LogLine, error) {
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return nil, err
		}
		l.f, l.r = f, bufio.NewReaderSize(f, 64<<10)
	}
	var lines []LogLine
	for {
		s, err := l.r.ReadString('\n')
		if err == io.EOF {
			l.partial += s
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", l.path, err)
		}
		s, l.partial = l.partial+strings.TrimSuffix(s, "\n"), ""
		t, text := ParseLogLine(s)
		line := LogLine{Service: l.name, Time: t, Text: text, after: l.last}
		if !t.IsZero() {
			l.last, line.after = t, time.Time{}
		}
		lines = append(lines, line)
		if tail && len(lines) > 2*n+64 {
			lines = slices.Delete(lines, 0, len(lines)-n)
		}
	}
	if tail && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

func (l *logFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}

// LogNames returns the services that have a log in stateDir, sorted.
func LogNames(stateDir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(stateDir, logDir, "*.log"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".log"))
	}
	slices.Sort(names)
	return names, nil
}
