package executor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestTheDiskWatchdog drives the watchdog itself: it cancels the
// attempt's context with its error as the cause, its last check catches
// what was written since the one before, and it leaves no goroutine
// behind however the attempt ends.
func TestTheDiskWatchdog(t *testing.T) {
	fill := func(t *testing.T, dir string, files int) {
		t.Helper()
		for i := range files {
			if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		name string
		// files is what the directories hold when the watchdog starts,
		// more is what is added just before it is stopped.
		files, more int
		// wait for the watchdog to cancel the context.
		wait      bool
		parentEnd bool
		want      string
	}{
		{name: "under the cap", files: 5},
		{name: "over the cap while running", files: 20, wait: true, want: "WORK, OUTPUT_DIR and CACHE_DIR held more entries than run-files-cap (10); the addon was stopped"},
		{name: "over the cap by the end", files: 5, more: 20, want: "WORK, OUTPUT_DIR and CACHE_DIR held more entries than run-files-cap (10) when the addon ended"},
		{name: "over the cap, the run cancelled", files: 5, more: 20, parentEnd: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
			fill(t, dirs[1], tt.files)
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			e := &Executor{RunFilesCap: 10}
			ctx, w := e.watchDisk(parent, slog.New(slog.DiscardHandler), dirs...)
			if tt.wait {
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the watchdog did not cancel the attempt")
				}
				if _, ok := errors.AsType[*DiskCapError](context.Cause(ctx)); !ok {
					t.Errorf("the attempt's context ended with %v, want a *DiskCapError", context.Cause(ctx))
				}
			}
			fill(t, dirs[2], tt.more)
			if tt.parentEnd {
				cancel()
			}
			var msg string
			if err := w.stop(parent); err != nil {
				msg = err.Error()
			}
			if msg != tt.want {
				t.Errorf("stop = %q, want %q", msg, tt.want)
			}
			if ctx.Err() == nil {
				t.Error("the attempt's context was not released")
			}
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines after the watchdog stopped, %d before", runtime.NumGoroutine(), before)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// TestStatFSSeesGrowth checks the trigger that brings a walk forward on a
// large tree: statfs sees a file written into a measured directory.
func TestStatFSSeesGrowth(t *testing.T) {
	dir := t.TempDir()
	base := statFS([]string{dir, dir, t.TempDir()})
	if !base.ok {
		t.Fatal("statfs failed")
	}
	room := fsUse{bytes: 1 << 20, inodes: 1000}
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 8<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	use := statFS([]string{dir, dir, t.TempDir()})
	if !use.grownBeyond(base, room) {
		t.Errorf("8 MiB written, statfs grew by %d bytes: not beyond a room of 1 MiB", use.bytes-base.bytes)
	}
	if use.grownBeyond(base, fsUse{bytes: 1 << 40, inodes: 1 << 40}) {
		t.Error("grown beyond a room of 1 TiB")
	}
	if (fsUse{}).grownBeyond(base, room) {
		t.Error("a failed statfs brought a walk forward")
	}
}
