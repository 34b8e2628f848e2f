package beneath

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
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
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return walk(fd, "", 0, fn)
}

func walk(dirfd int, rel string, depth int, fn func(e *Entry) error) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%s: %w (more than %d levels)", rel, ErrTooDeep, MaxDepth)
	}
	names, err := readNames(dirfd)
	if err != nil {
		return fmt.Errorf("listing %q: %w", rel, err)
	}
	for _, name := range names {
		e := Entry{Dirfd: dirfd, Name: name, Path: path.Join(rel, name)}
		if err := unix.Fstatat(dirfd, name, &e.Stat, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return &os.PathError{Op: "lstat", Path: e.Path, Err: err}
		}
		if err := fn(&e); err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		child, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			// Gone, or swapped for a link or a file since the stat.
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				continue
			}
			return &os.PathError{Op: "open", Path: e.Path, Err: err}
		}
		err = walk(child, e.Path, depth+1, fn)
		unix.Close(child)
		if err != nil {
			return err
		}
	}
	return nil
}

// readNames lists the directory open at dirfd without consuming dirfd.
func readNames(dirfd int) ([]string, error) {
	dup, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return names, err
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
	})
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
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := Walk(dir, func(e *Entry) error {
		k := inode{e.Stat.Dev, e.Stat.Ino}
		if !seen[k] {
			seen[k] = true
			total += e.Stat.Blocks * 512
		}
		return nil
	})
	return total, err
}
