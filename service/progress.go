package service

import (
	"fmt"
	"sync/atomic"
	"time"
)

// stepper tells what a starting container is doing: each step is noted
// in the service's log and becomes the detail (Status.Reason) of its
// starting state, which `up` prints and `status` shows, so a long image
// load or pull is not just "starting". A long step's detail is refreshed
// every interval with what it has done so far (bytes, seconds); those
// refreshes are not logged.
type stepper struct {
	log   *serviceLog
	set   func(detail string) // nil: the log only
	every time.Duration
}

// step notes the formatted step in the log and makes it the detail.
func (p stepper) step(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.log.note("%s", msg)
	if p.set != nil {
		p.set(msg)
	}
}

// during refreshes the detail with detail(elapsed) every interval until
// the returned function is called; a step shorter than the interval is
// never refreshed.
func (p stepper) during(detail func(elapsed time.Duration) string) (stop func()) {
	if p.set == nil || p.every <= 0 {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.set(detail(time.Since(start).Round(time.Second)))
			}
		}
	}()
	return func() { close(done); <-ended }
}

// countingReader counts the bytes read through it (an image stream on
// its way to `load`).
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// byteSize prints n bytes for people: 512 B, 3.4 MiB, 1.2 GiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
