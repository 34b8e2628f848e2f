package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/memtest"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// randomBytes returns n bytes that differ from run to run.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(time.Now().UnixNano())})
	_, _ = r.Read(b)
	return b
}

func TestBlobs(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) { testBlobs(t, open(t, kind)) })
	}
}

func testBlobs(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t.Run("a blob of several chunks reads back as it was, named by its SHA-256", func(t *testing.T) {
		data := randomBytes(2*store.BlobChunkSize + 12345)
		b, err := st.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if b.Hash != hex.EncodeToString(sum[:]) || b.Size != int64(len(data)) {
			t.Fatalf("PutBlob = %+v; want the SHA-256 and size of the data", b)
		}
		_, chunks, err := st.StatBlob(ctx, nil, b.Hash)
		if err != nil || chunks != 3 {
			t.Fatalf("StatBlob = %d chunks, %v; want 3", chunks, err)
		}
		r, err := st.OpenBlob(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, %v; want the %d stored", len(got), err, len(data))
		}
		// The same content again is not stored twice.
		again, err := st.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil || again != b {
			t.Fatalf("second PutBlob = %+v, %v; want %+v", again, err, b)
		}
		if n := countRows(t, st, `SELECT COUNT(*) FROM berth_blob_chunks WHERE hash = $1`, b.Hash); n != 3 {
			t.Fatalf("%d chunk rows after storing the same content twice, want 3", n)
		}
	})
	t.Run("an empty blob is a blob", func(t *testing.T) {
		b, err := st.PutBlob(ctx, bytes.NewReader(nil), 0)
		if err != nil || b.Size != 0 {
			t.Fatalf("PutBlob(empty) = %+v, %v", b, err)
		}
		r, err := st.OpenBlob(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
			t.Fatalf("empty blob read %q, %v", got, err)
		}
	})
	t.Run("content over the limit is refused and nothing is stored", func(t *testing.T) {
		data := randomBytes(1000)
		_, err := st.PutBlob(ctx, bytes.NewReader(data), 999)
		var tl *store.BlobTooLargeError
		if !errors.As(err, &tl) || !errors.Is(err, store.ErrBlobTooLarge) || tl.Size != 1000 || tl.Limit != 999 {
			t.Fatalf("PutBlob over the limit: err = %v; want a BlobTooLargeError{1000, 999}", err)
		}
		sum := sha256.Sum256(data)
		if _, _, err := st.StatBlob(ctx, nil, hex.EncodeToString(sum[:])); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("StatBlob of the refused blob: %v, want ErrNotFound", err)
		}
	})
	t.Run("a chunk changed in the database is reported, not served", func(t *testing.T) {
		data := randomBytes(store.BlobChunkSize + 10)
		b, err := st.PutBlob(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().Exec(ctx, `UPDATE berth_blob_chunks SET data = $3 WHERE hash = $1 AND seq = $2`, b.Hash, 1, []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		r, err := st.OpenBlob(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, store.ErrBlobCorrupt) {
			t.Fatalf("reading a changed blob: err = %v, want ErrBlobCorrupt", err)
		}
		if _, err := st.DB().Exec(ctx, `DELETE FROM berth_blob_chunks WHERE hash = $1 AND seq = 1`, b.Hash); err != nil {
			t.Fatal(err)
		}
		r, _ = st.OpenBlob(ctx, b.Hash)
		if _, err := io.ReadAll(r); !errors.Is(err, store.ErrBlobCorrupt) {
			t.Fatalf("reading a blob with a missing chunk: err = %v, want ErrBlobCorrupt", err)
		}
	})
	t.Run("retention removes only the blobs nothing references, after the grace period", func(t *testing.T) {
		put := func() store.Blob {
			b, err := st.PutBlob(ctx, bytes.NewReader(randomBytes(100)), 0)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		pkg, file, queued, finished, loose, fresh := put(), put(), put(), put(), put(), put()
		now := time.Now()
		if err := st.PutAddon(ctx, nil, store.Addon{ID: "ad_blob", Name: "b", Version: "1", Source: "/x", Hash: "h", Package: pkg.Hash, Info: []byte(`{}`), Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []store.Run{
			{ID: "run_files", State: store.Succeeded, Spec: []byte(`{}`), Created: now},
			{ID: "run_queued", State: store.Queued, Spec: []byte(`{"steps":[{"package":"` + queued.Hash + `"}]}`), Created: now},
			{ID: "run_done", State: store.Succeeded, Spec: []byte(`{"steps":[{"package":"` + finished.Hash + `"}]}`), Created: now},
			{ID: "run_gone", State: store.Succeeded, Spec: []byte(`{}`), Created: now},
		} {
			if _, err := st.InsertRun(ctx, nil, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.PutRunFiles(ctx, nil, "run_files", []store.RunFile{{Path: "a/b.txt", Hash: file.Hash, Size: file.Size}}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutRunFiles(ctx, nil, "run_gone", []store.RunFile{{Path: "x", Hash: loose.Hash, Size: loose.Size}}); err != nil {
			t.Fatal(err)
		}
		// run_gone's record goes (its retention): its file is then
		// referenced by nothing.
		if _, err := st.DB().Exec(ctx, `DELETE FROM berth_runs WHERE id = 'run_gone'`); err != nil {
			t.Fatal(err)
		}
		// Every blob but fresh is older than the grace period.
		if _, err := st.DB().Exec(ctx, `UPDATE berth_blobs SET touched_ms = touched_ms - 7200000 WHERE hash <> $1`, fresh.Hash); err != nil {
			t.Fatal(err)
		}
		removed, err := st.DeleteUnreferencedBlobs(ctx, time.Hour, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{finished.Hash: true, loose.Hash: true}
		got := map[string]bool{}
		for _, h := range removed {
			got[h] = true
		}
		for h := range want {
			if !got[h] {
				t.Errorf("blob %s (unreferenced) was not removed", h[:8])
			}
		}
		for _, b := range []store.Blob{pkg, file, queued, fresh} {
			if got[b.Hash] {
				t.Errorf("blob %s was removed although it is referenced or fresh", b.Hash[:8])
			}
			if _, _, err := st.StatBlob(ctx, nil, b.Hash); err != nil {
				t.Errorf("kept blob %s: %v", b.Hash[:8], err)
			}
		}
		if n := countRows(t, st, `SELECT COUNT(*) FROM berth_blob_chunks WHERE hash = $1`, finished.Hash); n != 0 {
			t.Errorf("%d chunks of a removed blob are left", n)
		}
		if fs, _ := st.RunFiles(ctx, nil, "run_gone"); len(fs) != 0 {
			t.Errorf("the file records of a removed run are left: %+v", fs)
		}
		if f, err := st.GetRunFile(ctx, nil, "run_files", "a/b.txt"); err != nil || f.Hash != file.Hash {
			t.Errorf("GetRunFile = %+v, %v", f, err)
		}
		// Storing removed content again brings it back.
		if _, err := st.PutBlob(ctx, bytes.NewReader([]byte("x")), 0); err != nil {
			t.Fatal(err)
		}
		r, err := st.OpenBlob(ctx, finished.Hash)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OpenBlob of a removed blob: %v, %v; want ErrNotFound", r, err)
		}
	})
}

func openB(b *testing.B, kind string) *store.Store {
	url := ""
	if kind == "postgres" {
		url = storetest.Postgres(b)
	}
	db, err := store.Open(context.Background(), url, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	st := store.New(db)
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st
}

func countRows(t *testing.T, st *store.Store, q string, args ...any) int {
	t.Helper()
	rows, err := st.DB().Query(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// zeroes is a ReadSeeker of n zero bytes that holds none of them.
type zeroes struct{ n, off int64 }

func (z *zeroes) Read(p []byte) (int, error) {
	if z.off >= z.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n-z.off)
	clear(p[:k])
	z.off += k
	return int(k), nil
}

func (z *zeroes) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		return 0, errors.New("only SeekStart")
	}
	z.off = off
	return off, nil
}

// BenchmarkBlobMemory stores and reads back a 64 MiB blob and reports
// the peak heap as a ratio of the blob's size: streaming in chunks keeps
// it a small fraction (a few chunks), whatever the size.
func BenchmarkBlobMemory(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			st := openB(b, kind)
			const size = 64 << 20
			ctx := context.Background()
			for b.Loop() {
				peak := memtest.PeakHeap(func() {
					blob, err := st.PutBlob(ctx, &zeroes{n: size}, 0)
					if err != nil {
						b.Fatal(err)
					}
					r, err := st.OpenBlob(ctx, blob.Hash)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != size {
						b.Fatalf("read %d, %v", n, err)
					}
				})
				b.ReportMetric(float64(peak)/size, "peak-heap/blob-size")
				if _, err := st.DB().Exec(ctx, `DELETE FROM berth_blob_chunks`); err != nil {
					b.Fatal(err)
				}
				if _, err := st.DB().Exec(ctx, `DELETE FROM berth_blobs`); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
