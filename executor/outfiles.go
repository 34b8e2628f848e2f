package executor

import (
	"errors"
	"fmt"
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
