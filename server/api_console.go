package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/store"
)

// The endpoints the operator console and `berth configs` need besides
// the plain CRUD ones: enable/disable, re-run, a schedule's next
// firings, runs on an item with files, and the runs list's filters.

// runInput is a run's input as GET /v1/runs/{id} shows it.
type runInput struct {
	Item      json.RawMessage `json:"item,omitempty"`
	ItemArgs  json.RawMessage `json:"itemArgs,omitempty"`
	Pdfs      []inputFile     `json:"pdfs,omitempty"`
	Originals []inputFile     `json:"originals,omitempty"`
}

// inputFile is an item's file by attachment id and name (its path on
// the server is not the host's business).
type inputFile struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

func viewInput(sp runSpec) *runInput {
	in := &runInput{Item: sp.Item, ItemArgs: sp.ItemArgs}
	for _, x := range []struct {
		from []executor.ItemFile
		to   *[]inputFile
	}{{sp.Pdfs, &in.Pdfs}, {sp.Originals, &in.Originals}} {
		for _, f := range x.from {
			*x.to = append(*x.to, inputFile{ID: f.ID, Name: cmpOr(f.Name, path.Base(f.Path))})
		}
	}
	if in.Item == nil && in.ItemArgs == nil && in.Pdfs == nil && in.Originals == nil {
		return nil
	}
	return in
}

// readRunForm reads a multipart POST /v1/runs: the run request (the JSON
// body's shape) in part "run", the item's files in parts "original" and
// "pdf", described by the request's "files" as an event's are.
func (s *Server) readRunForm(w http.ResponseWriter, r *http.Request, params map[string]string) (runRequest, *itemInput, string, error) {
	var req runRequest
	s.extendToTransfer(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.set.MaxBody))
	dir, up, err := s.readItemForm(r, params, "run", func(part io.Reader) error { return decodeJSONFrom(part, &req) })
	if err != nil {
		return req, nil, dir, err
	}
	ev := eventRequest{Files: req.Files}
	pdfs, originals, err := ev.itemFiles(up)
	if err != nil {
		return req, nil, dir, err
	}
	item := &itemInput{Data: req.Item, Args: req.ItemArgs, InputDir: dir, Pdfs: pdfs, Originals: originals, Env: req.Env}
	return req, item, dir, nil
}

// runListFilters reads GET /v1/runs's trigger, addon, since and until.
func runListFilters(q url.Values, f *store.RunFilter) error {
	f.Trigger = q.Get("trigger")
	if f.AddonID = q.Get("addon"); f.AddonID != "" && !validID(f.AddonID) {
		return errf(http.StatusBadRequest, codeInvalid, "addon: %q is not an addon id", f.AddonID)
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errf(http.StatusBadRequest, codeInvalid, "%s: want an RFC 3339 time (2026-12-02T15:04:05Z), got %q", b.name, v)
		}
		*b.dst = t
	}
	return nil
}

// setConfigEnabled is POST /v1/run-configs/{id}/enable and /disable.
func (s *Server) setConfigEnabled(enabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rc, err := s.st.GetRunConfig(r.Context(), nil, r.PathValue("id"))
		if err != nil {
			return err
		}
		c, err := decodeConfig(rc)
		if err != nil {
			return err
		}
		if c.Enabled != enabled {
			c.Enabled = enabled
			if c, err = s.saveConfig(r.Context(), c, rc.Created); err != nil {
				return err
			}
			s.log.Info("run configuration changed", "config", c.ID, "enabled", enabled)
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	}
}

// rerunRun is POST /v1/runs/{id}/rerun: a new run of the same
// configuration (or ad hoc chain), with the same trigger, item data,
// files, own variables and webhook, with the addons as installed now.
func (s *Server) rerunRun(w http.ResponseWriter, r *http.Request) error {
	old, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	var sp runSpec
	if err := json.Unmarshal(old.Spec, &sp); err != nil {
		return errf(http.StatusConflict, codeConflict, "run %s cannot be run again: its stored inputs do not decode: %v", old.ID, err)
	}
	addons := make([]configAddon, 0, len(sp.Steps))
	for _, st := range sp.Steps {
		addons = append(addons, configAddon{AddonID: st.AddonID, Args: st.Args})
	}
	var item *itemInput
	if sp.Item != nil || sp.ItemArgs != nil || sp.InputDir != "" || sp.SealedEnv != "" {
		env, err := s.openEnv(old.ID, sp.SealedEnv)
		if err != nil {
			return errf(http.StatusConflict, codeConflict, "run %s cannot be run again: %v", old.ID, err)
		}
		item = &itemInput{Data: sp.Item, Args: sp.ItemArgs, InputDir: sp.InputDir, Pdfs: sp.Pdfs, Originals: sp.Originals, Env: env, blobs: sp.InputBlobs}
	}
	run, err := s.enqueue(r.Context(), newID("run_"), old.ConfigID, old.Trigger, addons, sp.Webhook, item)
	if err != nil {
		return err
	}
	s.log.Info("run queued again", "run", run.ID, "of", old.ID)
	w.Header().Set("Location", "/v1/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, s.viewRun(run, false))
	return nil
}

// schedulePreview is GET /v1/schedule?expr=…&count=N: the next firings
// of a cron expression, as the scheduler computes them.
func (s *Server) schedulePreview(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	expr := q.Get("expr")
	if expr == "" {
		return errf(http.StatusBadRequest, codeInvalid, "expr: give a cron expression (minute hour day-of-month month day-of-week, or @every 1h, @daily)")
	}
	count := 5
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errf(http.StatusBadRequest, codeInvalid, "count: want a number from 1 to 100")
		}
		count = n
	}
	from := s.now()
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errf(http.StatusBadRequest, codeInvalid, "from: want an RFC 3339 time")
		}
		from = t
	}
	sched, err := parseSchedule(expr)
	if err != nil {
		return errf(http.StatusUnprocessableEntity, codeInvalid, "expr: %q is not a cron expression (minute hour day-of-month month day-of-week, or @every 1h): %v", expr, err)
	}
	next := []time.Time{}
	for t := sched.Next(from); !t.IsZero() && len(next) < count; t = sched.Next(t) {
		next = append(next, t.UTC())
	}
	if len(next) == 0 {
		return errf(http.StatusUnprocessableEntity, codeInvalid, "expr: %q never fires (no such date within five years)", expr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"expr": expr, "from": from.UTC(), "next": next})
	return nil
}
