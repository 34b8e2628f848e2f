package addon

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// copyTree copies the regular files, directories and symlinks under src
// into dst, keeping permission bits.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(out, info.Mode().Perm())
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(out, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestContentHash(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, dir string)
		changes bool
	}{
		{"hashing twice gives the same hash", func(*testing.T, string) {}, false},
		{"changing one byte changes the hash", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("A tiny addon for tests!\n"), 0o644))
		}, true},
		{"setting an exec bit changes the hash", func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "README.md"), 0o744))
		}, true},
		{"clearing an exec bit changes the hash", func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "src", "addon.sh"), 0o644))
		}, true},
		{"changing only read and write bits keeps the hash", func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "README.md"), 0o600))
		}, false},
		{"changing modification times keeps the hash", func(t *testing.T, dir string) {
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for _, f := range []string{"README.md", "src/addon.sh", "src", "."} {
				must(t, os.Chtimes(filepath.Join(dir, f), old, old))
			}
		}, false},
		{"renaming a file changes the hash", func(t *testing.T, dir string) {
			must(t, os.Rename(filepath.Join(dir, "README.md"), filepath.Join(dir, "README")))
		}, true},
		{"moving bytes from one file to the next changes the hash", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("ab"), 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "b"), []byte("c"), 0o644))
			before, err := ContentHash(dir)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "b"), []byte("bc"), 0o644))
			if after, _ := ContentHash(dir); after == before {
				t.Errorf("files ab+c and a+bc hash the same")
			}
		}, true},
		{"adding an empty file changes the hash", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
		}, true},
		{"adding a symlink changes the hash", func(t *testing.T, dir string) {
			must(t, os.Symlink("src/addon.sh", filepath.Join(dir, "run")))
		}, true},
		{"adding a file to a top-level .git directory keeps the hash", func(t *testing.T, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, ".git", "objects"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, ".git", "objects", "x"), []byte("x"), 0o644))
		}, false},
		{"adding a file to a nested .git directory changes the hash", func(t *testing.T, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, "src", ".git"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "src", ".git", "x"), []byte("x"), 0o644))
		}, true},
		{"adding a top-level .git file changes the hash", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: ../x\n"), 0o644))
		}, true},
		{"adding an empty directory keeps the hash", func(t *testing.T, dir string) {
			must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, helloDir(t), dir)
			before, err := ContentHash(dir)
			must(t, err)
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(before) {
				t.Fatalf("ContentHash = %q, want 64 hex digits", before)
			}
			tt.change(t, dir)
			after, err := ContentHash(dir)
			must(t, err)
			if changed := after != before; changed != tt.changes {
				t.Errorf("hash changed = %v (%s -> %s), want %v", changed, before, after, tt.changes)
			}
		})
	}
}

func TestContentHashOfSymlinks(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Symlink("a", filepath.Join(dir, "l")))
	before, err := ContentHash(dir)
	must(t, err)
	must(t, os.Remove(filepath.Join(dir, "l")))
	must(t, os.Symlink("b", filepath.Join(dir, "l")))
	after, err := ContentHash(dir)
	must(t, err)
	if before == after {
		t.Errorf("retargeting a symlink kept the hash %s", before)
	}
	// A symlink pointing outside is hashed by its target, never followed.
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "out")))
	if _, err := ContentHash(dir); err != nil {
		t.Errorf("ContentHash with an outside symlink: %v", err)
	}
}

// TestContentHashIsPinned fails when the hash format changes: every cached
// image tag would change with it, so a change must be deliberate (bump
// contentHashVersion and this value together).
func TestContentHashIsPinned(t *testing.T) {
	const want = "880b1ee2b675e885b6e7deb54009d0b85fe101b421abdcc580534bc91e5f2c46"
	got, err := ContentHash(helloDir(t))
	must(t, err)
	if got != want {
		t.Errorf("ContentHash(testdata/sources/hello) = %s, want %s", got, want)
	}
}

func TestContentHashErrors(t *testing.T) {
	t.Run("a missing directory is an error", func(t *testing.T) {
		if _, err := ContentHash(filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("ContentHash of a missing directory succeeded")
		}
	})
	t.Run("a named pipe is an error naming it", func(t *testing.T) {
		dir := t.TempDir()
		must(t, mkfifo(filepath.Join(dir, "pipe")))
		_, err := ContentHash(dir)
		if err == nil || !regexp.MustCompile(`pipe: unsupported file type`).MatchString(err.Error()) {
			t.Errorf("ContentHash with a fifo: %v, want an unsupported file type error", err)
		}
	})
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// BenchmarkContentHash compares ContentHash with the baseline of reading and
// hashing the same files in walk order with no framing, sorting or modes.
func BenchmarkContentHash(b *testing.B) {
	dir := b.TempDir()
	body := bytes.Repeat([]byte("echo berth benchmark line\n"), 160) // ~4 KiB
	for i := range 200 {
		sub := filepath.Join(dir, fmt.Sprint("d", i%10))
		must(b, os.MkdirAll(sub, 0o755))
		must(b, os.WriteFile(filepath.Join(sub, fmt.Sprint("f", i, ".sh")), body, 0o755))
	}
	b.Run("baseline sha256 of all files", func(b *testing.B) {
		for b.Loop() {
			h := sha256.New()
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(p)
				h.Write(data)
				return err
			})
			must(b, err)
			h.Sum(nil)
		}
	})
	b.Run("ContentHash", func(b *testing.B) {
		for b.Loop() {
			if _, err := ContentHash(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
