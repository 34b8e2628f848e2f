package wasm

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// confinedFS is a host directory as a WASI file system that a module
// cannot leave. wazero's DirFS refuses ".." but follows symlinks on the
// host: a module could symlink "/" into WORK (or find such a link left
// in CACHE_DIR by an earlier run) and read the whole host through it.
// Every path is therefore resolved through an os.Root first, which
// refuses any path whose symlinks lead out of the directory, and a module
// may create only symlinks that stay inside it. The module is the only
// writer of these directories while it runs and WASI preview1 has no
// threads, so nothing changes between the check and the operation.
type confinedFS struct {
	root *os.Root
	experimentalsys.FS
}

// newConfinedFS opens dir; the caller closes the returned root.
func newConfinedFS(dir string) (*confinedFS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &confinedFS{root: root, FS: sysfs.DirFS(dir)}, nil
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

// follow checks that p, following every symlink on it including the
// last, stays inside the root. A missing file is left for the operation
// itself to report.
func (c *confinedFS) follow(p string) experimentalsys.Errno {
	_, err := c.root.Stat(rel(p))
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return 0
	}
	return experimentalsys.EPERM
}

// parent checks the directory holding p, for operations that act on the
// last element itself (a symlink is not followed).
func (c *confinedFS) parent(p string) experimentalsys.Errno {
	return c.follow(path.Dir(rel(p)))
}

// OpenFile implements experimentalsys.FS.
func (c *confinedFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if e := c.follow(p); e != 0 {
		return nil, e
	}
	return c.FS.OpenFile(p, flag, perm)
}

// Lstat implements experimentalsys.FS.
func (c *confinedFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	if e := c.parent(p); e != 0 {
		return sys.Stat_t{}, e
	}
	return c.FS.Lstat(p)
}

// Stat implements experimentalsys.FS.
func (c *confinedFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	if e := c.follow(p); e != 0 {
		return sys.Stat_t{}, e
	}
	return c.FS.Stat(p)
}

// Mkdir implements experimentalsys.FS.
func (c *confinedFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	if e := c.parent(p); e != 0 {
		return e
	}
	return c.FS.Mkdir(p, perm)
}

// Chmod implements experimentalsys.FS.
func (c *confinedFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	if e := c.follow(p); e != 0 {
		return e
	}
	return c.FS.Chmod(p, perm)
}

// Rename implements experimentalsys.FS.
func (c *confinedFS) Rename(from, to string) experimentalsys.Errno {
	if e := c.parent(from); e != 0 {
		return e
	}
	if e := c.parent(to); e != 0 {
		return e
	}
	return c.FS.Rename(from, to)
}

// Rmdir implements experimentalsys.FS.
func (c *confinedFS) Rmdir(p string) experimentalsys.Errno {
	if e := c.parent(p); e != 0 {
		return e
	}
	return c.FS.Rmdir(p)
}

// Unlink implements experimentalsys.FS.
func (c *confinedFS) Unlink(p string) experimentalsys.Errno {
	if e := c.parent(p); e != 0 {
		return e
	}
	return c.FS.Unlink(p)
}

// Link implements experimentalsys.FS.
func (c *confinedFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if e := c.parent(oldPath); e != 0 {
		return e
	}
	if e := c.parent(newPath); e != 0 {
		return e
	}
	return c.FS.Link(oldPath, newPath)
}

// Symlink implements experimentalsys.FS: only a relative target that
// stays inside the directory is allowed, so that no link berth leaves in
// OUTPUT_DIR or CACHE_DIR leads a later reader (another runner, the
// host) out of it.
func (c *confinedFS) Symlink(target, link string) experimentalsys.Errno {
	if e := c.parent(link); e != 0 {
		return e
	}
	if path.IsAbs(target) || !fs.ValidPath(path.Join(path.Dir(rel(link)), target)) {
		return experimentalsys.EPERM
	}
	return c.FS.Symlink(target, link)
}

// Readlink implements experimentalsys.FS.
func (c *confinedFS) Readlink(p string) (string, experimentalsys.Errno) {
	if e := c.parent(p); e != 0 {
		return "", e
	}
	return c.FS.Readlink(p)
}

// Utimens implements experimentalsys.FS.
func (c *confinedFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	if e := c.follow(p); e != 0 {
		return e
	}
	return c.FS.Utimens(p, atim, mtim)
}
