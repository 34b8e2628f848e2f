package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/beneath"
)

// The disk watchdog bounds what WORK, OUTPUT_DIR and CACHE_DIR hold while
// an addon runs, where output-files-cap and cache-cap only look once it
// has ended: a hostile addon writing for ever would fill the host's disk
// first. It adds up the real disk use of the three (allocated blocks,
// each inode once, no link followed: beneath.Measure) every
// diskCheckEvery and once more when the addon ends, and as soon as they
// hold more than RunDiskCap bytes or RunFilesCap entries it cancels the
// attempt's context, which stops the addon as a timeout does. A walk
// costs a few microseconds per entry, so on a large tree the walks are
// spaced out (see run), and RunFilesCap bounds each walk.
const (
	diskCheckEvery   = 50 * time.Millisecond
	diskCheckBackoff = 9
	diskCheckSoonest = 3
)

// DiskCapError fails an attempt whose WORK, OUTPUT_DIR and CACHE_DIR
// held more than run-disk-cap bytes or run-files-cap entries while it
// ran, or could not be measured (a tree berth cannot read, or too deep):
// the watchdog stopped the addon, or the last check found it when the
// addon ended.
type DiskCapError struct {
	// Used and Limit are bytes, Entries and EntriesLimit names. The
	// walk stops as soon as a limit is exceeded, so Used and Entries are
	// what was counted by then: the directories held at least that.
	Used, Limit           int64
	Entries, EntriesLimit int64
	// Err is why berth could not measure the directories, if so.
	Err error
	// Unreadable names a directory berth may not read (another user's
	// private one) when Used is the file systems' growth since the addon
	// started rather than the directories' own tally.
	Unreadable string
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
	case e.Unreadable != "" && e.Entries > e.EntriesLimit:
		return fmt.Sprintf("the file systems of %s gained %d inodes, more than run-files-cap (%d), while the addon ran; berth counted them there because it may not read %s%s", dirs, e.Entries, e.EntriesLimit, e.Unreadable, what)
	case e.Unreadable != "":
		return fmt.Sprintf("the file systems of %s grew by %d bytes, more than run-disk-cap (%d bytes), while the addon ran; berth counted them there because it may not read %s%s", dirs, e.Used, e.Limit, e.Unreadable, what)
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
	// start is the file systems' use when the attempt began: against it
	// the caps are held when part of the directories is unreadable.
	start fsUse
	// warned: the unreadable part has been logged.
	warned atomic.Bool
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
		start:   statFS(dirs),
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

// run checks the directories until ctx ends or they hold too much. A
// walk is due diskCheckBackoff times its own duration after the last
// one, or at the next tick when that is sooner. In between, at every
// tick, the file systems' own counts (one statfs each) tell whether they
// have grown by more than the room the directories had left under the
// caps; if so the walk comes early, though never sooner than
// diskCheckSoonest times the last walk's duration after it. A large tree
// growing fast is thus checked almost as promptly as a small one, and the
// watchdog never takes more than a third of a core.
func (w *diskWatch) run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(diskCheckEvery)
	defer tick.Stop()
	var (
		due, soonest time.Time // of the next walk
		base         fsUse     // the file systems' use before the last walk
		room         fsUse     // what the directories could still grow by
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		use := statFS(w.dirs)
		if start.Before(soonest) || start.Before(due) && !use.grownBeyond(base, room) {
			continue
		}
		t, err := w.check(ctx)
		if err != nil {
			w.tripped = err
			w.cancel(err)
			return
		}
		took := time.Since(start)
		due, soonest = start.Add(diskCheckBackoff*took), start.Add(diskCheckSoonest*took)
		base, room = use, fsUse{bytes: w.limit - t.Bytes, inodes: w.entries - t.Entries}
	}
}

// fsUse is what file systems have in use; ok is false when it could not
// be told.
type fsUse struct {
	bytes, inodes int64
	ok            bool
}

// statFS adds up the use of the file systems holding dirs, each once.
func statFS(dirs []string) fsUse {
	use := fsUse{ok: true}
	var seen []unix.Fsid
	for _, d := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err != nil {
			return fsUse{}
		}
		if slices.Contains(seen, st.Fsid) {
			continue
		}
		seen = append(seen, st.Fsid)
		use.bytes += int64(st.Blocks-st.Bfree) * st.Frsize
		use.inodes += int64(st.Files - st.Ffree)
	}
	return use
}

// grownBeyond tells whether u exceeds base by more than room. Only
// growth counts: others freeing space may hide some, never add any, so
// this only brings a walk forward, it never decides.
func (u fsUse) grownBeyond(base, room fsUse) bool {
	if !u.ok || !base.ok {
		return false
	}
	return u.bytes-base.bytes > room.bytes || u.inodes-base.inodes > room.inodes
}

// check measures the directories once; its error is nil when they are
// within the limits or ctx ended the walk. When part of them is
// unreadable to berth (a container's root writing a private directory
// into a non-root berth's bind mount), the tally is only a lower bound:
// the caps are then also held on how much the file systems holding the
// directories have grown since the attempt began, which counts others'
// writes too and so errs towards stopping the addon.
func (w *diskWatch) check(ctx context.Context) (beneath.Tally, *DiskCapError) {
	t, err := beneath.MeasureReadable(ctx, w.limit, w.entries, w.dirs...)
	switch {
	case ctx.Err() != nil:
		return t, nil
	case err == nil:
	case errors.Is(err, beneath.ErrOverLimit):
		w.log.Warn("WORK, OUTPUT_DIR and CACHE_DIR hold too much", "bytes", t.Bytes, "run-disk-cap", w.limit, "entries", t.Entries, "run-files-cap", w.entries)
		return t, &DiskCapError{Used: t.Bytes, Limit: w.limit, Entries: t.Entries, EntriesLimit: w.entries}
	default:
		w.log.Warn("cannot measure WORK, OUTPUT_DIR and CACHE_DIR", "err", err)
		return t, &DiskCapError{Used: t.Bytes, Limit: w.limit, Entries: t.Entries, EntriesLimit: w.entries, Err: err}
	}
	if t.Unreadable == 0 {
		return t, nil
	}
	if !w.warned.Swap(true) {
		w.log.Warn("part of WORK, OUTPUT_DIR and CACHE_DIR is unreadable to berth: run-disk-cap and run-files-cap are held on the growth of their file systems as well",
			"unreadable", t.FirstUnreadable, "entries-skipped", t.Unreadable)
	}
	use := statFS(w.dirs)
	if !use.ok || !w.start.ok {
		err := fmt.Errorf("%s is unreadable to berth and the file systems' use cannot be read", t.FirstUnreadable)
		return t, &DiskCapError{Used: t.Bytes, Limit: w.limit, Entries: t.Entries, EntriesLimit: w.entries, Err: err}
	}
	grown, gained := use.bytes-w.start.bytes, use.inodes-w.start.inodes
	if grown > w.limit || gained > w.entries {
		w.log.Warn("the file systems of WORK, OUTPUT_DIR and CACHE_DIR grew too much", "bytes", grown, "run-disk-cap", w.limit, "inodes", gained, "run-files-cap", w.entries, "unreadable", t.FirstUnreadable)
		return t, &DiskCapError{Used: grown, Limit: w.limit, Entries: gained, EntriesLimit: w.entries, Unreadable: t.FirstUnreadable}
	}
	return t, nil
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
	_, err := w.check(ctx)
	if err != nil {
		err.Ended = true
	}
	return err
}
