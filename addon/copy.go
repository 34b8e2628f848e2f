package addon

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyDir copies the directories, regular files and symbolic links of
// src into dst (created as needed; existing files are overwritten),
// keeping permission bits and skipping a top-level .git. It places an
// addon's files in a run's working directory or in the daemon's store.
func CopyDir(src, dst string) error {
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
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			_, err := CopyFile(p, target, info.Mode().Perm())
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
