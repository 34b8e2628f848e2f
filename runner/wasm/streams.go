package wasm

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// cappedStdout keeps the module's stdout up to a cap; the first write
// past it fails and calls over, which stops the module.
type cappedStdout struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	cap  int64 // 0: no cap
	over func()
	hit  bool
}

func (w *cappedStdout) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hit {
		return 0, errOverCap
	}
	if w.cap > 0 && int64(w.buf.Len()+len(p)) > w.cap {
		w.hit = true
		w.buf.Write(p[:w.cap-int64(w.buf.Len())])
		w.over()
		return 0, errOverCap
	}
	return w.buf.Write(p)
}

func (w *cappedStdout) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// maxLine bounds one stderr line: a module writing without newlines
// still gets its output passed on in pieces.
const maxLine = 64 << 10

// stderrLines splits the module's stderr into lines, hands each to
// onLine and keeps the last tail of them.
type stderrLines struct {
	mu      sync.Mutex
	partial []byte
	tail    []string
	keep    int
	onLine  func(string)
}

func (w *stderrLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLine {
				w.emit()
			}
			break
		}
		w.partial = append(w.partial, p[:i]...)
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *stderrLines) emit() {
	line := string(bytes.TrimRight(w.partial, "\r"))
	w.partial = w.partial[:0]
	w.tail = append(w.tail, line)
	if len(w.tail) > w.keep {
		w.tail = w.tail[len(w.tail)-w.keep:]
	}
	w.onLine(line)
}

// add records lines berth itself has to say about the run (a trap's
// stack trace) as if the module had written them.
func (w *stderrLines) add(lines ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range lines {
		w.partial = append(w.partial[:0], l...)
		w.emit()
	}
}

// finish passes on an unterminated last line and returns the tail.
func (w *stderrLines) finish() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit()
	}
	return w.tail
}

// sleeper is the module's nanosleep: the host's clock, cut short when the
// run is stopped, so that a sleeping module notices a timeout at once.
func sleeper(ctx context.Context) func(ns int64) {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}
