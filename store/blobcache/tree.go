package blobcache

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// WriteTree writes the files, directories and symbolic links under dir
// to w as a tar archive that depends only on their names, contents,
// permissions and link targets (not on times, owners or the walk's
// order), so the same tree is the same blob on every node. A top-level
// .git directory is left out, as addon.CopyDir leaves it out.
func WriteTree(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		if rel == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		h := &tar.Header{Name: name, ModTime: epoch, Mode: int64(info.Mode().Perm()), Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, link, 0o777
		case d.Type().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		default:
			return nil // sockets, devices: not part of a tree
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("archiving %s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err := io.Copy(tw, f); err != nil || n != h.Size {
			return fmt.Errorf("archiving %s: %d of %d bytes: %w", name, n, h.Size, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ErrBadArchive is wrapped by errors about an archive ExtractTree refuses.
var ErrBadArchive = errors.New("bad tree archive")

// ExtractTree unpacks an archive of WriteTree into the directory dst
// (which must exist). Every path is resolved inside dst through an
// os.Root, so an entry cannot write outside it, not even through a
// symbolic link the archive made earlier; only directories, regular
// files and symbolic links are accepted.
func ExtractTree(r io.Reader, dst string) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadArchive, err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == "" || !fs.ValidPath(name) || path.Clean(name) != name {
			return fmt.Errorf("%w: entry %q is not a relative path", ErrBadArchive, h.Name)
		}
		local := filepath.FromSlash(name)
		perm := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(local, perm|0o700); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadArchive, name, err)
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, local); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadArchive, name, err)
			}
		case tar.TypeReg:
			f, err := root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadArchive, name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("unpacking %s: %w", name, err)
			}
			// The umask must not take the addon's executable bits.
			if err := root.Chmod(local, perm); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: entry %q has type %q (only directories, files and symbolic links)", ErrBadArchive, h.Name, h.Typeflag)
		}
	}
}
