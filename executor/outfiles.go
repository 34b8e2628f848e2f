package executor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/berth-dev/berth/output"
)

// checkOutputFiles verifies that every file the output refers to is a
// relative path that stays inside OUTPUT_DIR and exists there, so a host
// applying the output never follows a path out of it (Docspell joins
// them onto OUTPUT_DIR unchecked). The error is an *output.DecodeError
// naming the JSON path.
func checkOutputFiles(out output.Output, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening output dir: %w", err)
	}
	defer root.Close()
	check := func(path, name string) error {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q must be a relative path inside OUTPUT_DIR", name)}
		}
		fi, err := root.Stat(filepath.FromSlash(name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q does not exist in OUTPUT_DIR", name)}
		case err != nil:
			return &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q: %v", name, err)}
		case !fi.Mode().IsRegular():
			return &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q is not a regular file", name)}
		}
		return nil
	}
	for i, f := range out.Files {
		for _, m := range []struct {
			key   string
			files map[string]string
		}{{"textFiles", f.TextFiles}, {"pdfFiles", f.PDFFiles}, {"previewImages", f.PreviewImages}} {
			keys := make([]string, 0, len(m.files))
			for k := range m.files {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if err := check(fmt.Sprintf("files[%d].%s[%q]", i, m.key, k), m.files[k]); err != nil {
					return err
				}
			}
		}
		for j, nf := range f.NewFiles {
			if err := check(fmt.Sprintf("files[%d].newFiles[%d].file", i, j), nf.File); err != nil {
				return err
			}
		}
	}
	for i, it := range out.NewItems {
		for j, name := range it.Files {
			if err := check(fmt.Sprintf("newItems[%d].files[%d]", i, j), name); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepOutputFiles copies files (regular files, relative to src) into dst
// through an os.Root, so that nothing already in dst (a symlink left by an
// earlier run) can redirect a write outside it. On error the files it
// created are removed again: the output is kept whole or not at all.
func keepOutputFiles(src, dst string, files []string) (err error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	var created []string
	defer func() {
		if err != nil {
			for _, name := range slices.Backward(created) {
				_ = root.Remove(name)
			}
		}
	}()
	for _, name := range files {
		rel := filepath.FromSlash(name)
		if dir := filepath.Dir(rel); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		existed := true
		if _, err := root.Lstat(rel); errors.Is(err, fs.ErrNotExist) {
			existed = false
		}
		if err := copyIntoRoot(root, filepath.Join(src, rel), rel); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !existed {
			created = append(created, rel)
		}
	}
	return nil
}

func copyIntoRoot(root *os.Root, src, name string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	// A symlink at name, even one pointing inside dst, is replaced rather
	// than written through.
	if li, err := root.Lstat(name); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if err := root.Remove(name); err != nil {
			return err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
