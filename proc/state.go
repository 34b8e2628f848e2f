package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Stopped reports whether process pid is stopped: by a stop signal
// (state T) or by a tracer (t, tracing stop). A process that holds an
// addon's container open while stopped never ends on its own.
func Stopped(pid int) (bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, err
	}
	// pid (comm) STATE …; comm may itself hold ") ".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false, fmt.Errorf("/proc/%d/stat: unexpected content", pid)
	}
	switch b[i+2] {
	case 'T', 't':
		return true, nil
	}
	return false, nil
}

// ErrStopped is the cause WatchStopped gives when it finds the watched
// process stopped.
var ErrStopped = errors.New("stopped by a tracer or a stop signal")

// WatchStopped polls pid every interval until ctx ends or the process is
// gone, and returns ErrStopped as soon as it has found the process
// stopped on polls of a span of at least two intervals (a debugger's or
// a job-control stop that lasts a moment is not a hang). It returns nil
// when ctx ends or the process exits.
func WatchStopped(ctx context.Context, pid int, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			stopped, err := Stopped(pid)
			switch {
			case err != nil:
				return nil // gone
			case !stopped:
				since = time.Time{}
			case since.IsZero():
				since = now
			case now.Sub(since) >= 2*interval-interval/2:
				return ErrStopped
			}
		}
	}
}
