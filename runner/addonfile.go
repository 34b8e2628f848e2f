package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrOutsideAddon is wrapped by InsideAddon's error for a file that
// resolves outside the addon's directory.
var ErrOutsideAddon = errors.New("resolves outside the addon's directory")

// InsideAddon checks that name, a slash-separated path from the
// descriptor, is a regular file inside the addon directory dir once
// every link is followed, through an os.Root of dir. Runners call it
// before handing an addon's file to an engine: a link to a host file
// (/etc/shadow) must be refused by berth, before any engine reads it as
// root or echoes its first line in an error. The error never holds the
// file's content.
func InsideAddon(dir, name string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	rel := filepath.FromSlash(name)
	if !filepath.IsLocal(rel) {
		return fmt.Errorf("%q: %w", name, ErrOutsideAddon)
	}
	fi, err := root.Stat(rel)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%q: %w", name, err)
	case err != nil:
		// os.Root's escape error: a link leading out.
		return fmt.Errorf("%q: %w", name, ErrOutsideAddon)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q is not a regular file", name)
	}
	return nil
}
