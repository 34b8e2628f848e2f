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
type serviceLog struct {
	mu      sync.Mutex
	f       *os.File
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
	return &serviceLog{f: f}, nil
}

func (l *serviceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.f.Write(p)
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
