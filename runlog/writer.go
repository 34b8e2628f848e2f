package runlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/store"
)

// Defaults of Options' zero fields.
const (
	DefaultInterval   = 200 * time.Millisecond
	DefaultBatchLines = 500
	// MaxLineBytes is the longest line stored; a longer one is cut and
	// ends in "…".
	MaxLineBytes = 4096
	// maxPartial is how much of a line without a newline is held before
	// it is stored as a line of its own.
	maxPartial = 64 << 10
)

// Options configure a Writer.
type Options struct {
	// MaxLines bounds the lines stored per run, over every attempt
	// (each attempt's dropped-lines marker besides).
	MaxLines int
	// AttemptsLeft is how many attempts the run may still make,
	// counting this one: this attempt may store an equal share of what
	// the earlier ones left of MaxLines, so that a later one still has
	// room. At least 1.
	AttemptsLeft int
	// Interval and BatchLines say how often lines are stored: every
	// Interval, or as soon as BatchLines are waiting.
	Interval   time.Duration
	BatchLines int
	Logger     *slog.Logger
	// Clock stamps each line (time.Now when nil).
	Clock func() time.Time
}

// Writer stores the lines of one attempt of a run. Stream returns the
// io.Writers to give the executor; Close stores what is left and must
// be called before the attempt's end is recorded, so that a follower
// that sees the run final has seen every line.
//
// Within the attempt's share B of the run's cap, the first (B+1)/2
// lines are stored as they come (the head); after them the lines go to
// a ring of the last B/2, stored with each batch while older stored
// ones are removed, and a marker line counts what was dropped. A flood
// costs a ring write per line and at most B/2 rows per batch, whatever
// its length.
type Writer struct {
	st      *store.Store
	runID   string
	attempt int
	opt     Options
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	headLeft int             // lines the head may still take
	pending  []store.LogLine // head lines not stored yet
	ring     []store.LogLine // tail lines not stored yet: a ring of tailMax
	ringNext int
	ringLen  int
	tailing  bool  // the head is full: lines go to the ring
	memDrops int64 // ring lines overwritten before they were stored
	partial  map[string][]byte

	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool

	// The flusher's own state (only the flushing goroutine, then Close).
	tailMax   int
	nextSeq   int64
	markerSeq int64 // 0 until the head filled
	tailLo    int64 // the oldest stored tail line's seq (0: none)
	tailHi    int64
	dropped   int64
	markerAt  int64 // dropped as the stored marker says
}

// Open starts a Writer for attempt of run id, reading how many lines
// the run has stored already (earlier attempts, or an earlier node).
func Open(ctx context.Context, st *store.Store, runID string, attempt int, opt Options) (*Writer, error) {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.BatchLines <= 0 {
		opt.BatchLines = DefaultBatchLines
	}
	if opt.AttemptsLeft < 1 {
		opt.AttemptsLeft = 1
	}
	if opt.MaxLines < 1 {
		opt.MaxLines = 1
	}
	w := &Writer{st: st, runID: runID, attempt: attempt, opt: opt, log: opt.Logger, now: opt.Clock,
		partial: map[string][]byte{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	state, err := st.RunLogState(ctx, nil, runID)
	if err != nil {
		return nil, err
	}
	// Markers of earlier attempts do not count against the cap.
	budget := max(int64(opt.MaxLines)-state.Lines, 0) / int64(opt.AttemptsLeft)
	w.headLeft = int((budget + 1) / 2)
	w.tailMax = int(budget) - w.headLeft
	w.ring = make([]store.LogLine, w.tailMax)
	w.nextSeq = state.MaxSeq + 1
	go w.loop()
	return w, nil
}

// Stream returns an io.Writer whose lines are stored as stream (one of
// store.StreamStderr, StreamBuild, StreamBerth). Writes from several
// goroutines are safe; a line's bytes must come from one of them.
func (w *Writer) Stream(stream string) io.Writer { return streamWriter{w, stream} }

type streamWriter struct {
	w      *Writer
	stream string
}

func (s streamWriter) Write(p []byte) (int, error) {
	s.w.write(s.stream, p)
	return len(p), nil
}

// Line stores one line of stream.
func (w *Writer) Line(stream, line string) {
	w.mu.Lock()
	w.add(stream, []byte(line), w.now())
	n := len(w.pending)
	w.mu.Unlock()
	w.wake(n)
}

func (w *Writer) write(stream string, p []byte) {
	w.mu.Lock()
	now := w.now()
	part := w.partial[stream]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			part = append(part, p...)
			break
		}
		if len(part) > 0 {
			part = append(part, p[:i]...)
			w.add(stream, part, now)
			part = part[:0]
		} else {
			w.add(stream, p[:i], now)
		}
		p = p[i+1:]
	}
	if len(part) > maxPartial {
		w.add(stream, part, now)
		part = part[:0]
	}
	w.partial[stream] = part
	n := len(w.pending) + w.ringLen
	w.mu.Unlock()
	w.wake(n)
}

func (w *Writer) wake(waiting int) {
	if waiting >= w.opt.BatchLines {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// add queues a line; w.mu is held.
func (w *Writer) add(stream string, line []byte, now time.Time) {
	var s string
	if len(line) > MaxLineBytes {
		s = string(line[:MaxLineBytes]) + "…"
	} else {
		s = string(bytes.TrimRight(line, "\r"))
	}
	l := store.LogLine{Attempt: w.attempt, Stream: stream, Time: now, Line: s}
	if w.headLeft > 0 {
		w.headLeft--
		w.pending = append(w.pending, l)
		return
	}
	w.tailing = true
	if len(w.ring) == 0 {
		w.memDrops++
		return
	}
	if w.ringLen == len(w.ring) {
		w.memDrops++
	} else {
		w.ringLen++
	}
	w.ring[w.ringNext] = l
	w.ringNext = (w.ringNext + 1) % len(w.ring)
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.flush(context.Background()); err != nil {
			w.log.Warn("storing log lines", "run", w.runID, "err", err)
		}
	}
}

// take removes the queued lines: the head's, then the ring's in order.
func (w *Writer) take(final bool) (head, tail []store.LogLine, drops int64, tailing bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if final {
		for stream, part := range w.partial {
			if len(part) > 0 {
				w.add(stream, part, w.now())
			}
			delete(w.partial, stream)
		}
	}
	head, w.pending = w.pending, nil
	if w.ringLen > 0 {
		tail = make([]store.LogLine, 0, w.ringLen)
		start := (w.ringNext - w.ringLen + len(w.ring)) % len(w.ring)
		for i := range w.ringLen {
			tail = append(tail, w.ring[(start+i)%len(w.ring)])
		}
		w.ringLen = 0
	}
	drops, w.memDrops = w.memDrops, 0
	return head, tail, drops, w.tailing
}

// flush stores the queued lines in one transaction.
func (w *Writer) flush(ctx context.Context) error {
	return w.flushLines(ctx, false)
}

func (w *Writer) flushLines(ctx context.Context, final bool) error {
	head, tail, drops, tailing := w.take(final)
	if len(head) == 0 && len(tail) == 0 && drops == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := w.store(ctx, head, tail, drops, tailing)
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt > 0 {
			if err != nil {
				// Counted as dropped, so the marker (when it can be
				// stored later) says what is missing.
				w.dropped += int64(len(head) + len(tail))
			}
			return err
		}
		// Another writer numbered lines of this run (a node taken for
		// dead that is still running it): continue after its lines.
		state, serr := w.st.RunLogState(ctx, nil, w.runID)
		if serr != nil {
			return serr
		}
		w.nextSeq = state.MaxSeq + 1
		w.markerSeq, w.tailLo, w.tailHi, w.markerAt = 0, 0, 0, -1
	}
}

func (w *Writer) store(ctx context.Context, head, tail []store.LogLine, drops int64, tailing bool) error {
	next, markerSeq, tailLo, tailHi, dropped := w.nextSeq, w.markerSeq, w.tailLo, w.tailHi, w.dropped+drops
	lines := make([]store.LogLine, 0, len(head)+len(tail))
	for _, l := range head {
		l.Seq, next = next, next+1
		lines = append(lines, l)
	}
	if tailing && markerSeq == 0 {
		// The marker's place: after the head, before the tail.
		markerSeq, next = next, next+1
	}
	for _, l := range tail {
		l.Seq, next = next, next+1
		if tailLo == 0 {
			tailLo = l.Seq
		}
		tailHi = l.Seq
		lines = append(lines, l)
	}
	err := w.st.DB().InTx(ctx, func(tx *store.Tx) error {
		if err := w.st.AppendLogs(ctx, tx, w.runID, lines); err != nil {
			return err
		}
		if tailLo != 0 && tailHi-tailLo+1 > int64(w.tailMax) {
			to := tailHi - int64(w.tailMax)
			if _, err := w.st.DeleteLogRange(ctx, tx, w.runID, tailLo, to); err != nil {
				return err
			}
			dropped += to - tailLo + 1
			tailLo = to + 1
		}
		if dropped > 0 && dropped != w.markerAt && markerSeq != 0 {
			return w.st.PutLogMarker(ctx, tx, w.runID, store.LogLine{Seq: markerSeq, Attempt: w.attempt, Stream: store.StreamBerth,
				Time: w.now(), Line: fmt.Sprintf("… %d lines dropped (serve.log-lines)", dropped), Dropped: dropped})
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.nextSeq, w.markerSeq, w.tailLo, w.tailHi, w.dropped = next, markerSeq, tailLo, tailHi, dropped
	if markerSeq != 0 && dropped > 0 {
		w.markerAt = dropped
	}
	return nil
}

// Close stores every line still queued (a last line without a newline
// too) and stops the Writer. It returns the error of that last store.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.flushLines(ctx, true)
}

// Dropped returns how many lines this attempt left out so far.
func (w *Writer) Dropped() int64 { return w.dropped }
