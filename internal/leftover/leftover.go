package leftover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockName is the lock file inside every directory Make returns.
const LockName = ".berth-lock"

// Dir is a temporary directory that is locked while its run lasts.
type Dir struct {
	// Path is the directory.
	Path string
	lock *os.File
}

// Make creates a directory under os.TempDir() whose name starts with
// prefix (os.MkdirTemp: mode 0700, a random suffix) and locks it.
func Make(prefix string) (*Dir, error) {
	if strings.ContainsRune(prefix, os.PathSeparator) {
		return nil, fmt.Errorf("leftover: prefix %q holds a path separator", prefix)
	}
	path, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, LockName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.RemoveAll(path)
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// Remove removes the directory, then lets go of its lock. It is safe to
// call more than once.
func (d *Dir) Remove() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := os.RemoveAll(d.Path)
	d.lock.Close()
	d.lock = nil
	return err
}

// Sweep removes the directories under os.TempDir() whose names start
// with prefix and whose lock no live process holds: what a berth that
// died left. A directory without a lock file (one made by an older
// berth, or one whose lock file is being created this very moment) is
// removed only once it is older than minAge. before, when set, is
// called with each directory just before it goes, still locked (to
// remove what belongs to it elsewhere). Sweep returns the directories
// removed.
func Sweep(prefix string, minAge time.Duration, before func(dir string)) ([]string, error) {
	if prefix == "" || strings.ContainsAny(prefix, "*?[\\"+string(os.PathSeparator)) {
		return nil, fmt.Errorf("leftover: prefix %q must be a plain, non-empty name", prefix)
	}
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|unix.O_NOFOLLOW, 0)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if time.Since(fi.ModTime()) < minAge {
				continue
			}
		case err != nil:
			continue // not ours to judge (another user's, say)
		default:
			if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
				f.Close() // its berth is alive
				continue
			}
		}
		if before != nil {
			before(dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, dir)
		}
		if f != nil {
			f.Close()
		}
	}
	return removed, errors.Join(errs...)
}
