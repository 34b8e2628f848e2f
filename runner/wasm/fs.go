package wasm

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// confinedFS is a host directory as a WASI file system that a module
// cannot leave. wazero's DirFS refuses ".." but follows symlinks on the
// host: a module could find a symlink to "/" in CACHE_DIR (left by an
// earlier run of another runner) and read the whole host through it.
// Every operation therefore goes through an os.Root, which resolves each
// path component itself and refuses any symlink leading out. Checking a
// path with the root and then handing it to DirFS would not do: another
// writer of the directory (a concurrent run of the same addon shares its
// CACHE_DIR) can swap a directory for a symlink between the check and
// the operation.
//
// wazero offers no way to turn an *os.File into one of its files, so
// OpenFile opens through the root and then lets DirFS reopen that very
// file through /proc/self/fd/N, which names the open file, not a path.
type confinedFS struct {
	root *os.Root
	// fds reopens an open file by its descriptor: /proc/self/fd.
	fds experimentalsys.FS
	experimentalsys.UnimplementedFS
}

// newConfinedFS opens dir; the caller closes the returned root.
func newConfinedFS(dir string) (*confinedFS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &confinedFS{root: root, fds: sysfs.DirFS("/proc/self/fd")}, nil
}

func (c *confinedFS) close() error { return c.root.Close() }

// rel turns wazero's path (relative to the mount, maybe "" or with a
// trailing slash) into one for os.Root.
func rel(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// errno maps an error of os.Root to WASI's: a path leading out of the
// root (not a system error) is EPERM.
func errno(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	var se syscall.Errno
	if errors.As(err, &se) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission) {
		return experimentalsys.UnwrapOSError(err)
	}
	return experimentalsys.EPERM
}

// osFlag is the os.OpenFile flag for wazero's, less what the reopen
// through /proc keeps doing by itself.
func osFlag(f experimentalsys.Oflag) int {
	var o int
	switch f & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = os.O_RDWR
	case experimentalsys.O_WRONLY:
		o = os.O_WRONLY
	default:
		o = os.O_RDONLY
	}
	for _, m := range []struct {
		w experimentalsys.Oflag
		o int
	}{
		{experimentalsys.O_CREAT, os.O_CREATE}, {experimentalsys.O_EXCL, os.O_EXCL}, {experimentalsys.O_TRUNC, os.O_TRUNC},
		{experimentalsys.O_DIRECTORY, syscall.O_DIRECTORY}, {experimentalsys.O_NONBLOCK, syscall.O_NONBLOCK},
	} {
		if f&m.w != 0 {
			o |= m.o
		}
	}
	return o
}

// OpenFile implements experimentalsys.FS.
func (c *confinedFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	p = rel(p)
	if flag&experimentalsys.O_NOFOLLOW != 0 {
		// os.Root follows a last symlink (inside the root); WASI asked
		// not to. Whatever is swapped in after this, the root confines.
		if fi, err := c.root.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, experimentalsys.ELOOP
		}
	}
	held, err := c.root.OpenFile(p, osFlag(flag), perm)
	if err != nil {
		return nil, errno(err)
	}
	reopen := flag &^ (experimentalsys.O_CREAT | experimentalsys.O_EXCL | experimentalsys.O_TRUNC | experimentalsys.O_NOFOLLOW)
	f, e := c.fds.OpenFile(strconv.Itoa(int(held.Fd())), reopen, perm)
	if e != 0 {
		held.Close()
		return nil, e
	}
	// held stays open as long as f: wazero reopens f by its path (to
	// rewind a directory or change O_APPEND), /proc/self/fd/N.
	return &heldFile{File: f, held: held}, 0
}

// heldFile is a file reopened through /proc/self/fd and the descriptor
// its path names.
type heldFile struct {
	experimentalsys.File
	held *os.File
}

func (f *heldFile) Close() experimentalsys.Errno {
	e := f.File.Close()
	f.held.Close()
	return e
}

// Lstat implements experimentalsys.FS.
func (c *confinedFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := c.root.Lstat(rel(p))
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Stat implements experimentalsys.FS.
func (c *confinedFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := c.root.Stat(rel(p))
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Mkdir implements experimentalsys.FS.
func (c *confinedFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	return errno(c.root.Mkdir(rel(p), perm))
}

// Chmod implements experimentalsys.FS.
func (c *confinedFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	return errno(c.root.Chmod(rel(p), perm))
}

// Rename implements experimentalsys.FS.
func (c *confinedFS) Rename(from, to string) experimentalsys.Errno {
	return errno(c.root.Rename(rel(from), rel(to)))
}

// Rmdir implements experimentalsys.FS: os.Root removes files and
// directories alike, WASI's rmdir only directories.
func (c *confinedFS) Rmdir(p string) experimentalsys.Errno {
	fi, err := c.root.Lstat(rel(p))
	if err != nil {
		return errno(err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return errno(c.root.Remove(rel(p)))
}

// Unlink implements experimentalsys.FS: only what is not a directory.
func (c *confinedFS) Unlink(p string) experimentalsys.Errno {
	fi, err := c.root.Lstat(rel(p))
	if err != nil {
		return errno(err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return errno(c.root.Remove(rel(p)))
}

// Link implements experimentalsys.FS.
func (c *confinedFS) Link(oldPath, newPath string) experimentalsys.Errno {
	return errno(c.root.Link(rel(oldPath), rel(newPath)))
}

// Symlink implements experimentalsys.FS: only a relative target that
// stays inside the directory is allowed (os.Root itself does not look at
// targets). This is no guarantee for later readers of the directory: a
// rename can move a link to where its target leads out.
func (c *confinedFS) Symlink(target, link string) experimentalsys.Errno {
	if path.IsAbs(target) || !fs.ValidPath(path.Join(path.Dir(rel(link)), target)) {
		return experimentalsys.EPERM
	}
	return errno(c.root.Symlink(target, rel(link)))
}

// Readlink implements experimentalsys.FS.
func (c *confinedFS) Readlink(p string) (string, experimentalsys.Errno) {
	s, err := c.root.Readlink(rel(p))
	return s, errno(err)
}

// Utimens implements experimentalsys.FS. os.Root's Chtimes leaves a
// zero time unchanged, as UTIME_OMIT asks.
func (c *confinedFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	t := func(ns int64) time.Time {
		if ns == experimentalsys.UTIME_OMIT {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	return errno(c.root.Chtimes(rel(p), t(atim), t(mtim)))
}
