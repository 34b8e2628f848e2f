package wasm

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// TestAPathSwappedForASymlinkWhileInUseDoesNotLeadOut races the
// confined file system against another writer of the same directory (a
// concurrent run of the same addon shares its CACHE_DIR, and so may a
// docker run of it) that keeps swapping a directory for a symlink to the
// host: no open, stat or chmod may ever reach the host file.
func TestAPathSwappedForASymlinkWhileInUseDoesNotLeadOut(t *testing.T) {
	dir, host := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "secret"), []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real", "secret"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	cfs, err := newConfinedFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfs.close() })

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d := filepath.Join(dir, "d")
		for !stop.Load() {
			os.Rename(filepath.Join(dir, "real"), d)
			os.Rename(d, filepath.Join(dir, "real"))
			os.Rename(filepath.Join(dir, "link"), d)
			os.Rename(d, filepath.Join(dir, "link"))
		}
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if f, errno := cfs.OpenFile("d/secret", experimentalsys.O_RDONLY, 0); errno == 0 {
			b := make([]byte, 64)
			n, _ := f.Read(b)
			f.Close()
			if string(b[:n]) == "host secret" {
				t.Fatalf("attempt %d: opened the host's file through a swapped symlink", i)
			}
		}
		if st, errno := cfs.Stat("d/secret"); errno == 0 && st.Size == int64(len("host secret")) {
			t.Fatalf("attempt %d: stat reached the host's file through a swapped symlink", i)
		}
		cfs.Chmod("d/secret", 0o600)
		if fi, err := os.Stat(filepath.Join(host, "secret")); err == nil && fi.Mode().Perm() != 0o644 {
			t.Fatalf("attempt %d: chmod reached the host's file through a swapped symlink (now %v)", i, fi.Mode())
		}
	}
}

// TestTheConfinedFileSystemKeepsWASISemantics checks what reopening
// through /proc/self/fd must not change.
func TestTheConfinedFileSystemKeepsWASISemantics(t *testing.T) {
	dir := t.TempDir()
	cfs, err := newConfinedFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfs.close() })
	create := experimentalsys.O_CREAT | experimentalsys.O_EXCL | experimentalsys.O_WRONLY
	f, e := cfs.OpenFile("f", create, 0o644)
	if e != 0 {
		t.Fatalf("creating f: %v", e)
	}
	f.Write([]byte("ab"))
	f.Close()
	if _, e := cfs.OpenFile("f", create, 0o644); e != experimentalsys.EEXIST {
		t.Errorf("O_CREAT|O_EXCL on an existing file: %v, want EEXIST", e)
	}
	f, e = cfs.OpenFile("f", experimentalsys.O_WRONLY|experimentalsys.O_APPEND, 0)
	if e != 0 {
		t.Fatal(e)
	}
	f.Write([]byte("c"))
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "abc" {
		t.Errorf("after an append f holds %q, want abc", b)
	}
	if e := cfs.Symlink("f", "l"); e != 0 {
		t.Fatal(e)
	}
	if _, e := cfs.OpenFile("l", experimentalsys.O_RDONLY|experimentalsys.O_NOFOLLOW, 0); e != experimentalsys.ELOOP {
		t.Errorf("O_NOFOLLOW on a symlink: %v, want ELOOP", e)
	}
	if st, e := cfs.Lstat("l"); e != 0 || st.Mode&fs.ModeSymlink == 0 {
		t.Errorf("lstat l: %v %v, want a symlink", st.Mode, e)
	}
	if e := cfs.Unlink("."); e != experimentalsys.EISDIR {
		t.Errorf("unlink of a directory: %v, want EISDIR", e)
	}
	d, e := cfs.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer d.Close()
	for range 2 { // the second time after a rewind, which reopens
		ents, e := d.Readdir(-1)
		if e != 0 || len(ents) != 2 {
			t.Fatalf("readdir: %v %v, want f and l", ents, e)
		}
		if _, e := d.Seek(0, 0); e != 0 {
			t.Fatalf("rewinding the directory: %v", e)
		}
	}
	if _, e := cfs.OpenFile("f", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0); e != experimentalsys.ENOTDIR {
		t.Errorf("O_DIRECTORY on a file: %v, want ENOTDIR", e)
	}
}
