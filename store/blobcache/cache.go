package blobcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Source is where the cache fetches a blob it does not hold: the shared
// database (store.Store's OpenBlob).
type Source interface {
	OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error)
}

// Cache is a node's local cache of blobs under one directory: files/
// holds blobs as files, trees/ holds tree archives unpacked. It is safe
// for concurrent use; one process uses a directory (the node's data dir).
type Cache struct {
	dir string
	src Source
	max int64
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // "files/<hash>" or "trees/<hash>"
	total   int64
	fetches int64
}

type entry struct {
	size    int64
	used    time.Time
	pins    int
	ready   chan struct{} // closed once fetched (or failed)
	err     error
	removed bool
}

// New opens the cache in dir (made if missing), fetching from src and
// keeping at most maxBytes (0: no bound) of entries not in use. Entries
// left by an earlier process are kept; half-written ones are removed.
func New(dir string, src Source, maxBytes int64, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{dir: dir, src: src, max: maxBytes, log: log, entries: map[string]*entry{}}
	for _, kind := range []string{"files", "trees", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, kind), 0o700); err != nil {
			return nil, fmt.Errorf("creating the blob cache: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	for _, kind := range []string{"files", "trees"} {
		des, err := os.ReadDir(filepath.Join(dir, kind))
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if !validHash(de.Name()) {
				continue
			}
			p := filepath.Join(dir, kind, de.Name())
			size, mtime := diskUsage(p)
			done := make(chan struct{})
			close(done)
			c.entries[kind+"/"+de.Name()] = &entry{size: size, used: mtime, ready: done}
			c.total += size
		}
	}
	return c, nil
}

// Fetches counts the blobs fetched from the source since New.
func (c *Cache) Fetches() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// Size is the bytes the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ErrBadHash is returned for a name that is not a hex SHA-256.
var ErrBadHash = errors.New("not a blob name (hex SHA-256)")

// File returns the path of a file holding blob hash, fetching it if the
// cache does not hold it, and a release function to call once the file
// is no longer read: until then it is not removed.
func (c *Cache) File(ctx context.Context, hash string) (string, func(), error) {
	return c.get(ctx, "files", hash, func(tmp string) (int64, error) {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return 0, err
		}
		n, err := c.copyVerified(ctx, f, hash)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return n, err
	})
}

// Tree returns the directory holding the tree archive blob hash
// unpacked (see ExtractTree), fetching and unpacking it if the cache
// does not hold it, and a release function: until it is called the
// directory is not removed. Do not change what is in the directory.
func (c *Cache) Tree(ctx context.Context, hash string) (string, func(), error) {
	return c.get(ctx, "trees", hash, func(tmp string) (int64, error) {
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return 0, err
		}
		pr, pw := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, err := c.copyVerified(ctx, pw, hash)
			pw.CloseWithError(err)
			errc <- err
		}()
		err := ExtractTree(pr, tmp)
		// Read to the end: the hash is checked only there.
		if err == nil {
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(errors.New("unpacking stopped"))
		if ferr := <-errc; ferr != nil {
			err = ferr
		}
		if err != nil {
			return 0, err
		}
		size, _ := diskUsage(tmp)
		return size, nil
	})
}

// copyVerified copies blob hash from the source to w and fails when
// what arrived does not have that hash.
func (c *Cache) copyVerified(ctx context.Context, w io.Writer, hash string) (int64, error) {
	r, err := c.src.OpenBlob(ctx, hash)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return n, fmt.Errorf("fetching blob %s: %w", hash, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return n, fmt.Errorf("fetching blob %s: the source sent content with hash %s", hash, got)
	}
	return n, nil
}

// get returns kind/hash, making it with fill (into a temporary path that
// is renamed into place) once, however many callers ask at once.
func (c *Cache) get(ctx context.Context, kind, hash string, fill func(tmp string) (int64, error)) (string, func(), error) {
	if !validHash(hash) {
		return "", nil, fmt.Errorf("%q: %w", hash, ErrBadHash)
	}
	key := kind + "/" + hash
	final := filepath.Join(c.dir, kind, hash)
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if !ok {
			e = &entry{ready: make(chan struct{}), pins: 1, used: time.Now()}
			c.entries[key] = e
			c.fetches++
			c.mu.Unlock()
			tmp := filepath.Join(c.dir, "tmp", hash+"-"+kind+fmt.Sprint(time.Now().UnixNano()))
			size, err := fill(tmp)
			if err == nil {
				err = os.Rename(tmp, final)
			}
			if err != nil {
				os.RemoveAll(tmp)
			}
			c.mu.Lock()
			e.err, e.size = err, size
			if err != nil {
				delete(c.entries, key)
			} else {
				c.total += size
			}
			close(e.ready)
			c.mu.Unlock()
			if err != nil {
				return "", nil, err
			}
			c.evict()
			return final, c.release(e), nil
		}
		e.pins++
		e.used = time.Now()
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.release(e)()
			return "", nil, ctx.Err()
		}
		if e.err != nil {
			c.release(e)()
			continue // the first fetch failed: try again
		}
		_ = os.Chtimes(final, time.Now(), time.Now())
		return final, c.release(e), nil
	}
}

func (c *Cache) release(e *entry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			e.pins--
			e.used = time.Now()
			c.mu.Unlock()
		})
	}
}

// Seed puts the file or tree at src, which the caller made and will not
// touch again, into the cache as blob hash of kind "files" or "trees"
// (the node that stored a blob needs not fetch it back). It is moved
// when it can be, else copied; an entry the cache holds already wins.
func (c *Cache) Seed(kind, hash, src string) error {
	if kind != "files" && kind != "trees" {
		return fmt.Errorf("blobcache: unknown kind %q", kind)
	}
	if !validHash(hash) {
		return fmt.Errorf("%q: %w", hash, ErrBadHash)
	}
	key := kind + "/" + hash
	c.mu.Lock()
	if _, ok := c.entries[key]; ok {
		c.mu.Unlock()
		return nil
	}
	e := &entry{ready: make(chan struct{}), used: time.Now()}
	c.entries[key] = e
	c.mu.Unlock()
	final := filepath.Join(c.dir, kind, hash)
	err := os.Rename(src, final)
	if err != nil {
		err = copyAny(src, filepath.Join(c.dir, "tmp", hash+"-seed"), final)
	}
	size, _ := diskUsage(final)
	c.mu.Lock()
	if err != nil {
		delete(c.entries, key)
	} else {
		e.size = size
		c.total += size
	}
	e.err = err
	close(e.ready)
	c.mu.Unlock()
	c.evict()
	return err
}

func copyAny(src, tmp, final string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		err = os.CopyFS(tmp, os.DirFS(src))
	} else {
		var in, out *os.File
		if in, err = os.Open(src); err == nil {
			defer in.Close()
			if out, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				_, err = io.Copy(out, in)
				if cerr := out.Close(); err == nil {
					err = cerr
				}
			}
		}
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

// evict removes the least recently used entries not in use while the
// cache holds more than its bound.
func (c *Cache) evict() {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total <= c.max {
		return
	}
	type cand struct {
		key string
		e   *entry
	}
	var cs []cand
	for k, e := range c.entries {
		select {
		case <-e.ready:
		default:
			continue
		}
		if e.pins == 0 {
			cs = append(cs, cand{k, e})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].e.used.Before(cs[j].e.used) })
	for _, x := range cs {
		if c.total <= c.max {
			break
		}
		// Moved aside first, so that no reader sees half a tree.
		gone := filepath.Join(c.dir, "tmp", filepath.Base(x.key)+"-gone"+fmt.Sprint(time.Now().UnixNano()))
		if err := os.Rename(filepath.Join(c.dir, filepath.FromSlash(x.key)), gone); err != nil {
			c.log.Warn("removing a cached blob", "blob", x.key, "err", err)
			continue
		}
		delete(c.entries, x.key)
		c.total -= x.e.size
		go os.RemoveAll(gone)
	}
}

// diskUsage is the bytes of the regular files at p (a file or a tree)
// and p's modification time.
func diskUsage(p string) (int64, time.Time) {
	var size int64
	var mtime time.Time
	if fi, err := os.Lstat(p); err == nil {
		mtime = fi.ModTime()
	}
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size, mtime
}
