package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/blobcache"
)

// Addon packages and run output files live as blobs in the database the
// nodes share (store.PutBlob); each node keeps what it fetched in its
// blob cache (data-dir/blob-cache). Nothing a run needs is in another
// node's data dir.

func (s *Server) blobCacheDir() string { return filepath.Join(s.dataDir, "blob-cache") }

// putTree stores the files under dir as one package blob and returns
// its hash. The archive is written to a temporary file first: PutBlob
// reads it twice, and never whole into memory.
func (s *Server) putTree(ctx context.Context, dir string) (string, error) {
	f, err := os.CreateTemp(s.tmpDir(), "package-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := blobcache.WriteTree(f, dir); err != nil {
		return "", fmt.Errorf("packing the addon files: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return "", err
	}
	b, err := s.st.PutBlob(ctx, f, int64(s.set.BlobMaxSize))
	if err != nil {
		return "", fmt.Errorf("storing the addon package: %w", err)
	}
	return b.Hash, nil
}

// storePackage stores the fetched addon in dir as its package blob and
// seeds this node's cache with a copy, so that the installing node does
// not fetch it back.
func (s *Server) storePackage(ctx context.Context, rec *store.Addon, dir string) error {
	hash, err := s.putTree(ctx, dir)
	if errors.Is(err, store.ErrBlobTooLarge) {
		return errf(http.StatusRequestEntityTooLarge, codeAddonInvalid, "addon %s-%s: %v", rec.Name, rec.Version, err)
	}
	if err != nil {
		return err
	}
	rec.Package, rec.Dir = hash, ""
	tmp := filepath.Join(s.tmpDir(), "seed-"+randomID(6))
	if err := addon.CopyDir(dir, tmp); err == nil {
		err = s.blobs.Seed("trees", hash, tmp)
		if err != nil {
			s.log.Warn("keeping the installed addon in the blob cache", "addon", rec.ID, "err", err)
		}
	}
	os.RemoveAll(tmp)
	return nil
}

// stepDir returns the directory holding the files of a run's step on
// this node, and a function to call once the run no longer reads them.
// A step queued before packages were blobs names the directory of the
// node that installed it.
func (s *Server) stepDir(ctx context.Context, st specStep) (string, func(), error) {
	if st.Package != "" {
		dir, release, err := s.blobs.Tree(ctx, st.Package)
		if err != nil {
			return "", nil, fmt.Errorf("fetching the addon package %s: %w", st.Package, err)
		}
		return dir, release, nil
	}
	if _, err := os.Stat(st.Dir); err != nil {
		return "", nil, fmt.Errorf("an earlier berth kept the addon's files in the data dir of the node that installed it (%s), and they are not in the database yet: start that node with this version of berth, which stores them there: %w", st.Dir, err)
	}
	return st.Dir, func() {}, nil
}

// storeOutputs stores the output files of a succeeded attempt as blobs
// and records them with the run, then moves the local copies into this
// node's blob cache. A file over blob-max-size fails the attempt.
func (s *Server) storeOutputs(ctx context.Context, runID string, res *executor.Result) error {
	if res == nil || res.Kind != executor.Success {
		return nil
	}
	dir := filepath.Join(s.runsDir(), runID, "output")
	files, err := s.putFiles(ctx, dir, res.OutputFiles, true)
	if err != nil {
		return err
	}
	// Only a succeeded attempt stores files, and a succeeded run has no
	// next attempt: with none there is nothing to record or replace.
	if len(files) > 0 {
		if err := s.st.PutRunFiles(ctx, nil, runID, files); err != nil {
			return err
		}
	}
	os.RemoveAll(filepath.Join(s.runsDir(), runID))
	return nil
}

// putFiles stores the named files under dir as blobs; seed moves each
// into the blob cache afterwards.
func (s *Server) putFiles(ctx context.Context, dir string, names []string, seed bool) ([]store.RunFile, error) {
	if len(names) == 0 {
		return nil, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("output files: %w", err)
	}
	defer root.Close()
	var files []store.RunFile
	for _, name := range names {
		f, err := root.Open(filepath.FromSlash(name))
		if err != nil {
			return nil, fmt.Errorf("output file %s: %w", name, err)
		}
		b, err := s.st.PutBlob(ctx, f, int64(s.set.BlobMaxSize))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("storing output file %s: %w", name, err)
		}
		files = append(files, store.RunFile{Path: name, Hash: b.Hash, Size: b.Size})
		if seed {
			if err := s.blobs.Seed("files", b.Hash, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				s.log.Warn("keeping an output file in the blob cache", "run", filepath.Base(filepath.Dir(dir)), "err", err)
			}
		}
	}
	return files, nil
}

// sweepBlobs removes the blobs nothing references any more, older than
// blob-grace: old packages of updated or deleted addons, files of runs
// that retention removed.
func (s *Server) sweepBlobs(ctx context.Context) error {
	for {
		removed, err := s.st.DeleteUnreferencedBlobs(ctx, s.set.BlobGrace.Std(), 1000)
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			s.log.Info("removed blobs nothing references", "count", len(removed))
		}
		if len(removed) < 1000 {
			return nil
		}
	}
}

// importLocal is the upgrade from the berth that kept addon files and
// output files in each node's data dir: at every start it stores as
// blobs what this node's data dir holds and the database does not yet
// have — the files of addons installed here (addons/<id>/<hash>), the
// addon files of runs still queued or running that were queued with
// them, and the output files of this node's runs (runs/<id>/output).
// It changes only records that still lack their blobs, so nodes
// starting at once, or a start interrupted midway, do no harm; the
// local files are left where they are.
func (s *Server) importLocal(ctx context.Context) error {
	packed := map[string]string{} // dir -> package
	pack := func(dir string) (string, bool, error) {
		if h, ok := packed[dir]; ok {
			return h, true, nil
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", false, nil
		}
		h, err := s.putTree(ctx, dir)
		if err != nil {
			return "", false, fmt.Errorf("%s: %w", dir, err)
		}
		packed[dir] = h
		return h, true, nil
	}
	addons, err := s.st.ListAddons(ctx, nil)
	if err != nil {
		return err
	}
	for _, a := range addons {
		if a.Package != "" || a.Dir == "" {
			continue
		}
		h, ok, err := pack(a.Dir)
		if err != nil {
			return fmt.Errorf("importing addon %s: %w", a.ID, err)
		}
		if !ok {
			s.log.Warn("an addon's files are not in this node's data dir: the node that installed it stores them when it starts this version", "addon", a.ID, "dir", a.Dir)
			continue
		}
		if _, err := s.st.SetAddonPackage(ctx, nil, a.ID, h); err != nil {
			return err
		}
		s.log.Info("imported an addon's files into the database", "addon", a.ID, "package", h)
	}
	for _, state := range []string{store.Queued, store.Running} {
		f := store.RunFilter{State: state, Limit: 1000}
		for {
			runs, err := s.st.ListRuns(ctx, nil, f)
			if err != nil {
				return err
			}
			for _, r := range runs {
				if err := s.importSpec(ctx, r, pack); err != nil {
					return err
				}
			}
			if len(runs) < f.Limit {
				break
			}
			c := store.CursorOf(runs[len(runs)-1])
			f.After = &c
		}
	}
	return s.importOutputs(ctx)
}

// importSpec adds the packages to the steps of a run queued with addon
// directories that this node holds.
func (s *Server) importSpec(ctx context.Context, r store.Run, pack func(string) (string, bool, error)) error {
	var sp runSpec
	if err := json.Unmarshal(r.Spec, &sp); err != nil {
		return nil
	}
	changed := false
	for i, st := range sp.Steps {
		if st.Package != "" || st.Dir == "" {
			continue
		}
		h, ok, err := pack(st.Dir)
		if err != nil {
			return fmt.Errorf("importing the addon files of run %s: %w", r.ID, err)
		}
		if ok {
			sp.Steps[i].Package, changed = h, true
		}
	}
	if !changed {
		return nil
	}
	spec, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	if _, err := s.st.ReplaceRunSpec(ctx, nil, r.ID, r.Spec, spec); err != nil {
		return err
	}
	s.log.Info("imported the addon files of a queued run into the database", "run", r.ID)
	return nil
}

// importedMarker, in runs/<id>/, says that the run's output files are
// in the database.
const importedMarker = "stored-in-database"

// importOutputs stores the output files of the succeeded runs in this
// node's runs/ whose files the database does not list yet.
func (s *Server) importOutputs(ctx context.Context) error {
	entries, err := os.ReadDir(s.runsDir())
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		dir := filepath.Join(s.runsDir(), e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, importedMarker)); err == nil {
			continue
		}
		r, err := s.st.GetRun(ctx, nil, e.Name())
		if errors.Is(err, store.ErrNotFound) {
			continue // retention's sweepFiles removes it
		}
		if err != nil {
			return err
		}
		if r.State != store.Succeeded {
			continue
		}
		var res executor.Result
		_ = json.Unmarshal(r.Result, &res)
		have, err := s.st.RunFiles(ctx, nil, r.ID)
		if err != nil {
			return err
		}
		if len(have) == 0 && len(res.OutputFiles) > 0 {
			files, err := s.putFiles(ctx, filepath.Join(dir, "output"), res.OutputFiles, false)
			if err != nil {
				return fmt.Errorf("importing the output files of run %s: %w", r.ID, err)
			}
			if err := s.st.PutRunFiles(ctx, nil, r.ID, files); err != nil {
				return err
			}
			n++
		}
		if err := os.WriteFile(filepath.Join(dir, importedMarker), nil, 0o600); err != nil {
			return err
		}
	}
	if n > 0 {
		s.log.Info("imported the output files of earlier runs into the database", "runs", n)
	}
	return nil
}

// inputBlobs stores the files under item's InputDir as blobs, once for
// all the runs of the item. Without InputDir on this node (a re-run on
// another node than the one that received the upload) the blobs the item
// came with are kept, if they still exist.
func (s *Server) inputBlobs(ctx context.Context, item *itemInput) (map[string]string, error) {
	if item.InputDir == "" {
		return nil, nil
	}
	if item.blobsDone {
		return item.blobs, item.blobsErr
	}
	item.blobsDone = true
	root, err := os.OpenRoot(item.InputDir)
	if err != nil {
		for rel, h := range item.blobs {
			if ok, err := s.st.TouchBlob(ctx, nil, h); err != nil || !ok {
				item.blobsErr = errf(http.StatusUnprocessableEntity, codeInvalid, "the item's file %s is no longer stored (%v)", rel, err)
				return nil, item.blobsErr
			}
		}
		return item.blobs, nil
	}
	defer root.Close()
	blobs := map[string]string{}
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := s.st.PutBlob(ctx, f, int64(s.set.BlobMaxSize))
		if errors.Is(err, store.ErrBlobTooLarge) {
			return errf(http.StatusRequestEntityTooLarge, codeTooLarge, "the item's file %s: %v", p, err)
		}
		if err != nil {
			return fmt.Errorf("storing the item's file %s: %w", p, err)
		}
		blobs[p] = b.Hash
		return nil
	})
	if err != nil {
		item.blobsErr = err
		return nil, err
	}
	item.blobs = blobs
	return blobs, nil
}

// inputDir returns the directory holding the item's files of a run: the
// one the upload went to when this node has it, else a copy made in the
// run's directory from the run's input blobs.
func (s *Server) inputDir(ctx context.Context, runID string, sp runSpec) (string, error) {
	if sp.InputDir == "" || len(sp.InputBlobs) == 0 {
		return sp.InputDir, nil
	}
	if fi, err := os.Stat(sp.InputDir); err == nil && fi.IsDir() {
		return sp.InputDir, nil
	}
	dir := filepath.Join(s.runsDir(), runID, "input")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	for rel, h := range sp.InputBlobs {
		if err := s.copyBlobTo(ctx, root, filepath.FromSlash(rel), h); err != nil {
			return "", fmt.Errorf("%s: %w", rel, err)
		}
	}
	return dir, nil
}

// copyBlobTo writes blob hash (through this node's cache) to name
// inside root.
func (s *Server) copyBlobTo(ctx context.Context, root *os.Root, name, hash string) error {
	p, release, err := s.blobs.File(ctx, hash)
	if err != nil {
		return err
	}
	defer release()
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
