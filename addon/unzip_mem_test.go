package addon

import (
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/memtest"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// writeManyEntriesZip writes a zip of n empty stored entries: the
// cheapest archive per entry, so a small file holds a huge directory.
func writeManyEntriesZip(t testing.TB, path string, n int) string {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	for i := range n {
		if _, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("e%07d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, zw.Close())
	must(t, bw.Flush())
	must(t, f.Close())
	return path
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// Issue 18: the entry limit must apply while the central directory is
// read, not after archive/zip has held all of it in memory.
func TestCheckZipDirectoryStopsAtTheEntryLimit(t *testing.T) {
	const entries, limit = 20000, 100
	path := writeManyEntriesZip(t, filepath.Join(t.TempDir(), "many.zip"), entries)
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	cr := &countingReaderAt{r: f}
	err = checkZipDirectory(path, cr, fi.Size(), limit)
	var se *SourceError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "more than the limit of 100") {
		t.Fatalf("err = %v, want a SourceError about the entry limit", err)
	}
	// the tail (EOCD search) and the first limit+1 headers, in 64 KiB reads
	if max := int64(maxDirEndScan + 3*64<<10); cr.n.Load() > max {
		t.Errorf("read %d bytes of a %d-byte archive, want at most %d", cr.n.Load(), fi.Size(), max)
	}
	if err := checkZipDirectory(path, f, fi.Size(), entries); err != nil {
		t.Errorf("with a limit of %d: %v, want nil", entries, err)
	}
	// Unzip says so too, naming the limit.
	err = Unzip(context.Background(), path, t.TempDir(), Limits{MaxEntries: limit})
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "more than the limit of 100") {
		t.Errorf("Unzip: %v", err)
	}
}

func TestCheckZipDirectoryRefusesAClaimedCountOverTheLimit(t *testing.T) {
	path := writeManyEntriesZip(t, filepath.Join(t.TempDir(), "claim.zip"), 3)
	data, err := os.ReadFile(path)
	must(t, err)
	// the end of central directory record is the last 22 bytes: claim 60000 entries
	eocd := len(data) - dirEndLen
	data[eocd+8], data[eocd+9] = 0x60, 0xea
	data[eocd+10], data[eocd+11] = 0x60, 0xea
	must(t, os.WriteFile(path, data, 0o644))
	err = Unzip(context.Background(), path, t.TempDir(), Limits{MaxEntries: 10})
	var se *SourceError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "archive has 60000 entries") {
		t.Errorf("err = %v, want the claimed count refused", err)
	}
}

// BenchmarkUnzipManyEntries is issue 18's hostile upload: a 64 MiB zip of
// about 700,000 empty entries, against the default limit of 10,000. The
// baseline is archive/zip opening it, which Unzip did before counting.
func BenchmarkUnzipManyEntries(b *testing.B) {
	path := writeManyEntriesZip(b, filepath.Join(b.TempDir(), "many.zip"), 700_000)
	fi, err := os.Stat(path)
	must(b, err)
	b.Logf("archive: %d MiB", fi.Size()>>20)
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"baseline zip.OpenReader", func() error {
			zr, err := zip.OpenReader(path)
			if err == nil {
				zr.Close()
			}
			return err
		}},
		{"Unzip", func() error {
			err := Unzip(context.Background(), path, b.TempDir(), Limits{})
			if err == nil {
				return errors.New("Unzip accepted 700,000 entries")
			}
			return nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				var err error
				peak = max(peak, memtest.PeakHeap(func() { err = bc.run() }))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
