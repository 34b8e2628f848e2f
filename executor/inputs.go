package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/runner"
)

// placeInputs puts the inputs berth owns for one addon of a chain into
// WORK, right before that addon starts: a fresh copy of the addon's files
// in WORK/addons/<id> and its user input in WORK/arguments/user-input.
//
// WORK belongs to the addons that ran before, and they may have left
// anything there: files in the next addon's directory (so that a pure
// addon's code would run with the next, impure addon's network), or
// symbolic links in place of WORK/addons, WORK/arguments or the user-input
// file (so that berth, often root, would write wherever they point).
// Hence everything here goes through an os.Root of WORK, which resolves
// no path outside it, what berth writes replaces what is there instead of
// being written into or through it, and the addon's directory is copied
// again for every step.
func placeInputs(workDir string, step Step) error {
	a := step.Addon
	id := a.ID()
	if !filepath.IsLocal(id) || filepath.Base(id) != id {
		return fmt.Errorf("addon id %q cannot name a directory", id)
	}
	root, err := os.OpenRoot(workDir)
	if err != nil {
		return fmt.Errorf("opening the working dir: %w", err)
	}
	defer root.Close()
	for _, d := range []string{"addons", "arguments", "temp"} {
		if err := realDir(root, d); err != nil {
			return fmt.Errorf("preparing the working dir: %w", err)
		}
	}
	rel := filepath.Join("addons", id)
	if err := root.RemoveAll(rel); err != nil {
		return fmt.Errorf("clearing the addon's dir in the working dir: %w", err)
	}
	if err := root.Mkdir(rel, 0o700); err != nil {
		return fmt.Errorf("copying addon into the working dir: %w", err)
	}
	dst, err := root.OpenRoot(rel)
	if err != nil {
		return fmt.Errorf("copying addon into the working dir: %w", err)
	}
	defer dst.Close()
	if err := addon.CopyDirTo(a.Dir, dst); err != nil {
		return fmt.Errorf("copying addon into the working dir: %w", err)
	}
	if a.Runner.Trivial.Enable {
		// addon.Load could not do it where the source is read-only. The
		// root keeps the chmod inside the copy even if exec is a link.
		exec := filepath.FromSlash(a.Runner.Trivial.Exec)
		if fi, err := dst.Stat(exec); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0o111 {
			if err := dst.Chmod(exec, fi.Mode().Perm()|0o555); err != nil {
				return fmt.Errorf("making %s executable: %w", a.Runner.Trivial.Exec, err)
			}
		}
	}
	// Each addon of a chain gets its own user input in the same place.
	input := filepath.FromSlash(runner.UserInputFile)
	if err := root.RemoveAll(input); err != nil {
		return fmt.Errorf("writing user input: %w", err)
	}
	f, err := root.OpenFile(input, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing user input: %w", err)
	}
	_, err = f.WriteString(step.UserInput)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing user input: %w", err)
	}
	return nil
}

// realDir makes name inside root a directory of its own: a link, a file
// or anything else an addon put in its place is removed first.
func realDir(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := root.RemoveAll(name); err != nil {
		return err
	}
	return root.Mkdir(name, 0o700)
}
