package executor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/beneath"
)

// onThreadWithoutDACOverride runs fn on an OS thread that may not
// bypass file permissions (root's CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH dropped from it alone), as a non-root berth meets
// another user's private directory. The thread is thrown away after.
func onThreadWithoutDACOverride(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if os.Geteuid() == 0 {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				t.Error(err)
				return
			}
			data[0].Effective &^= 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				t.Error(err)
				return
			}
		}
		fn()
	}()
	<-done
}

// A container's root writing a private directory into a non-root
// berth's bind mount must not fail a run that stays within the caps,
// and must not let the addon hide what it writes there: the caps are
// then held on the growth of the file system (its own tmpfs here, so
// that nothing else writes to it).
func TestTheWatchdogHoldsTheCapsOnAnUnreadableDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs of its own needs root")
	}
	fs := t.TempDir()
	if err := unix.Mount("tmpfs", fs, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	dirs := []string{filepath.Join(fs, "work"), filepath.Join(fs, "output"), filepath.Join(fs, "cache")}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	priv := filepath.Join(dirs[2], ".gnupg")
	if err := os.Mkdir(priv, 0o700); err != nil {
		t.Fatal(err)
	}
	w := &diskWatch{log: slog.New(slog.DiscardHandler), dirs: dirs, limit: 4 << 20, entries: 1000, start: statFS(dirs)}
	write := func(name string, n int) {
		t.Helper()
		os.Chmod(priv, 0o700)
		if err := os.WriteFile(filepath.Join(priv, name), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(priv, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(priv, 0o700) })
	check := func() (beneath.Tally, *DiskCapError) {
		var tally beneath.Tally
		var err *DiskCapError
		onThreadWithoutDACOverride(t, func() { tally, err = w.check(context.Background()) })
		return tally, err
	}

	write("small", 1<<20)
	tally, err := check()
	if err != nil {
		t.Fatalf("1 MiB under a 4 MiB cap, part of it unreadable: %v", err)
	}
	if tally.Unreadable == 0 || tally.FirstUnreadable != priv {
		t.Errorf("the tally = %+v, want the unreadable %s counted", tally, priv)
	}
	write("big", 8<<20)
	_, err = check()
	if err == nil {
		t.Fatal("9 MiB written in an unreadable directory under a 4 MiB cap passed")
	}
	if err.Unreadable != priv || err.Used < 8<<20 || !strings.Contains(err.Error(), "grew by") || !strings.Contains(err.Error(), "may not read "+priv) {
		t.Errorf("error = %+v (%v), want the file system's growth of at least 8 MiB and %s named", err, err, priv)
	}
}
