package executor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/berth-dev/berth/output"
)

// resolveOutputFiles checks every file the output refers to, as Docspell
// resolves them against OUTPUT_DIR before applying the output
// (modules/addonlib/src/main/scala/docspell/addons/out/NewFile.scala:25-36,
// NewItem.scala:31-49, ItemFile.scala:70-92): a missing file is dropped
// from the output with a warning and the rest is applied. A name may be
// relative to OUTPUT_DIR or absolute below OUTPUT_DIR as the addon saw it
// (one of views, such as /mnt/output in a container); it is rewritten
// relative, so that the host applying the output never needs to know
// where the run's directories were. Unlike Docspell, which joins the name
// onto OUTPUT_DIR unchecked, a name that leads out of OUTPUT_DIR (by "..",
// an absolute path elsewhere or a link) or is not a regular file is an
// *output.DecodeError naming the JSON path.
func resolveOutputFiles(out *output.Output, dir string, views []string) (warnings []string, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening output dir: %w", err)
	}
	defer root.Close()
	// resolve returns the relative name, or "" for a missing file.
	resolve := func(path, name string) (string, error) {
		rel := filepath.FromSlash(name)
		if filepath.IsAbs(rel) {
			for _, v := range views {
				if r, err := filepath.Rel(v, rel); err == nil && v != "" && filepath.IsLocal(r) {
					rel = r
					break
				}
			}
		}
		if !filepath.IsLocal(rel) {
			return "", &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q must be a path inside OUTPUT_DIR", name)}
		}
		fi, err := root.Stat(rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			warnings = append(warnings, fmt.Sprintf("%s: %q does not exist in OUTPUT_DIR; ignored, as Docspell does", path, name))
			return "", nil
		case err != nil:
			return "", &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q: %v", name, err)}
		case !fi.Mode().IsRegular():
			return "", &output.DecodeError{Path: path, Reason: fmt.Sprintf("%q is not a regular file", name)}
		}
		return filepath.ToSlash(rel), nil
	}
	for i := range out.Files {
		f := &out.Files[i]
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
				rel, err := resolve(fmt.Sprintf("files[%d].%s[%q]", i, m.key, k), m.files[k])
				if err != nil {
					return nil, err
				}
				if rel == "" {
					delete(m.files, k)
				} else {
					m.files[k] = rel
				}
			}
		}
		var kept []output.NewFile
		for j, nf := range f.NewFiles {
			rel, err := resolve(fmt.Sprintf("files[%d].newFiles[%d].file", i, j), nf.File)
			if err != nil {
				return nil, err
			}
			if rel != "" {
				nf.File = rel
				kept = append(kept, nf)
			}
		}
		if f.NewFiles != nil {
			f.NewFiles = kept
		}
	}
	for i := range out.NewItems {
		it := &out.NewItems[i]
		kept := []string{}
		for j, name := range it.Files {
			rel, err := resolve(fmt.Sprintf("newItems[%d].files[%d]", i, j), name)
			if err != nil {
				return nil, err
			}
			if rel != "" {
				kept = append(kept, rel)
			}
		}
		it.Files = kept
	}
	return warnings, nil
}

// FilesTooLargeError fails a run whose output files hold more than the
// configured output-files-cap: none of them is kept.
type FilesTooLargeError struct {
	Limit, Size int64
}

func (e *FilesTooLargeError) Error() string {
	size := fmt.Sprintf("%d bytes", e.Size)
	if e.Size <= e.Limit {
		size = "more" // found while copying: a file grew
	}
	return fmt.Sprintf("the output files hold %s, more than output-files-cap (%d bytes); none was kept", size, e.Limit)
}

// filesSize adds up the lengths of files (relative to dir), looked up
// through a root of dir without following links.
func filesSize(dir string, files []string) (int64, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	var total int64
	for _, name := range files {
		fi, err := root.Lstat(filepath.FromSlash(name))
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// keepOutputFiles copies files (regular files, relative to src) into dst
// through an os.Root of each, so that nothing in src (a link swapped in
// by a process the addon left) or already in dst (a link left by an
// earlier run) can redirect a read or a write outside them. It copies at
// most limit bytes in all (a *FilesTooLargeError past that, whatever the
// files claimed to hold when listed). On error the files it created are
// removed again: the output is kept whole or not at all.
func keepOutputFiles(src, dst string, files []string, limit int64) (err error) {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	from, err := os.OpenRoot(src)
	if err != nil {
		return err
	}
	defer from.Close()
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
	left := limit
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
		n, err := copyIntoRoot(from, root, rel, left)
		if !existed && (err == nil || n > 0 || errors.As(err, new(*FilesTooLargeError))) {
			created = append(created, rel)
		}
		if err != nil {
			if fe, ok := errors.AsType[*FilesTooLargeError](err); ok {
				fe.Limit = limit
				return fe
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		left -= n
	}
	return nil
}

// copyIntoRoot copies name from one root to the other, at most max bytes.
// The source is opened without following a link; the permission bits are
// kept, set-id bits never.
func copyIntoRoot(from, root *os.Root, name string, max int64) (int64, error) {
	in, err := from.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	// A symlink at name, even one pointing inside dst, is replaced rather
	// than written through.
	if li, err := root.Lstat(name); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if err := root.Remove(name); err != nil {
			return 0, err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, fi.Mode().Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(in, max+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = &FilesTooLargeError{Size: n}
	}
	return n, err
}
