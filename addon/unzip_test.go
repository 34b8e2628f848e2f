package addon

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// zipItem is one entry of a zip written by writeZip.
type zipItem struct {
	name string
	body string
	// mode, when non-zero, is stored as Unix mode (including the type bits);
	// zero writes an entry without Unix modes, as Windows tools do.
	mode fs.FileMode
	// claim, when non-zero, is the uncompressed size the headers lie about.
	claim uint64
}

func link(name, target string) zipItem {
	return zipItem{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}

// writeZip writes items into a new zip file at path and returns path.
func writeZip(t testing.TB, path string, items ...zipItem) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, it := range items {
		fh := &zip.FileHeader{Name: it.name, Method: zip.Deflate}
		if it.mode != 0 {
			fh.SetMode(it.mode)
		}
		if it.claim != 0 {
			writeRawEntry(t, zw, fh, it)
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, it.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeRawEntry stores it compressed, with headers claiming it.claim bytes.
func writeRawEntry(t testing.TB, zw *zip.Writer, fh *zip.FileHeader, it zipItem) {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	io.WriteString(fw, it.body)
	fw.Close()
	fh.CRC32 = crc32.ChecksumIEEE([]byte(it.body))
	fh.UncompressedSize64 = it.claim
	fh.CompressedSize64 = uint64(comp.Len())
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(comp.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// zipTree zips the directory src with every path under prefix, keeping
// modes and symlinks.
func zipTree(t testing.TB, path, src, prefix string) string {
	t.Helper()
	var items []zipItem
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := prefix + filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			items = append(items, zipItem{name: name + "/", mode: info.Mode()})
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			items = append(items, link(name, target))
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			items = append(items, zipItem{name: name, body: string(data), mode: info.Mode()})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return writeZip(t, path, items...)
}

// listTree returns "path mode" lines for everything under dir, symlinks
// with their targets.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := filepath.ToSlash(rel) + " " + info.Mode().String()
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertNotExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (or cannot be checked: %v); the archive wrote outside its target", path, err)
	}
}

func TestUnzipRefusesHostileArchives(t *testing.T) {
	const mib = 1 << 20
	small := Limits{MaxEntries: 5, MaxBytes: mib}
	good := zipItem{name: "ok/file.txt", body: "fine", mode: 0o644}

	tests := []struct {
		name    string
		items   func(base string) []zipItem
		lim     Limits
		entry   string // the entry the error must name ("" for none); BASE stands for the test's base dir
		reason  string // part of the message
		planted string // a path (relative to base) that must not exist afterwards
	}{
		{
			name:    "an entry climbing out with .. is refused",
			items:   func(string) []zipItem { return []zipItem{good, {name: "../evil", body: "x"}} },
			entry:   "../evil",
			reason:  "path escapes the target directory",
			planted: "evil",
		},
		{
			name:    "an entry climbing out from a subdirectory is refused",
			items:   func(string) []zipItem { return []zipItem{good, {name: "a/b/../../../evil", body: "x"}} },
			entry:   "a/b/../../../evil",
			reason:  "path escapes the target directory",
			planted: "evil",
		},
		{
			name:    "an entry climbing out with backslashes is refused",
			items:   func(string) []zipItem { return []zipItem{good, {name: `..\evil`, body: "x"}} },
			entry:   `..\evil`,
			reason:  "path escapes the target directory",
			planted: "evil",
		},
		{
			name: "an entry with an absolute path is refused",
			items: func(base string) []zipItem {
				return []zipItem{good, {name: filepath.ToSlash(filepath.Join(base, "abs-evil")), body: "x"}}
			},
			entry:   "BASE/abs-evil",
			reason:  "absolute paths are not allowed",
			planted: "abs-evil",
		},
		{
			name:   "a symlink to /etc/passwd is refused",
			items:  func(string) []zipItem { return []zipItem{good, link("passwd", "/etc/passwd")} },
			entry:  "passwd",
			reason: `symlink target "/etc/passwd" points outside the target directory`,
		},
		{
			name:    "a symlink to ../../x is refused",
			items:   func(string) []zipItem { return []zipItem{good, link("sub/x", "../../x")} },
			entry:   "sub/x",
			reason:  `symlink target "../../x" points outside the target directory`,
			planted: "x",
		},
		{
			name: "a symlink escaping through another symlink is refused",
			items: func(string) []zipItem {
				return []zipItem{good, link("here", "."), link("out", "here/../sibling")}
			},
			entry:  "out",
			reason: `symlink target "here/../sibling" points outside the target directory`,
		},
		{
			name: "a symlink escaping through a symlinked parent is refused",
			items: func(string) []zipItem {
				return []zipItem{good, link("a/up", ".."), link("a/up/x", "../sibling")}
			},
			entry:  "a/up/x",
			reason: "points outside the target directory",
		},
		{
			name: "an archive with more entries than the limit is refused",
			items: func(string) []zipItem {
				var items []zipItem
				for i := range 6 {
					items = append(items, zipItem{name: strings.Repeat("f", i+1), body: "x"})
				}
				return items
			},
			lim:    small,
			reason: "archive has 6 entries, more than the limit of 5",
		},
		{
			name: "an entry larger than the byte limit is refused",
			items: func(string) []zipItem {
				return []zipItem{good, {name: "zeros", body: string(make([]byte, 2*mib))}}
			},
			lim:    small,
			entry:  "zeros",
			reason: "archive expands to more than the limit of 1048576 bytes",
		},
		{
			name: "entries adding up to more than the byte limit are refused",
			items: func(string) []zipItem {
				half := string(make([]byte, mib/2+1))
				return []zipItem{{name: "a", body: half}, {name: "b", body: half}}
			},
			lim:    small,
			entry:  "b",
			reason: "archive expands to more than the limit of 1048576 bytes",
		},
		{
			name: "an entry whose header lies about its size is refused",
			items: func(string) []zipItem {
				return []zipItem{good, {name: "liar", body: string(make([]byte, 2*mib)), claim: 10}}
			},
			lim:    small,
			entry:  "liar",
			reason: "is corrupt",
		},
		{
			name:   "a named pipe is refused",
			items:  func(string) []zipItem { return []zipItem{good, {name: "fifo", mode: fs.ModeNamedPipe | 0o644}} },
			entry:  "fifo",
			reason: "unsupported file type",
		},
		{
			name: "a duplicate entry is refused",
			items: func(string) []zipItem {
				return []zipItem{good, {name: "ok/file.txt", body: "overwritten"}}
			},
			entry:  "ok/file.txt",
			reason: "already exists",
		},
		{
			name: "a file written through an earlier symlink is refused",
			items: func(string) []zipItem {
				return []zipItem{good, link("l", "ok/file.txt"), {name: "l", body: "through"}}
			},
			entry:  "l",
			reason: "already exists",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			sibling := filepath.Join(base, "sibling")
			for _, d := range []string{dst, sibling} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// Something already in dst must survive the failed extraction.
			if err := os.WriteFile(filepath.Join(dst, "keep.txt"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			zipPath := writeZip(t, filepath.Join(base, "zips", "hostile.zip"), tt.items(base)...)

			err := Unzip(context.Background(), zipPath, dst, tt.lim)

			tt.entry = strings.ReplaceAll(tt.entry, "BASE", filepath.ToSlash(base))
			var se *SourceError
			if !errors.As(err, &se) {
				t.Fatalf("Unzip returned %v (%T), want a *SourceError", err, err)
			}
			if se.Entry != tt.entry {
				t.Errorf("SourceError.Entry = %q, want %q", se.Entry, tt.entry)
			}
			if tt.entry != "" && !strings.Contains(err.Error(), `entry "`+strings.ReplaceAll(tt.entry, `\`, `\\`)+`"`) {
				t.Errorf("error %q does not name entry %q", err, tt.entry)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "addon source "+zipPath+": ") {
				t.Errorf("error %q does not start with the source", err)
			}
			if got := listTree(t, dst); !slices.Equal(got, []string{"keep.txt -rw-r--r--"}) {
				t.Errorf("dst after refusal holds %q, want only keep.txt", got)
			}
			if got := listTree(t, sibling); len(got) != 0 {
				t.Errorf("sibling directory was written to: %q", got)
			}
			if tt.planted != "" {
				assertNotExist(t, filepath.Join(base, tt.planted))
			}
			if got := listTree(t, base); len(got) != 5 { // dst, keep.txt, sibling, zips, zips/hostile.zip
				t.Errorf("base directory holds %q, want only dst, sibling and zips", got)
			}
		})
	}
}

func TestUnzipExtracts(t *testing.T) {
	tests := []struct {
		name  string
		items []zipItem
		lim   Limits
		want  []string
	}{
		{
			name: "mode bits stored in the zip are kept",
			items: []zipItem{
				{name: "bin/", mode: fs.ModeDir | 0o750},
				{name: "bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
				{name: "secret", body: "s", mode: 0o600},
				{name: "readonly", body: "r", mode: 0o444},
			},
			want: []string{"bin drwxr-x---", "bin/run.sh -rwxr-xr-x", "readonly -r--r--r--", "secret -rw-------"},
		},
		{
			name: "entries without modes get 0644 files and 0755 directories",
			items: []zipItem{
				{name: "dir/"},
				{name: "dir/file", body: "x"},
				{name: "implicit/parent/file", body: "y"},
			},
			want: []string{
				"dir drwxr-xr-x", "dir/file -rw-r--r--",
				"implicit drwxr-xr-x", "implicit/parent drwxr-xr-x", "implicit/parent/file -rw-r--r--",
			},
		},
		{
			name: "setuid and sticky bits are dropped but directories stay owner-writable",
			items: []zipItem{
				{name: "ro/", mode: fs.ModeDir | 0o555},
				{name: "ro/suid", body: "x", mode: fs.ModeSetuid | 0o755},
			},
			want: []string{"ro drwxr-xr-x", "ro/suid -rwxr-xr-x"},
		},
		{
			name: "symlinks staying inside are created",
			items: []zipItem{
				{name: "src/addon.sh", body: "#!/bin/sh\n", mode: 0o755},
				link("run", "src/addon.sh"),
				link("src/self", "."),
				link("src/dangling", "../nowhere"),
			},
			want: []string{
				"run Lrwxrwxrwx -> src/addon.sh", "src drwxr-xr-x", "src/addon.sh -rwxr-xr-x",
				"src/dangling Lrwxrwxrwx -> ../nowhere", "src/self Lrwxrwxrwx -> .",
			},
		},
		{
			name:  "an archive exactly at the limits is accepted",
			items: []zipItem{{name: "a", body: "1234"}, {name: "b", body: "5678"}},
			lim:   Limits{MaxEntries: 2, MaxBytes: 8},
			want:  []string{"a -rw-r--r--", "b -rw-r--r--"},
		},
		{
			name:  "a ./ entry and redundant slashes are harmless",
			items: []zipItem{{name: "./"}, {name: "./a//b", body: "x"}},
			want:  []string{"a drwxr-xr-x", "a/b -rw-r--r--"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			zipPath := writeZip(t, filepath.Join(base, "good.zip"), tt.items...)
			if err := Unzip(context.Background(), zipPath, dst, tt.lim); err != nil {
				t.Fatalf("Unzip: %v", err)
			}
			if got := listTree(t, dst); !slices.Equal(got, tt.want) {
				t.Errorf("extracted\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestUnzipKeepsContents(t *testing.T) {
	src, err := filepath.Abs("testdata/sources/hello")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	zipPath := zipTree(t, filepath.Join(base, "hello.zip"), src, "")
	dst := filepath.Join(base, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Unzip(context.Background(), zipPath, dst, Limits{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"docspell-addon.yml", "src/addon.sh", "README.md"} {
		want, _ := os.ReadFile(filepath.Join(src, f))
		got, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %q (%v), want %q", f, got, err, want)
		}
	}
	wantHash, err := ContentHash(src)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ContentHash(dst); err != nil || got != wantHash {
		t.Errorf("hash after a zip round trip = %s (%v), want %s", got, err, wantHash)
	}
}

func TestUnzipStopsWhenCancelled(t *testing.T) {
	base := t.TempDir()
	dst := filepath.Join(base, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	zipPath := writeZip(t, filepath.Join(base, "a.zip"), zipItem{name: "a/b", body: "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Unzip(ctx, zipPath, dst, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Unzip with a cancelled context returned %v, want context.Canceled", err)
	}
	if got := listTree(t, dst); len(got) != 0 {
		t.Errorf("dst holds %q after a cancelled unzip", got)
	}
}

func TestUnzipRefusesBadInput(t *testing.T) {
	base := t.TempDir()
	notZip := filepath.Join(base, "not.zip")
	if err := os.WriteFile(notZip, []byte("plain text"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeZip(t, filepath.Join(base, "good.zip"), zipItem{name: "a", body: "x"})

	t.Run("a file that is no zip is a SourceError", func(t *testing.T) {
		err := Unzip(context.Background(), notZip, base, Limits{})
		var se *SourceError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "is not a readable zip archive") {
			t.Fatalf("got %v, want a SourceError saying it is not a zip", err)
		}
	})
	t.Run("a missing target directory is an error", func(t *testing.T) {
		err := Unzip(context.Background(), good, filepath.Join(base, "missing"), Limits{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v, want fs.ErrNotExist", err)
		}
	})
}

func TestCleanZipName(t *testing.T) {
	tests := []struct{ raw, name, reason string }{
		{"a/b.txt", "a/b.txt", ""},
		{"a//b/./c", "a/b/c", ""},
		{"dir/", "dir", ""},
		{"./", "", ""},
		{"a:b.txt", "a:b.txt", ""},
		{`win\dir\file`, "win/dir/file", ""},
		{"..", "", "path escapes the target directory"},
		{"a/../b", "", "path escapes the target directory"},
		{"/etc/passwd", "", "absolute paths are not allowed"},
		{"C:/Windows", "", "absolute paths are not allowed"},
		{`c:\evil`, "", "absolute paths are not allowed"},
		{"", "", "has an empty name"},
		{"a\x00b", "", "has a NUL byte in its name"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q is cleaned to %q", tt.raw, tt.name), func(t *testing.T) {
			name, reason := cleanZipName(tt.raw)
			if name != tt.name || reason != tt.reason {
				t.Errorf("cleanZipName(%q) = %q, %q; want %q, %q", tt.raw, name, reason, tt.name, tt.reason)
			}
		})
	}
}

func FuzzCleanZipName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", `..\x`, "/x", "a/./../b", "C:x", "./", "a/b/../../.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, reason := cleanZipName(raw)
		if reason != "" || name == "" {
			return
		}
		if !filepath.IsLocal(name) || strings.Contains("/"+name+"/", "/../") || strings.HasPrefix(name, "/") {
			t.Errorf("cleanZipName(%q) accepted %q", raw, name)
		}
	})
}

// FuzzUnzip feeds mutated archives to Unzip and checks the invariants that
// matter whatever the input: nothing appears next to dst, and no symlink
// left in dst leads out of it.
func FuzzUnzip(f *testing.F) {
	seeds := [][]zipItem{
		{{name: "a/b", body: "x", mode: 0o755}, link("a/l", "b")},
		{{name: "../evil", body: "x"}},
		{link("up", ".."), link("x/y", "../../z")},
		{link("here", "."), link("out", "here/../sibling")},
		{{name: "d/", mode: fs.ModeDir | 0o555}, {name: "d/f", body: "y"}},
	}
	dir := f.TempDir()
	for i, items := range seeds {
		data, err := os.ReadFile(writeZip(f, filepath.Join(dir, fmt.Sprint(i, ".zip")), items...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dst := filepath.Join(base, "dst")
		must(t, os.Mkdir(dst, 0o755))
		zipPath := filepath.Join(base, "in.zip")
		must(t, os.WriteFile(zipPath, data, 0o644))

		err := Unzip(context.Background(), zipPath, dst, Limits{MaxEntries: 50, MaxBytes: 1 << 20})

		if got := listTree(t, base); len(got) < 2 || got[0] != "dst drwxr-xr-x" || got[len(got)-1] != "in.zip -rw-r--r--" {
			t.Fatalf("base holds %q", got)
		}
		if err != nil {
			if got := listTree(t, dst); len(got) != 0 {
				t.Fatalf("failed Unzip (%v) left %q", err, got)
			}
			return
		}
		root, err := os.OpenRoot(dst)
		must(t, err)
		defer root.Close()
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSymlink != 0 {
				rel, _ := filepath.Rel(dst, p)
				if _, err := root.Stat(rel); err != nil && strings.Contains(err.Error(), "escapes") {
					t.Errorf("symlink %s leads out of dst: %v", rel, err)
				}
			}
			return nil
		})
	})
}

// benchZip writes a zip of n files of size bytes each, spread over a few
// directories, like a small addon with vendored scripts.
func benchZip(b *testing.B, n, size int) string {
	items := make([]zipItem, 0, n)
	body := strings.Repeat("echo berth benchmark line\n", size/26+1)[:size]
	for i := range n {
		items = append(items, zipItem{name: fmt.Sprintf("addon/d%d/f%d.sh", i%10, i), body: body, mode: 0o755})
	}
	return writeZip(b, filepath.Join(b.TempDir(), "bench.zip"), items...)
}

// naiveUnzip is the baseline: archive/zip straight to disk with no checks
// at all (what a zip-slip-vulnerable extractor does).
func naiveUnzip(zipPath, dst string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dst, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, f.Mode().Perm())
		if err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(out, rc)
		rc.Close()
		out.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkUnzip compares Unzip (os.Root, limits, symlink checks, undo) with
// the unchecked baseline on the same archive: 200 files of 4 KiB.
func BenchmarkUnzip(b *testing.B) {
	zipPath := benchZip(b, 200, 4096)
	for _, bc := range []struct {
		name  string
		unzip func(dst string) error
	}{
		{"baseline naive archive/zip", func(dst string) error { return naiveUnzip(zipPath, dst) }},
		{"Unzip", func(dst string) error { return Unzip(context.Background(), zipPath, dst, Limits{}) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			base := b.TempDir()
			i := 0
			for b.Loop() {
				dst := filepath.Join(base, fmt.Sprint(i))
				i++
				if err := os.Mkdir(dst, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := bc.unzip(dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
