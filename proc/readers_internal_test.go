package proc

import (
	"os"
	"testing"
	"time"
)

func TestHungUpSeesWhetherAWriteEndIsOpen(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.Write([]byte("unread\n")); err != nil {
		t.Fatal(err)
	}
	if hungUp(r) {
		t.Fatal("hungUp = true while the write end is open")
	}
	w.Close()
	if !hungUp(r) {
		t.Fatal("hungUp = false after the only write end was closed (with data still unread)")
	}
}

// The readers of a program whose pipes have hung up are waited for, however
// late they are scheduled: abandoning them on a timer alone dropped output
// that had been written in full (TestFreshProgramsStartUnderConcurrentForks
// under a CPU hog: "succeeded" with empty stdout after exactly 2 s).
func TestWaitReadersAbandonsOnlyAPipeStillHeldOpen(t *testing.T) {
	cases := []struct {
		name        string
		writersGone bool
		wantAbandon bool
	}{
		{"every write end closed: wait for the slow readers", true, false},
		{"a write end still open: abandon", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan struct{})
			abandoned := false
			go func() { time.Sleep(50 * time.Millisecond); close(done) }()
			waitReaders(done, time.Millisecond, func() bool { return c.writersGone }, func() { abandoned = true })
			if abandoned != c.wantAbandon {
				t.Errorf("abandoned = %v, want %v", abandoned, c.wantAbandon)
			}
			select {
			case <-done:
			default:
				t.Error("waitReaders returned before the readers were done")
			}
		})
	}
}
