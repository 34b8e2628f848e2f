package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/outbound"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/store"
)

// addonView is an installed addon as the API shows it.
type addonView struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Description   string    `json:"description,omitempty"`
	Source        string    `json:"source"`
	Hash          string    `json:"hash"`
	Triggers      []string  `json:"triggers"`
	Runners       []string  `json:"runners"`
	Usable        []string  `json:"usableRunners"`
	Pure          bool      `json:"pure"`
	Networking    bool      `json:"networking"`
	CollectOutput bool      `json:"collectOutput"`
	InstalledAt   time.Time `json:"installedAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// addonInfo is what is stored in store.Addon.Info.
type addonInfo struct {
	Description   string   `json:"description,omitempty"`
	Triggers      []string `json:"triggers"`
	Runners       []string `json:"runners"`
	Usable        []string `json:"usableRunners"`
	Networking    bool     `json:"networking"`
	CollectOutput bool     `json:"collectOutput"`
}

func viewAddon(a store.Addon) addonView {
	var info addonInfo
	_ = json.Unmarshal(a.Info, &info)
	return addonView{
		ID: a.ID, Name: a.Name, Version: a.Version, Description: info.Description, Source: addon.DisplaySource(a.Source), Hash: a.Hash,
		Triggers: nonNil(info.Triggers), Runners: nonNil(info.Runners), Usable: nonNil(info.Usable), Pure: a.Pure,
		Networking: info.Networking, CollectOutput: info.CollectOutput, InstalledAt: a.Created, UpdatedAt: a.Updated,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// installRequest is the JSON body of POST and PUT /v1/addons.
type installRequest struct {
	URL  string `json:"url,omitempty"`
	Path string `json:"path,omitempty"`
}

// source is where an addon is fetched from: a URL, a path, or an
// uploaded zip saved in a temporary file.
type source struct {
	display string // stored as the addon's source
	fetch   string // what addon.Fetch gets
	cleanup func()
}

// readSource reads the body of an install or update: JSON with url or
// path, or a multipart form whose "file" part is a zip. A nil source with
// no error means an empty body.
func (s *Server) readSource(w http.ResponseWriter, r *http.Request) (*source, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.set.MaxBody))
		mr, err := multipartReader(r, params)
		if err != nil {
			return nil, err
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, errf(http.StatusBadRequest, codeBadRequest, `the form has no "file" part holding the addon zip`)
			}
			if err != nil {
				return nil, bodyError(err)
			}
			if part.FormName() != "file" {
				continue
			}
			f, err := os.CreateTemp(s.tmpDir(), "upload-*.zip")
			if err != nil {
				return nil, err
			}
			cleanup := func() { os.Remove(f.Name()) }
			_, err = io.Copy(f, part)
			f.Close()
			if err != nil {
				cleanup()
				return nil, bodyError(err)
			}
			return &source{display: "upload", fetch: f.Name(), cleanup: cleanup}, nil
		}
	case r.ContentLength == 0 && (mt == "" || mt == "application/json"):
		// HTTP libraries often label even an empty body JSON.
		return nil, nil
	}
	var req installRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return nil, err
	}
	switch {
	case req.URL != "" && req.Path != "":
		return nil, errf(http.StatusBadRequest, codeInvalid, "give url or path, not both")
	case req.URL != "":
		if err := s.checkURL(r.Context(), req.URL); err != nil {
			return nil, err
		}
		return &source{display: req.URL, fetch: req.URL, cleanup: func() {}}, nil
	case req.Path != "":
		if !s.set.AllowPath {
			return nil, errf(http.StatusForbidden, codeForbidden, "installing from a path on the server is disabled (serve.allow-path)")
		}
		if !filepath.IsAbs(req.Path) {
			return nil, errf(http.StatusBadRequest, codeInvalid, "path %q must be absolute", req.Path)
		}
		return &source{display: req.Path, fetch: req.Path, cleanup: func() {}}, nil
	}
	return nil, errf(http.StatusBadRequest, codeInvalid, `give "url" (a zip URL), "path" (a directory on the server) or upload a zip as the multipart part "file"`)
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return errf(http.StatusBadRequest, codeBadRequest, "reading the request body: %v", err)
}

// checkURL applies the outbound policy (url-allow, url-deny and the
// address rules) to an addon URL before it is fetched; Fetch checks
// every redirect and connection again.
func (s *Server) checkURL(ctx context.Context, u string) error {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return errf(http.StatusBadRequest, codeInvalid, "url %q: only http and https URLs are fetched", addon.DisplaySource(u))
	}
	if err := s.outbound.Check(ctx, u); err != nil {
		return errf(http.StatusForbidden, codeForbidden, "url %v", err)
	}
	return nil
}

// fetchAddon fetches and validates an addon and stores its files as a
// package blob in the shared database; it returns the record to store
// (without times).
func (s *Server) fetchAddon(ctx context.Context, src *source, id string) (store.Addon, error) {
	dir, cleanup, err := addon.Fetch(ctx, src.fetch, s.tmpDir(), berth.UnpackLimits(s.cfg), s.outbound)
	if errors.Is(err, outbound.ErrDenied) {
		return store.Addon{}, errf(http.StatusForbidden, codeForbidden, "%v", err)
	}
	if err != nil {
		return store.Addon{}, errf(http.StatusUnprocessableEntity, codeAddonInvalid, "%v", err)
	}
	defer cleanup()
	rec, err := s.check(ctx, src, dir)
	if err != nil {
		return rec, err
	}
	rec.ID = id
	return rec, s.storePackage(ctx, &rec, dir)
}

// check validates the addon in dir as `berth addon check` does and makes
// sure this node can run it.
func (s *Server) check(ctx context.Context, src *source, dir string) (store.Addon, error) {
	a, err := addon.Load(dir)
	if err != nil {
		return store.Addon{}, errf(http.StatusUnprocessableEntity, codeAddonInvalid, "%v", err)
	}
	if !a.Options.Networking && !a.Options.CollectOutput {
		return store.Addon{}, errf(http.StatusUnprocessableEntity, codeAddonInvalid, "%s: options: networking false and collectOutput false together can do nothing useful", filepath.Base(a.File))
	}
	if !a.Pure() && !s.set.AllowImpure {
		return store.Addon{}, errf(http.StatusForbidden, codeForbidden, "%s is impure (networking or no collected output) and serve.allow-impure is false", a.ID())
	}
	usable, err := runner.Select(ctx, a, s.cfg.Runners, s.runners)
	if err != nil {
		return store.Addon{}, errf(http.StatusUnprocessableEntity, codeNoRunner, "%v", err)
	}
	hash, err := addon.ContentHash(dir)
	if err != nil {
		return store.Addon{}, err
	}
	info := addonInfo{Description: strings.TrimSpace(a.Meta.Description), Runners: a.Runners(), Networking: a.Options.Networking, CollectOutput: a.Options.CollectOutput}
	for _, t := range a.Triggers {
		info.Triggers = append(info.Triggers, string(t))
	}
	for _, r := range usable {
		info.Usable = append(info.Usable, r.Name())
	}
	infoJSON, _ := json.Marshal(info)
	return store.Addon{Name: a.Meta.Name, Version: a.Meta.Version, Source: src.display, Hash: hash, Pure: a.Pure(), Info: infoJSON, Dir: dir}, nil
}

func (s *Server) installAddon(w http.ResponseWriter, r *http.Request) error {
	src, err := s.readSource(w, r)
	if err != nil {
		return err
	}
	if src == nil {
		return errf(http.StatusBadRequest, codeInvalid, `give "url", "path" or upload a zip`)
	}
	defer src.cleanup()
	id := newID("ad_")
	rec, err := s.fetchAddon(r.Context(), src, id)
	if err != nil {
		return err
	}
	existing, err := s.st.ListAddons(r.Context(), nil)
	if err != nil {
		return err
	}
	for _, e := range existing {
		if e.Name == rec.Name && e.Version == rec.Version {
			return errf(http.StatusConflict, codeConflict, "%s-%s is installed already as %s: update it with PUT /v1/addons/%s", rec.Name, rec.Version, e.ID, e.ID)
		}
	}
	// As stored (milliseconds), so that this answer and a later GET agree.
	rec.Created = time.Now().UTC().Truncate(time.Millisecond)
	rec.Updated = rec.Created
	if err := s.st.PutAddon(r.Context(), nil, rec); err != nil {
		return err
	}
	s.log.Info("addon installed", "addon", rec.Name+"-"+rec.Version, "id", rec.ID, "source", addon.DisplaySource(rec.Source))
	writeJSON(w, http.StatusCreated, viewAddon(rec))
	return nil
}

// updateAddon fetches the addon again, from the body's source or the
// stored one. Unlike Docspell, a changed zip is stored even when name and
// version did not change: the content hash decides.
func (s *Server) updateAddon(w http.ResponseWriter, r *http.Request) error {
	old, err := s.st.GetAddon(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	src, err := s.readSource(w, r)
	if err != nil {
		return err
	}
	if src == nil {
		if old.Source == "upload" {
			return errf(http.StatusBadRequest, codeInvalid, "addon %s was uploaded: upload the new zip", old.ID)
		}
		src = &source{display: old.Source, fetch: old.Source, cleanup: func() {}}
		if strings.HasPrefix(old.Source, "http") {
			if err := s.checkURL(r.Context(), old.Source); err != nil {
				return err
			}
		}
	}
	defer src.cleanup()
	rec, err := s.fetchAddon(r.Context(), src, old.ID)
	if err != nil {
		return err
	}
	rec.Created, rec.Updated = old.Created, time.Now().UTC().Truncate(time.Millisecond)
	if err := s.st.PutAddon(r.Context(), nil, rec); err != nil {
		return err
	}
	if old.Package != "" && old.Package != rec.Package {
		// A run being planned from the old record may not be stored
		// yet: the old package lives another blob-grace.
		if _, err := s.st.TouchBlob(r.Context(), nil, old.Package); err != nil {
			s.log.Warn("keeping the addon's previous package", "addon", old.ID, "err", err)
		}
	}
	s.log.Info("addon updated", "addon", rec.Name+"-"+rec.Version, "id", rec.ID, "changed", rec.Hash != old.Hash)
	writeJSON(w, http.StatusOK, viewAddon(rec))
	return nil
}

func (s *Server) listAddons(w http.ResponseWriter, r *http.Request) error {
	as, err := s.st.ListAddons(r.Context(), nil)
	if err != nil {
		return err
	}
	out := make([]addonView, 0, len(as))
	for _, a := range as {
		out = append(out, viewAddon(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"addons": out})
	return nil
}

func (s *Server) getAddon(w http.ResponseWriter, r *http.Request) error {
	a, err := s.st.GetAddon(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAddon(a))
	return nil
}

// deleteAddon removes an addon no run configuration uses. Its package
// blob stays while a queued or running run needs it; then the blob
// sweep removes it (blob-grace after it was last stored).
func (s *Server) deleteAddon(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.st.GetAddon(r.Context(), nil, id); err != nil {
		return err
	}
	users, err := s.st.ConfigsUsingAddon(r.Context(), nil, id)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return errf(http.StatusConflict, codeAddonInUse, "addon %s is used by run configurations %s: remove it from them first", id, strings.Join(users, ", "))
	}
	if err := s.st.DeleteAddon(r.Context(), nil, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
