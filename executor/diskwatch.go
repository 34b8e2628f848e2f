package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/beneath"
)

// The disk watchdog bounds what WORK, OUTPUT_DIR and CACHE_DIR hold while
// an addon runs, where output-files-cap and cache-cap only look once it
// has ended: a hostile addon writing for ever would fill the host's disk
// first. Every diskCheckEvery it adds up the real disk use of the three
// (allocated blocks, each inode once, no link followed: beneath.Measure)
// and, as soon as they hold more than RunDiskCap bytes or RunFilesCap
// entries, cancels the attempt's context, which stops the addon as a
// timeout does. A walk costs about a microsecond per entry, so the wait
// after one is at least diskCheckBackoff times as long as the walk took:
// the watchdog spends at most a fifth of a core on a tree of any size,
// and RunFilesCap bounds the walk itself.
const (
	DefaultRunDiskCap  = 8 << 30
	DefaultRunFilesCap = 1_000_000

	diskCheckEvery   = 50 * time.Millisecond
	diskCheckBackoff = 9
)

// DiskCapError fails an attempt whose WORK, OUTPUT_DIR and CACHE_DIR
// held more than run-disk-cap bytes or run-files-cap entries while it
// ran, or could not be measured (a tree berth cannot read or too deep):
// berth stopped the addon.
type DiskCapError struct {
	// Used and Limit are bytes; Entries and EntriesLimit names. The
	// walk stops as soon as a limit is exceeded, so Used and Entries are
	// what was counted by then: the directories held at least that.
	Used, Limit           int64
	Entries, EntriesLimit int64
	// Err is why berth could not measure the directories, if so.
	Err error
	// Ended is set when the check after the addon ended found it, not
	// the watchdog while the addon ran.
	Ended bool
}

func (e *DiskCapError) Error() string {
	const dirs = "WORK, OUTPUT_DIR and CACHE_DIR"
	what := "; the addon was stopped"
	if e.Ended {
		what = " when the addon ended"
	}
	switch {
	case e.Err != nil:
		return fmt.Sprintf("berth could not measure the disk use of %s (%v), so it could not hold run-disk-cap%s", dirs, e.Err, what)
	case e.Entries > e.EntriesLimit:
		return fmt.Sprintf("%s held more entries than run-files-cap (%d)%s", dirs, e.EntriesLimit, what)
	}
	return fmt.Sprintf("%s held at least %d bytes on disk, more than run-disk-cap (%d bytes)%s", dirs, e.Used, e.Limit, what)
}

func (e *DiskCapError) Unwrap() error { return e.Err }

// diskWatch is the watchdog of one attempt.
type diskWatch struct {
	log            *slog.Logger
	dirs           []string
	limit, entries int64
	// cancel cancels the attempt's context; quit ends the watchdog.
	cancel  context.CancelCauseFunc
	quit    context.CancelFunc
	done    chan struct{}
	tripped *DiskCapError // set before done is closed
}

// watchDisk starts the watchdog over dirs and returns the context the
// attempt must run with: it is cancelled, with a *DiskCapError as its
// cause, when the directories hold too much. The caller must call stop
// once the attempt has ended.
func (e *Executor) watchDisk(ctx context.Context, log *slog.Logger, dirs ...string) (context.Context, *diskWatch) {
	runCtx, cancel := context.WithCancelCause(ctx)
	watchCtx, quit := context.WithCancel(runCtx)
	w := &diskWatch{
		log:     log,
		dirs:    dirs,
		limit:   e.RunDiskCap,
		entries: e.RunFilesCap,
		cancel:  cancel,
		quit:    quit,
		done:    make(chan struct{}),
	}
	if w.limit <= 0 {
		w.limit = DefaultRunDiskCap
	}
	if w.entries <= 0 {
		w.entries = DefaultRunFilesCap
	}
	go w.run(watchCtx)
	return runCtx, w
}

// run checks the directories until ctx ends or they hold too much.
func (w *diskWatch) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(diskCheckEvery)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		if err := w.check(ctx); err != nil {
			w.tripped = err
			w.cancel(err)
			return
		}
		timer.Reset(max(diskCheckEvery, diskCheckBackoff*time.Since(start)))
	}
}

// check measures the directories once; it returns nil when they are
// within the limits or ctx ended the walk.
func (w *diskWatch) check(ctx context.Context) *DiskCapError {
	t, err := beneath.Measure(ctx, w.limit, w.entries, w.dirs...)
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.Is(err, beneath.ErrOverLimit):
		w.log.Warn("WORK, OUTPUT_DIR and CACHE_DIR hold too much", "bytes", t.Bytes, "run-disk-cap", w.limit, "entries", t.Entries, "run-files-cap", w.entries)
		return &DiskCapError{Used: t.Bytes, Limit: w.limit, Entries: t.Entries, EntriesLimit: w.entries}
	default:
		w.log.Warn("cannot measure WORK, OUTPUT_DIR and CACHE_DIR", "err", err)
		return &DiskCapError{Used: t.Bytes, Limit: w.limit, Entries: t.Entries, EntriesLimit: w.entries, Err: err}
	}
}

// stop ends the watchdog, waits for it and releases the attempt's
// context. It returns the watchdog's error or, when it had not tripped,
// that of one last check, bounded by ctx: an addon that wrote too much
// since the last check and then exited is caught too.
func (w *diskWatch) stop(ctx context.Context) *DiskCapError {
	w.quit()
	<-w.done
	w.cancel(nil)
	if w.tripped != nil {
		return w.tripped
	}
	err := w.check(ctx)
	if err != nil {
		err.Ended = true
	}
	return err
}
