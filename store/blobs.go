package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// BlobChunkSize is the size of the rows a blob is stored in: a blob is
// written and read one chunk at a time, never whole in memory.
const BlobChunkSize = 1 << 20

// ErrBlobTooLarge is wrapped by a *BlobTooLargeError.
var ErrBlobTooLarge = errors.New("blob too large")

// BlobTooLargeError is returned by PutBlob for content over the limit.
type BlobTooLargeError struct{ Size, Limit int64 }

func (e *BlobTooLargeError) Error() string {
	return fmt.Sprintf("%d bytes is over the blob limit of %d bytes (serve.blob-max-size)", e.Size, e.Limit)
}

// Unwrap makes errors.Is(err, ErrBlobTooLarge) true.
func (e *BlobTooLargeError) Unwrap() error { return ErrBlobTooLarge }

// ErrBlobCorrupt is returned by a blob's reader when the stored bytes do
// not have the blob's hash or size.
var ErrBlobCorrupt = errors.New("stored blob does not match its hash")

// Blob is stored content, named by the hex SHA-256 of its bytes.
type Blob struct {
	Hash string
	Size int64
}

// PutBlob stores the content of r, which it reads twice (once to hash
// it, once to write it, chunk by chunk, in one transaction), and returns
// its name. Content that is stored already is not written again; its
// age, which retention judges, starts anew. limit > 0 bounds the size.
func (s *Store) PutBlob(ctx context.Context, r io.ReadSeeker, limit int64) (Blob, error) {
	h := sha256.New()
	size, err := io.Copy(h, r)
	if err != nil {
		return Blob{}, fmt.Errorf("hashing the blob: %w", err)
	}
	b := Blob{Hash: hex.EncodeToString(h.Sum(nil)), Size: size}
	if limit > 0 && size > limit {
		return Blob{}, &BlobTooLargeError{Size: size, Limit: limit}
	}
	if ok, err := s.TouchBlob(ctx, nil, b.Hash); err != nil || ok {
		return b, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Blob{}, fmt.Errorf("rereading the blob: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *Tx) error {
		buf := make([]byte, BlobChunkSize)
		check := sha256.New()
		var seq int
		var written int64
		for {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				check.Write(buf[:n])
				if _, err := tx.Exec(ctx, `INSERT INTO berth_blob_chunks (hash, seq, data) VALUES ($1, $2, $3)`, b.Hash, seq, buf[:n]); err != nil {
					return err
				}
				seq++
				written += int64(n)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("reading the blob: %w", err)
			}
		}
		if written != b.Size || hex.EncodeToString(check.Sum(nil)) != b.Hash {
			return errors.New("the blob's content changed while it was stored")
		}
		_, err := tx.Exec(ctx, `INSERT INTO berth_blobs (hash, size, chunks, touched_ms) VALUES ($1, $2, $3, `+s.nowMS()+`)`, b.Hash, b.Size, seq)
		return err
	})
	if isUniqueViolation(err) {
		// Another node stored the same content meanwhile.
		return b, nil
	}
	if err != nil {
		return Blob{}, fmt.Errorf("storing blob %s: %w", b.Hash, err)
	}
	return b, nil
}

// TouchBlob restarts the age of blob hash, so that retention keeps it
// for another grace period; it reports whether the blob exists.
func (s *Store) TouchBlob(ctx context.Context, q Querier, hash string) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_blobs SET touched_ms = `+s.nowMS()+` WHERE hash = $1`, hash)
	if err != nil {
		return false, fmt.Errorf("looking up blob %s: %w", hash, err)
	}
	return n == 1, nil
}

// StatBlob returns the blob named hash.
func (s *Store) StatBlob(ctx context.Context, q Querier, hash string) (Blob, int, error) {
	type row struct {
		size   int64
		chunks int
	}
	rows, err := queryAll(ctx, s.q(q), func(r Rows) (row, error) {
		var x row
		return x, r.Scan(&x.size, &x.chunks)
	}, `SELECT size, chunks FROM berth_blobs WHERE hash = $1`, hash)
	if err != nil {
		return Blob{}, 0, fmt.Errorf("looking up blob %s: %w", hash, err)
	}
	if len(rows) == 0 {
		return Blob{}, 0, fmt.Errorf("blob %s: %w", hash, ErrNotFound)
	}
	return Blob{Hash: hash, Size: rows[0].size}, rows[0].chunks, nil
}

// OpenBlob returns a reader of the blob named hash. It reads one chunk
// per query (holding no cursor, so SQLite's one connection stays free
// between reads) and fails with ErrBlobCorrupt at the end when the bytes
// read do not have the blob's hash.
func (s *Store) OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error) {
	b, chunks, err := s.StatBlob(ctx, nil, hash)
	if err != nil {
		return nil, err
	}
	return &blobReader{ctx: ctx, s: s, blob: b, chunks: chunks, h: sha256.New()}, nil
}

type blobReader struct {
	ctx    context.Context
	s      *Store
	blob   Blob
	chunks int
	next   int
	buf    []byte
	read   int64
	h      hash.Hash
	err    error
}

func (r *blobReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.chunks {
			r.err = io.EOF
			if r.read != r.blob.Size || hex.EncodeToString(r.h.Sum(nil)) != r.blob.Hash {
				r.err = fmt.Errorf("blob %s: %w", r.blob.Hash, ErrBlobCorrupt)
			}
			continue
		}
		data, err := queryAll(r.ctx, r.s.db, func(rs Rows) ([]byte, error) {
			var d []byte
			return d, rs.Scan(&d)
		}, `SELECT data FROM berth_blob_chunks WHERE hash = $1 AND seq = $2`, r.blob.Hash, r.next)
		if err != nil {
			r.err = fmt.Errorf("reading blob %s: %w", r.blob.Hash, err)
			continue
		}
		if len(data) != 1 {
			r.err = fmt.Errorf("blob %s: chunk %d is missing: %w", r.blob.Hash, r.next, ErrBlobCorrupt)
			continue
		}
		r.buf = data[0]
		r.next++
		r.h.Write(r.buf)
		r.read += int64(len(r.buf))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *blobReader) Close() error {
	r.err = errors.New("read of a closed blob")
	r.buf = nil
	return nil
}

// DeleteUnreferencedBlobs removes up to limit blobs that nothing
// references and that were stored (or touched) more than grace ago by
// the database's clock, and first the output-file records of runs that
// are gone. A blob is referenced by an installed addon's package, a
// run's output file, or the spec of a run still queued or running (the
// addon files it was queued with). It returns the removed names.
func (s *Store) DeleteUnreferencedBlobs(ctx context.Context, grace time.Duration, limit int) ([]string, error) {
	var removed []string
	err := s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM berth_run_files WHERE NOT EXISTS (SELECT 1 FROM berth_runs r WHERE r.id = berth_run_files.run_id)`); err != nil {
			return err
		}
		var err error
		removed, err = queryAll(ctx, tx, func(r Rows) (string, error) {
			var h string
			return h, r.Scan(&h)
		}, `DELETE FROM berth_blobs WHERE hash IN (
			SELECT b.hash FROM berth_blobs b WHERE b.touched_ms < `+s.nowMS()+` - $1
				AND NOT EXISTS (SELECT 1 FROM berth_addons a WHERE a.package = b.hash)
				AND NOT EXISTS (SELECT 1 FROM berth_run_files f WHERE f.hash = b.hash)
				AND NOT EXISTS (SELECT 1 FROM berth_runs r WHERE r.state IN ('queued', 'running') AND r.spec LIKE '%' || b.hash || '%')
			ORDER BY b.touched_ms LIMIT $2)
			RETURNING hash`, grace.Milliseconds(), limit)
		if err != nil {
			return err
		}
		for _, h := range removed {
			if _, err := tx.Exec(ctx, `DELETE FROM berth_blob_chunks WHERE hash = $1`, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("removing unreferenced blobs: %w", err)
	}
	return removed, nil
}

// RunFile is an output file of a run, stored as a blob.
type RunFile struct {
	// Path is relative to the run's output directory, with slashes.
	Path string
	Hash string
	Size int64
}

// PutRunFiles records the output files of run id, replacing any an
// earlier attempt recorded.
func (s *Store) PutRunFiles(ctx context.Context, q Querier, id string, files []RunFile) error {
	write := func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM berth_run_files WHERE run_id = $1`, id); err != nil {
			return err
		}
		for _, f := range files {
			if _, err := q.Exec(ctx, `INSERT INTO berth_run_files (run_id, path, hash, size) VALUES ($1, $2, $3, $4)`, id, f.Path, f.Hash, f.Size); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if q != nil {
		err = write(q)
	} else {
		err = s.db.InTx(ctx, func(tx *Tx) error { return write(tx) })
	}
	if err != nil {
		return fmt.Errorf("recording the output files of run %s: %w", id, err)
	}
	return nil
}

// RunFiles returns the recorded output files of run id, by path.
func (s *Store) RunFiles(ctx context.Context, q Querier, id string) ([]RunFile, error) {
	return queryAll(ctx, s.q(q), scanRunFile, `SELECT path, hash, size FROM berth_run_files WHERE run_id = $1 ORDER BY path`, id)
}

// GetRunFile returns the output file path of run id.
func (s *Store) GetRunFile(ctx context.Context, q Querier, id, path string) (RunFile, error) {
	fs, err := queryAll(ctx, s.q(q), scanRunFile, `SELECT path, hash, size FROM berth_run_files WHERE run_id = $1 AND path = $2`, id, path)
	if err != nil {
		return RunFile{}, err
	}
	if len(fs) == 0 {
		return RunFile{}, fmt.Errorf("run %s: output file %q: %w", id, path, ErrNotFound)
	}
	return fs[0], nil
}

func scanRunFile(r Rows) (RunFile, error) {
	var f RunFile
	return f, r.Scan(&f.Path, &f.Hash, &f.Size)
}

// SetAddonPackage records the package blob of an addon that has none
// (one installed before addons were stored as blobs); it reports whether
// it did.
func (s *Store) SetAddonPackage(ctx context.Context, q Querier, id, pkg string) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_addons SET package = $2 WHERE id = $1 AND package = ''`, id, pkg)
	return n == 1, err
}

// ReplaceRunSpec sets the spec of run id to spec if it is still old (a
// start-up step adds the package blobs to the specs of runs queued
// before the upgrade); it reports whether it did.
func (s *Store) ReplaceRunSpec(ctx context.Context, q Querier, id string, old, spec []byte) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET spec = $3 WHERE id = $1 AND spec = $2`, id, string(old), string(spec))
	return n == 1, err
}
