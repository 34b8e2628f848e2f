package beneath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// MaxDepth bounds how deep Walk descends. A tree deeper than this (an
// addon can make one cheaply) is an error rather than a way to exhaust
// berth's file descriptors or stack.
const MaxDepth = 256

// ErrTooDeep is returned when a tree is deeper than MaxDepth.
var ErrTooDeep = errors.New("directory tree is too deep")

// Entry is one entry met by Walk. Dirfd is the open directory holding it
// and Name its name there; both are valid only during the callback.
type Entry struct {
	Dirfd int
	Name  string
	// Path is the entry's path relative to the walked directory, with
	// slashes.
	Path string
	Stat unix.Stat_t
}

// IsDir tells whether the entry was a directory when it was looked at.
func (e *Entry) IsDir() bool { return e.Stat.Mode&unix.S_IFMT == unix.S_IFDIR }

// IsRegular tells whether the entry was a regular file when it was looked at.
func (e *Entry) IsRegular() bool { return e.Stat.Mode&unix.S_IFMT == unix.S_IFREG }

// Walk calls fn for every entry below dir (not dir itself), parents
// before children. dir itself must be a directory and not a symbolic
// link. Entries that vanish while being walked are skipped; a directory
// replaced by anything else between being listed and being opened is
// not entered.
func Walk(dir string, fn func(e *Entry) error) error {
	return walkSkipping(dir, fn, nil)
}

// walkSkipping is Walk, except that an entry berth may not stat or a
// directory it may not open (EACCES: another user's private directory)
// is passed to denied and skipped rather than ending the walk.
func walkSkipping(dir string, fn func(e *Entry) error, denied func(path string)) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return walk(fd, "", 0, fn, denied)
}

// listBatch is how many names walk reads from a directory at a time: a
// directory of millions of entries costs the walk no more memory than a
// small one, and a callback that stops the walk stops it early.
const listBatch = 1024

func walk(dirfd int, rel string, depth int, fn func(e *Entry) error, denied func(string)) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%s: %w (more than %d levels)", rel, ErrTooDeep, MaxDepth)
	}
	// A duplicate of dirfd is read, so that dirfd's own offset is never
	// consumed and it stays usable for the *at calls.
	dup, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed since it was opened
	}
	if err != nil {
		return fmt.Errorf("listing %q: %w", rel, err)
	}
	dir := os.NewFile(uintptr(dup), ".")
	defer dir.Close()
	for {
		names, err := dir.Readdirnames(listBatch)
		// Linux answers ENOENT for a directory removed while it is read:
		// nothing is left below it to walk.
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %q: %w", rel, err)
		}
		for _, name := range names {
			if err := visit(dirfd, rel, name, depth, fn, denied); err != nil {
				return err
			}
		}
	}
}

// visit calls fn for the entry name of the directory open at dirfd and
// walks it if it is a directory.
func visit(dirfd int, rel, name string, depth int, fn func(e *Entry) error, denied func(string)) error {
	e := Entry{Dirfd: dirfd, Name: name, Path: path.Join(rel, name)}
	if err := unix.Fstatat(dirfd, name, &e.Stat, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if denied != nil && errors.Is(err, unix.EACCES) {
			denied(e.Path)
			return nil
		}
		return &os.PathError{Op: "lstat", Path: e.Path, Err: err}
	}
	if err := fn(&e); err != nil {
		return err
	}
	if !e.IsDir() {
		return nil
	}
	child, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// Gone, or swapped for a link or a file since the stat.
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		if denied != nil && errors.Is(err, unix.EACCES) {
			denied(e.Path)
			return nil
		}
		return &os.PathError{Op: "open", Path: e.Path, Err: err}
	}
	defer unix.Close(child)
	return walk(child, e.Path, depth+1, fn, denied)
}

// Chown gives dir and everything below it to uid:gid (-1 keeps one), on
// the entries themselves: a symbolic link is chowned, never its target.
func Chown(dir string, uid, gid int) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return &os.PathError{Op: "chown", Path: dir, Err: err}
	}
	return walk(fd, "", 0, func(e *Entry) error {
		err := unix.Fchownat(e.Dirfd, e.Name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return &os.PathError{Op: "chown", Path: e.Path, Err: err}
		}
		return nil
	}, nil)
}

// StripSetID removes the set-user-id and set-group-id bits, and file
// capabilities, from every regular file below dir, and returns the
// paths (relative to dir) it changed. A program left with those bits in
// a directory that outlives the run would give whoever can reach it the
// privileges of its owner.
func StripSetID(dir string) ([]string, error) {
	var changed []string
	err := Walk(dir, func(e *Entry) error {
		if !e.IsRegular() {
			return nil
		}
		hasCaps := false
		if e.Stat.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
			// Capabilities are an xattr; ask only when the file could
			// hold them (the bits are checked for free).
			n, err := unix.Lgetxattr(procPath(e), "security.capability", nil)
			hasCaps = err == nil && n > 0
			if !hasCaps {
				return nil
			}
		}
		did, err := strip(e, hasCaps)
		if err != nil {
			return err
		}
		if did {
			changed = append(changed, e.Path)
		}
		return nil
	})
	return changed, err
}

// procPath is a path to the entry that does not resolve through any
// directory by name: /proc/self/fd/<dirfd>/<name>. The kernel follows the
// magic link to the very directory berth holds open.
func procPath(e *Entry) string {
	return "/proc/self/fd/" + strconv.Itoa(e.Dirfd) + "/" + e.Name
}

// strip changes the file itself through an O_PATH descriptor opened
// without following links, after checking it is still the regular file
// that was listed.
func strip(e *Entry, caps bool) (bool, error) {
	fd, err := unix.Openat(e.Dirfd, e.Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, &os.PathError{Op: "open", Path: e.Path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, &os.PathError{Op: "stat", Path: e.Path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, nil
	}
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	did := false
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		if err := unix.Chmod(self, st.Mode&0o777|st.Mode&unix.S_ISVTX); err != nil {
			return false, &os.PathError{Op: "chmod", Path: e.Path, Err: err}
		}
		did = true
	}
	if caps || did {
		err := unix.Removexattr(self, "security.capability")
		switch {
		case err == nil:
			did = true
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		default:
			return did, &os.PathError{Op: "removexattr", Path: e.Path, Err: err}
		}
	}
	return did, nil
}

// Usage returns the bytes the tree below dir occupies on disk (allocated
// blocks, so a sparse file counts what it really uses; each inode once).
func Usage(dir string) (int64, error) {
	t, err := Measure(context.Background(), math.MaxInt64, math.MaxInt64, dir)
	return t.Bytes, err
}

// Tally is what Measure counted.
type Tally struct {
	// Bytes is the disk space the entries occupy: allocated blocks
	// (st_blocks × 512), so a sparse file counts what it really uses,
	// and a file of several names counts once.
	Bytes int64
	// Entries is the number of names: files, directories, links, each
	// hard link on its own.
	Entries int64
	// Unreadable counts what MeasureReadable skipped because berth may
	// not read it (another user's private directory); FirstUnreadable is
	// the path of the first of them. Measure fails instead.
	Unreadable      int64
	FirstUnreadable string
}

// ErrOverLimit is returned by Measure when the trees hold more than its
// limits.
var ErrOverLimit = errors.New("over the limit")

// Measure adds up what the trees below dirs hold (not dirs themselves),
// each inode once across all of them, following no link. It stops as
// soon as the bytes exceed maxBytes or the entries maxEntries, with the
// tally so far and an error wrapping ErrOverLimit, and when ctx is done,
// with ctx's error: the cost of a walk is bounded by maxEntries whatever
// the trees hold.
func Measure(ctx context.Context, maxBytes, maxEntries int64, dirs ...string) (Tally, error) {
	return measure(ctx, maxBytes, maxEntries, false, dirs)
}

// MeasureReadable is Measure, except that what berth may not read
// (EACCES: a directory another user made private, e.g. root in a
// container writing to a bind mount of a non-root berth) is skipped and
// counted in Tally.Unreadable: the tally is then a lower bound.
func MeasureReadable(ctx context.Context, maxBytes, maxEntries int64, dirs ...string) (Tally, error) {
	return measure(ctx, maxBytes, maxEntries, true, dirs)
}

func measure(ctx context.Context, maxBytes, maxEntries int64, skipDenied bool, dirs []string) (Tally, error) {
	type inode struct{ dev, ino uint64 }
	// Only a non-directory with more than one name can be met twice.
	seen := map[inode]struct{}{}
	var t Tally
	for _, dir := range dirs {
		var denied func(string)
		if skipDenied {
			denied = func(p string) {
				if t.Unreadable == 0 {
					t.FirstUnreadable = filepath.Join(dir, p)
				}
				t.Unreadable++
			}
		}
		err := walkSkipping(dir, func(e *Entry) error {
			t.Entries++
			if t.Entries%listBatch == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if e.Stat.Nlink > 1 && !e.IsDir() {
				k := inode{uint64(e.Stat.Dev), e.Stat.Ino}
				if _, ok := seen[k]; ok {
					return nil
				}
				seen[k] = struct{}{}
			}
			t.Bytes += e.Stat.Blocks * 512
			switch {
			case t.Bytes > maxBytes:
				return fmt.Errorf("%w: more than %d bytes", ErrOverLimit, maxBytes)
			case t.Entries > maxEntries:
				return fmt.Errorf("%w: more than %d entries", ErrOverLimit, maxEntries)
			}
			return nil
		}, denied)
		if err != nil {
			return t, err
		}
	}
	return t, nil
}
