package addon

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CopyDir copies the directories, regular files and symbolic links of
// src into dst (created as needed; existing files are overwritten),
// keeping permission bits (never set-id bits) and skipping a top-level
// .git. It places an addon's files in the daemon's store; a run's working
// directory uses CopyDirTo.
func CopyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	return CopyDirTo(src, root)
}

// CopyDirTo is CopyDir writing through root: every file it creates is
// resolved inside root, so a symbolic link already there (one an addon
// left in a run's working directory) cannot lead a write out of it. A
// link it copies is created, never followed.
func CopyDirTo(src string, root *os.Root) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel == "." {
				return nil
			}
			err := root.Mkdir(rel, info.Mode().Perm()|0o700)
			if err != nil && !os.IsExist(err) {
				return err
			}
			if fi, lerr := root.Lstat(rel); lerr != nil || !fi.IsDir() {
				return fmt.Errorf("%s: exists and is not a directory", rel)
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = root.Remove(rel)
			return root.Symlink(link, rel)
		case d.Type().IsRegular():
			_, err := copyFileTo(p, root, rel, info.Mode().Perm())
			return err
		}
		return nil // sockets, devices: not part of an addon
	})
}

// CopyFile copies src to dst with mode perm and returns the bytes copied.
func CopyFile(src, dst string, perm fs.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// copyFileTo copies src to name inside root. A symbolic link at name is
// replaced, not written through.
func copyFileTo(src string, root *os.Root, name string, perm fs.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		if err := root.Remove(name); err != nil {
			return 0, err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, perm.Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
