package beneath_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/beneath"
)

func write(t *testing.T, p string, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestWalkListsTheTreeAndEntersNoLink(t *testing.T) {
	host := t.TempDir()
	write(t, filepath.Join(host, "secret"), "x", 0o644)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a", "b", "c"), "x", 0o644)
	if err := os.Symlink(host, filepath.Join(dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := beneath.Walk(dir, func(e *beneath.Entry) error {
		got = append(got, e.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"a", "a/b", "a/b/c", "a/link"}
	if !slices.Equal(got, want) {
		t.Errorf("walked %q, want %q (the link listed, not entered)", got, want)
	}
}

func TestWalkRefusesALinkAsItsRoot(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := beneath.Walk(link, func(*beneath.Entry) error { return nil }); err == nil {
		t.Error("Walk followed a link given as the directory")
	}
}

func TestWalkStopsAtMaxDepth(t *testing.T) {
	dir := t.TempDir()
	// Deeper than MaxDepth, made relative so no path gets too long.
	p := dir
	for range beneath.MaxDepth + 2 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Skipf("cannot make a tree this deep here: %v", err)
	}
	err := beneath.Walk(dir, func(*beneath.Entry) error { return nil })
	if !errors.Is(err, beneath.ErrTooDeep) {
		t.Errorf("walking a tree of %d levels: %v, want ErrTooDeep", beneath.MaxDepth+2, err)
	}
}

func TestStripSetIDRemovesTheBitsFromFilesOnly(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "suid"), "#!/bin/sh\n", os.ModeSetuid|0o755)
	write(t, filepath.Join(dir, "sub", "sgid"), "#!/bin/sh\n", os.ModeSetgid|0o750)
	write(t, filepath.Join(dir, "plain"), "x", 0o755)
	target := filepath.Join(t.TempDir(), "outside")
	write(t, target, "x", os.ModeSetuid|0o755)
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	changed, err := beneath.StripSetID(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(changed)
	if want := []string{"sub/sgid", "suid"}; !slices.Equal(changed, want) {
		t.Errorf("changed %q, want %q", changed, want)
	}
	for name, want := range map[string]os.FileMode{"suid": 0o755, "sub/sgid": 0o750, "plain": 0o755} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v without set-id bits", name, fi.Mode(), want)
		}
	}
	if fi, _ := os.Stat(target); fi.Mode()&os.ModeSetuid == 0 {
		t.Error("the walk followed a link and changed the file it points to")
	}
}

func TestUsageCountsWhatASparseFileReallyUses(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil { // 1 TiB, no blocks
		t.Fatal(err)
	}
	f.Close()
	write(t, filepath.Join(dir, "real"), strings.Repeat("x", 1<<20), 0o644)
	n, err := beneath.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 || n > 2<<20 {
		t.Errorf("usage = %d bytes, want about 1 MiB (the real file; the sparse one holds no blocks)", n)
	}
}
