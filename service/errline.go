package service

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/engine"
)

// MaxLineWidth is how long ErrorLine and OneLine make a line, in runes.
const MaxLineWidth = 120

// ErrorLine is err in one line of at most MaxLineWidth runes. An engine
// error's argv and the rest of its message (both in err.Error(), which
// the state and the log keep) give way to the binary, the exit status and
// the line of what the engine said that names its error (see
// engineMessage); what wraps it stays in front.
func ErrorLine(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var e *engine.Error
	if errors.As(err, &e) {
		prefix := ""
		if full := e.Error(); strings.HasSuffix(s, full) {
			prefix = strings.TrimSuffix(s, full)
		}
		s = prefix + engineLine(e)
	}
	return OneLine(s, MaxLineWidth)
}

func engineLine(e *engine.Error) string {
	var b strings.Builder
	b.WriteString(filepath.Base(e.Binary))
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	}
	if e.Kind != "" && e.Kind != engine.ErrUnknown {
		fmt.Fprintf(&b, " (%s)", e.Kind)
	}
	switch {
	case strings.TrimSpace(e.Stderr) != "":
		b.WriteString(": " + engineMessage(e.Stderr))
	case e.Err != nil:
		b.WriteString(": " + firstLine(e.Err.Error()))
	}
	return b.String()
}

// engineMessage is the line of an engine's stderr that says what went
// wrong: the last one naming an error ("docker: Error response from
// daemon: …", podman's "Error: …"), not a progress line before it
// ("Unable to find image … locally", "Trying to pull …") nor a logged
// warning of a retry; else the first line. What docker adds after its
// error ("Run 'docker run --help' …") names none.
func engineMessage(stderr string) string {
	msg := ""
	for line := range strings.Lines(stderr) {
		t := strings.TrimSpace(line)
		l := strings.ToLower(t)
		if strings.Contains(l, "error") && !strings.Contains(l, "level=warning") && !strings.Contains(l, "level=info") {
			msg = t
		}
	}
	if msg == "" {
		return firstLine(stderr)
	}
	return msg
}

// firstLine is the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

// OneLine is the first non-blank line of s in at most max runes: " …"
// follows it when more lines were dropped, and a longer line is cut to
// end in "…".
func OneLine(s string, max int) string {
	line := firstLine(s)
	if strings.TrimSpace(s) != line {
		line += " …"
	}
	if r := []rune(line); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return line
}

// noteEngineCommand writes to log the command of an engine error and how
// it ended: what the engine said went to the log as it said it, so the
// log then has the whole error. Another error is noted whole.
func noteEngineCommand(log *serviceLog, err error) {
	var e *engine.Error
	if !errors.As(err, &e) {
		log.note("%v", err)
		return
	}
	status := "did not exit"
	if e.ExitCode >= 0 {
		status = fmt.Sprintf("exit status %d", e.ExitCode)
	}
	if e.Err != nil && e.Stderr == "" {
		status += ": " + OneLine(e.Err.Error(), MaxLineWidth)
	}
	log.note("%s %s: %s (the engine's message is above)", e.Binary, strings.Join(e.Args, " "), status)
}
