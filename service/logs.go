package service

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// serviceLog appends everything about one service (engine output and
// berth's own notes) to its log file and keeps the last lines in memory
// for the state.
//
// Each line in the file starts with the time its first byte arrived (see
// stampLines), so that the logs of several services can be merged in time
// order; lastLines and the state keep the lines as written.
type serviceLog struct {
	mu      sync.Mutex
	f       *os.File
	now     func() time.Time
	midLine bool   // the file's last line has no '\n' yet
	buf     []byte // reused by Write
	partial []byte
	last    []string
}

const keepLines = 10

func openServiceLog(stateDir, name string) (*serviceLog, error) {
	p := LogPath(stateDir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	// The container's output may hold secrets: for berth's user only, also
	// when an older berth created the file.
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return &serviceLog{f: f, now: time.Now}, nil
}

func (l *serviceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf, l.midLine = stampLines(l.buf[:0], p, l.midLine, l.now())
	_, err := l.f.Write(l.buf)
	n := len(p)
	if err != nil {
		n = 0
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.last = append(l.last, string(l.partial[:i]))
		if len(l.last) > keepLines {
			l.last = l.last[len(l.last)-keepLines:]
		}
		l.partial = l.partial[i+1:]
	}
	return n, err
}

// stampLines appends p to dst with t (see logTimeLayout) and a space
// before every line that starts in p; midLine says whether the previous
// write ended inside a line, and the result whether p does.
func stampLines(dst, p []byte, midLine bool, t time.Time) ([]byte, bool) {
	stamp := t.UTC().AppendFormat(nil, logTimeLayout)
	for len(p) > 0 {
		if !midLine {
			dst = append(append(dst, stamp...), ' ')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return append(dst, p...), true
		}
		dst = append(dst, p[:i+1]...)
		p = p[i+1:]
		midLine = false
	}
	return dst, midLine
}

// note writes a line from berth itself.
func (l *serviceLog) note(format string, args ...any) {
	fmt.Fprintf(l, "berth %s: %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

// lastLines returns the last lines the container wrote (berth's notes included).
func (l *serviceLog) lastLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.last...)
}

func (l *serviceLog) Close() error { return l.f.Close() }

// JournaldRunning reports whether journald listens on this host. Where it
// does not, callers set Config.NoJournald so that containers declared with
// NixOS's default log-driver journald use the engine's default instead.
func JournaldRunning() bool {
	_, err := os.Stat("/run/systemd/journal/socket")
	return err == nil
}
