package beneath_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

func TestMeasure(t *testing.T) {
	const mib = 1 << 20
	// host is outside the measured trees: a link to it must not count it.
	host := t.TempDir()
	write(t, filepath.Join(host, "big"), strings.Repeat("x", 4*mib), 0o644)
	for _, tt := range []struct {
		name string
		// make fills the measured dirs a and b.
		make func(t *testing.T, a, b string)
		// bytes is the expected disk use, within [bytes, bytes+slack]
		// (directories and file systems' rounding add a little).
		bytes, entries int64
	}{
		{
			name: "a real file counts its blocks",
			make: func(t *testing.T, a, b string) {
				write(t, filepath.Join(a, "real"), strings.Repeat("x", mib), 0o644)
			},
			bytes: mib, entries: 1,
		},
		{
			name: "a sparse file of 10 TiB counts what it really uses",
			make: func(t *testing.T, a, b string) {
				f, err := os.Create(filepath.Join(a, "sparse"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Truncate(10 << 40); err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte("x"), 5<<40); err != nil {
					t.Fatal(err)
				}
			},
			bytes: 0, entries: 1,
		},
		{
			name: "a symbolic link is not followed",
			make: func(t *testing.T, a, b string) {
				if err := os.Symlink(filepath.Join(host, "big"), filepath.Join(a, "file-link")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(host, filepath.Join(b, "dir-link")); err != nil {
					t.Fatal(err)
				}
			},
			bytes: 0, entries: 2,
		},
		{
			name: "a file of several names counts once, across the trees too",
			make: func(t *testing.T, a, b string) {
				write(t, filepath.Join(a, "one"), strings.Repeat("x", mib), 0o644)
				for _, p := range []string{filepath.Join(a, "sub", "two"), filepath.Join(b, "three")} {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Link(filepath.Join(a, "one"), p); err != nil {
						t.Fatal(err)
					}
				}
			},
			bytes: mib, entries: 4, // one, sub, sub/two, three
		},
		{
			name: "a directory bigger than a listing batch is walked whole",
			make: func(t *testing.T, a, b string) {
				for i := range 3000 {
					write(t, filepath.Join(b, "f"+strconv.Itoa(i)), "", 0o644)
				}
			},
			bytes: 0, entries: 3000,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			tt.make(t, a, b)
			got, err := beneath.Measure(context.Background(), math.MaxInt64, math.MaxInt64, a, b)
			if err != nil {
				t.Fatal(err)
			}
			const slack = 512 << 10 // directories' own blocks, metadata
			if got.Bytes < tt.bytes || got.Bytes > tt.bytes+slack || got.Entries != tt.entries {
				t.Errorf("Measure = %d bytes, %d entries; want %d bytes (+ at most %d), %d entries", got.Bytes, got.Entries, tt.bytes, slack, tt.entries)
			}
		})
	}
}

func TestMeasureStopsAsSoonAsALimitIsExceeded(t *testing.T) {
	dir := t.TempDir()
	for i := range 5000 {
		write(t, filepath.Join(dir, "f"+strconv.Itoa(i)), "x", 0o644)
	}
	for _, tt := range []struct {
		name                 string
		maxBytes, maxEntries int64
	}{
		{"entries", math.MaxInt64, 100},
		{"bytes", 100 * 4096, math.MaxInt64}, // each file holds a block or more
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := beneath.Measure(context.Background(), tt.maxBytes, tt.maxEntries, dir)
			if !errors.Is(err, beneath.ErrOverLimit) {
				t.Fatalf("Measure = %v, want ErrOverLimit", err)
			}
			if got.Entries > 101 {
				t.Errorf("Measure went on to %d entries after the limit was exceeded", got.Entries)
			}
		})
	}
}

func TestMeasureHonoursItsContext(t *testing.T) {
	dir := t.TempDir()
	for i := range 3000 {
		write(t, filepath.Join(dir, "f"+strconv.Itoa(i)), "", 0o644)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := beneath.Measure(ctx, math.MaxInt64, math.MaxInt64, dir)
	if !errors.Is(err, context.Canceled) || got.Entries >= 3000 {
		t.Errorf("Measure with a cancelled context = %d entries, %v; want it stopped early with context.Canceled", got.Entries, err)
	}
}

// BenchmarkMeasure walks 10,000 files in 100 directories: the cost of one
// check of the executor's disk watchdog per entry (ns/op ÷ 10,100).
func BenchmarkMeasure(b *testing.B) {
	dir := b.TempDir()
	for d := range 100 {
		sub := filepath.Join(dir, "d"+strconv.Itoa(d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if err := os.WriteFile(filepath.Join(sub, "f"+strconv.Itoa(f)), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		t, err := beneath.Measure(context.Background(), math.MaxInt64, math.MaxInt64, dir)
		if err != nil || t.Entries != 10_100 {
			b.Fatalf("Measure = %+v, %v", t, err)
		}
	}
}

// A directory removed while it is being walked (an addon's `rm -rf`
// racing the disk watchdog) ends its listing: Linux's getdents answers
// ENOENT on a removed directory, which is not an error of the walk.
func TestWalkSkipsADirectoryRemovedWhileItIsListed(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "addons", "x", "y"), "x", 0o644)
	write(t, filepath.Join(dir, "addons", "z"), "x", 0o644)
	write(t, filepath.Join(dir, "kept"), "x", 0o644)
	var got []string
	err := beneath.Walk(dir, func(e *beneath.Entry) error {
		got = append(got, e.Path)
		if e.Path == "addons/x" || e.Path == "addons/z" {
			if err := os.RemoveAll(filepath.Join(dir, "addons")); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk failed on a directory removed under it: %v (walked %q)", err, got)
	}
	if !slices.Contains(got, "kept") {
		t.Errorf("walked %q: the walk stopped before the rest of the tree", got)
	}
}
