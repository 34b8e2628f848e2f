package blobcache_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/blobcache"
)

// memSource is a source of blobs held in memory (the database's part is
// tested in package store; this is the cache's logic).
type memSource struct {
	mu    sync.Mutex
	blobs map[string][]byte
	opens atomic.Int64
	// lie, when set, is what OpenBlob sends instead of the blob.
	lie []byte
}

func (m *memSource) put(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs == nil {
		m.blobs = map[string][]byte{}
	}
	m.blobs[h] = data
	return h
}

func (m *memSource) OpenBlob(_ context.Context, hash string) (io.ReadCloser, error) {
	m.opens.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lie != nil {
		return io.NopCloser(bytes.NewReader(m.lie)), nil
	}
	b, ok := m.blobs[hash]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func writeFile(t *testing.T, p, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// sampleTree is an addon-like tree: a descriptor, an executable in a
// subdirectory, a relative link and a .git directory to leave out.
func sampleTree(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docspell-addon.yaml"), "meta:\n  name: x\n", 0o644)
	writeFile(t, filepath.Join(dir, "bin", "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: x\n", 0o644)
	if err := os.Symlink("bin/run.sh", filepath.Join(dir, "run")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pack(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := blobcache.WriteTree(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestATreeArchiveIsTheSameBytesForTheSameTreeAndUnpacksAsItWas(t *testing.T) {
	a, b := sampleTree(t), sampleTree(t)
	// Other times and walk-independent: the archives are equal.
	if err := os.Chtimes(filepath.Join(b, "bin", "run.sh"), testTime, testTime); err != nil {
		t.Fatal(err)
	}
	pa, pb := pack(t, a), pack(t, b)
	if !bytes.Equal(pa, pb) {
		t.Fatal("two equal trees packed to different archives")
	}
	dst := t.TempDir()
	if err := blobcache.ExtractTree(bytes.NewReader(pa), dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "bin", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/run.sh unpacked with %v, %v; want mode 0755", fi.Mode(), err)
	}
	if link, err := os.Readlink(filepath.Join(dst, "run")); err != nil || link != "bin/run.sh" {
		t.Fatalf("link run = %q, %v; want bin/run.sh", link, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "docspell-addon.yaml")); string(got) != "meta:\n  name: x\n" {
		t.Fatalf("descriptor = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); !os.IsNotExist(err) {
		t.Fatalf(".git was packed: %v", err)
	}
	// A changed file is another archive.
	writeFile(t, filepath.Join(b, "bin", "run.sh"), "#!/bin/sh\necho ho\n", 0o755)
	if bytes.Equal(pa, pack(t, b)) {
		t.Fatal("a changed tree packed to the same archive")
	}
}

func TestExtractTreeRefusesEntriesThatLeadOutOfItsDirectory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tar.Header
	}{
		{"a parent path", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}},
		{"an absolute path", []tar.Header{{Name: "/tmp/evil", Typeflag: tar.TypeReg}}},
		{"a file through a link that points out", []tar.Header{
			{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "out/evil", Typeflag: tar.TypeReg},
		}},
		{"a device", []tar.Header{{Name: "dev", Typeflag: tar.TypeChar}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.entries {
				h.Mode = 0o644
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			os.Mkdir(dst, 0o700)
			if err := blobcache.ExtractTree(&buf, dst); !errors.Is(err, blobcache.ErrBadArchive) {
				t.Fatalf("ExtractTree = %v, want ErrBadArchive", err)
			}
			if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
				t.Fatal("an entry was written outside the directory")
			}
			if _, err := os.Stat("/tmp/evil"); err == nil {
				t.Fatal("an entry was written to /tmp/evil")
			}
		})
	}
}

func TestANodeFetchesABlobOnceHoweverManyAskAtOnce(t *testing.T) {
	src := &memSource{}
	h := src.put(pack(t, sampleTree(t)))
	c, err := blobcache.New(t.TempDir(), src, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, release, err := c.Tree(context.Background(), h)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			dirs[i] = d
		}()
	}
	wg.Wait()
	for _, d := range dirs {
		if d != dirs[0] {
			t.Fatalf("Tree gave %s and %s", dirs[0], d)
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "bin", "run.sh")); err != nil {
		t.Fatal(err)
	}
	if n := src.opens.Load(); n != 1 {
		t.Fatalf("the source was read %d times, want once", n)
	}
	// A new process on the same directory finds what the first fetched.
	c2, err := blobcache.New(c2dir(dirs[0]), src, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, release, err := c2.Tree(context.Background(), h); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	if n := src.opens.Load(); n != 1 {
		t.Fatalf("after a restart the source was read %d times, want once in all", n)
	}
}

// c2dir is the cache directory of a tree's path (cache/trees/<hash>).
func c2dir(tree string) string { return filepath.Dir(filepath.Dir(tree)) }

func TestContentThatDoesNotMatchItsHashIsNotCached(t *testing.T) {
	src := &memSource{}
	h := src.put([]byte("the real content"))
	src.lie = []byte("something else")
	c, err := blobcache.New(t.TempDir(), src, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.File(context.Background(), h); err == nil {
		t.Fatal("a blob with the wrong content was accepted")
	}
	if c.Size() != 0 {
		t.Fatalf("the cache holds %d bytes after a failed fetch", c.Size())
	}
	src.lie = nil
	p, release, err := c.File(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got, _ := os.ReadFile(p); string(got) != "the real content" {
		t.Fatalf("File = %q", got)
	}
	if _, _, err := c.File(context.Background(), "../../etc/passwd"); !errors.Is(err, blobcache.ErrBadHash) {
		t.Fatalf("a path as a hash: err = %v, want ErrBadHash", err)
	}
}

func TestTheCacheRemovesTheLeastRecentlyUsedBlobsOverItsBoundButNoneInUse(t *testing.T) {
	src := &memSource{}
	var hs []string
	for _, s := range []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"} {
		hs = append(hs, src.put([]byte(s)))
	}
	c, err := blobcache.New(t.TempDir(), src, 25, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p0, release0, err := c.File(ctx, hs[0]) // held
	if err != nil {
		t.Fatal(err)
	}
	p1, release1, _ := c.File(ctx, hs[1])
	release1()
	_, release2, _ := c.File(ctx, hs[2]) // 30 bytes > 25: hs[1] goes, hs[0] is in use
	release2()
	if _, err := os.Stat(p0); err != nil {
		t.Fatalf("a blob in use was removed: %v", err)
	}
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatalf("the least recently used blob is still there (%v)", err)
	}
	if c.Size() > 25 {
		t.Fatalf("cache size %d over its bound 25", c.Size())
	}
	release0()
	// Asked again, a removed blob is fetched again.
	before := src.opens.Load()
	if _, release, err := c.File(ctx, hs[1]); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	if src.opens.Load() != before+1 {
		t.Fatal("a removed blob was not fetched again")
	}
}

var testTime = mustTime()

func mustTime() (t time.Time) { return time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC) }
