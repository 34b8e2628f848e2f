package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/store"
)

// runView is a run as the API shows it.
type runView struct {
	ID          string           `json:"id"`
	ConfigID    string           `json:"configId,omitempty"`
	Trigger     string           `json:"trigger"`
	State       string           `json:"state"`
	Attempts    int              `json:"attempts"`
	MaxAttempts int              `json:"maxAttempts"`
	Pure        bool             `json:"pure"`
	Addons      []runAddon       `json:"addons"`
	Error       string           `json:"error,omitempty"`
	Result      *executor.Result `json:"result,omitempty"`
	// Output is the combined output, only for a succeeded run, and only
	// up to maxInlineOutput bytes and not in lists: OutputSize says how
	// big it is, GET /v1/runs/{id}/output has it whole.
	Output      any      `json:"output,omitempty"`
	OutputSize  int64    `json:"outputSize,omitempty"`
	OutputFiles []string `json:"outputFiles,omitempty"`
	Logs        *runLogs `json:"logs,omitempty"`
	// Input is what the run was given (item data, arguments, the names
	// of its files; never its own variables), in GET /v1/runs/{id} only.
	Input      *runInput  `json:"input,omitempty"`
	Node       string     `json:"node,omitempty"`
	Webhook    string     `json:"webhookState,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

type runAddon struct {
	AddonID string `json:"addonId"`
	Name    string `json:"name"`
	Args    string `json:"args"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) viewRun(r store.Run, withLogs bool) runView {
	v := runView{
		ID: r.ID, ConfigID: r.ConfigID, Trigger: r.Trigger, State: r.State, Attempts: r.Attempts, MaxAttempts: r.MaxAttempts,
		Pure: r.Pure, Error: r.Error, Node: r.Node, Webhook: r.WebhookState, CreatedAt: r.Created,
		StartedAt: timePtr(r.Started), FinishedAt: timePtr(r.Finished), Addons: []runAddon{},
	}
	if r.State == store.Succeeded {
		v.OutputSize = r.OutputSize
	}
	var sp runSpec
	_ = json.Unmarshal(r.Spec, &sp)
	for _, st := range sp.Steps {
		v.Addons = append(v.Addons, runAddon{AddonID: st.AddonID, Name: st.Name, Args: st.Args})
	}
	if len(r.Result) > 0 {
		var res executor.Result
		if json.Unmarshal(r.Result, &res) == nil {
			res.OutputDir = "" // a path on the server, not the host's business
			if r.State == store.Succeeded {
				if res.Output != nil {
					// A record of an older berth, with the output inside.
					v.Output = res.Output
				}
				v.OutputFiles = res.OutputFiles
			} else {
				// Only a succeeded run has an effect: no output of a
				// failed or cancelled one, not even of the addons of its
				// chain that succeeded, nor of a chain that succeeded
				// after the run was cancelled.
				res.Output, res.OutputFiles = nil, nil
				for i := range res.Addons {
					res.Addons[i].Output = nil
				}
			}
			v.Result = &res
		}
	}
	if withLogs {
		v.Input = viewInput(sp)
	}
	if withLogs && len(r.Logs) > 0 {
		var l runLogs
		if json.Unmarshal(r.Logs, &l) == nil {
			v.Logs = &l
		}
	}
	return v
}

// runRequest is the body of POST /v1/runs: a configuration by id, or an
// ad hoc chain (addonId+args, or addons), with optional item data.
type runRequest struct {
	ConfigID string          `json:"configId,omitempty"`
	AddonID  string          `json:"addonId,omitempty"`
	Args     string          `json:"args,omitempty"`
	Addons   []configAddon   `json:"addons,omitempty"`
	Trigger  string          `json:"trigger,omitempty"`
	Item     json.RawMessage `json:"item,omitempty"`
	ItemArgs json.RawMessage `json:"itemArgs,omitempty"`
	Webhook  string          `json:"webhook,omitempty"`
	// Env is the run's own secret variables (DSC_SESSION), sealed in the
	// run's record and never shown.
	Env map[string]string `json:"env,omitempty"`
	// Files describes the uploads of a multipart request, as an
	// event's files do.
	Files *eventFiles `json:"files,omitempty"`
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	var req runRequest
	var item *itemInput
	queued := false
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		// The run request in part "run", the item's files beside it,
		// as for POST /v1/events (api_console.go).
		var inputDir string
		var err error
		req, item, inputDir, err = s.readRunForm(w, r, params)
		if err != nil {
			if inputDir != "" {
				os.RemoveAll(inputDir)
			}
			return err
		}
		if inputDir != "" {
			// Uploads of a refused run are not kept.
			defer func() {
				if !queued {
					os.RemoveAll(inputDir)
				}
			}()
		}
	} else if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkObject("item", req.Item); err != nil {
		return err
	}
	if err := checkObject("itemArgs", req.ItemArgs); err != nil {
		return err
	}
	if req.Webhook != "" {
		if err := s.checkWebhook(r.Context(), req.Webhook); err != nil {
			return errf(http.StatusUnprocessableEntity, codeInvalid, "webhook: %v", err)
		}
	}
	if err := checkRunEnv(req.Env); err != nil {
		return err
	}
	if item == nil && (req.Item != nil || req.ItemArgs != nil || len(req.Env) > 0) {
		item = &itemInput{Data: req.Item, Args: req.ItemArgs, Env: req.Env}
	}
	trigger := cmpOr(req.Trigger, "manual")
	var run store.Run
	var err error
	switch {
	case req.ConfigID != "" && (req.AddonID != "" || len(req.Addons) > 0):
		return errf(http.StatusBadRequest, codeInvalid, "give configId or addons, not both")
	case req.ConfigID != "":
		rc, err := s.st.GetRunConfig(r.Context(), nil, req.ConfigID)
		if err != nil {
			return err
		}
		c, err := decodeConfig(rc)
		if err != nil {
			return err
		}
		run, err = s.enqueue(r.Context(), newID("run_"), c.ID, trigger, c.Addons, cmpOr(req.Webhook, c.Webhook), item)
		if err != nil {
			return err
		}
	default:
		addons := req.Addons
		if req.AddonID != "" {
			if len(addons) > 0 {
				return errf(http.StatusBadRequest, codeInvalid, "give addonId or addons, not both")
			}
			addons = []configAddon{{AddonID: req.AddonID, Args: req.Args}}
		}
		if len(addons) == 0 {
			return errf(http.StatusBadRequest, codeInvalid, "give configId, addonId or addons")
		}
		run, err = s.enqueue(r.Context(), newID("run_"), "", trigger, addons, req.Webhook, item)
		if err != nil {
			return err
		}
	}
	queued = true
	w.Header().Set("Location", "/v1/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, s.viewRun(run, false))
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkObject(field string, raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return errf(http.StatusBadRequest, codeInvalid, "%s: must be a JSON object", field)
	}
	return nil
}

// eventRequest is the body (or the "event" part) of POST /v1/events.
type eventRequest struct {
	Trigger  string          `json:"trigger"`
	Item     json.RawMessage `json:"item,omitempty"`
	ItemArgs json.RawMessage `json:"itemArgs,omitempty"`
	// Files gives the uploaded attachments their ids, names, languages
	// and mimetypes; each entry's "file" is the file name of a "pdf" or
	// "original" part.
	Files *eventFiles `json:"files,omitempty"`
	// Env is the run's own secret variables (DSC_SESSION for dsc),
	// sealed in each run's record and never shown.
	Env map[string]string `json:"env,omitempty"`
}

type eventFiles struct {
	Pdfs      []executor.ItemFile `json:"pdfs,omitempty"`
	Originals []executor.ItemFile `json:"originals,omitempty"`
}

// eventUploads are the file names of the uploaded parts, in upload order.
type eventUploads struct{ pdfs, originals []string }

// itemFiles matches the event's "files" entries to the uploaded parts:
// every upload is one attachment, in upload order, with the metadata of
// the entry that names it (ids derived by the executor where none is
// given). Paths are relative to the event's input directory.
func (ev eventRequest) itemFiles(up eventUploads) (pdfs, originals []executor.ItemFile, err error) {
	var given eventFiles
	if ev.Files != nil {
		given = *ev.Files
	}
	for _, k := range []struct {
		list, part string
		given      []executor.ItemFile
		uploaded   []string
		dst        *[]executor.ItemFile
	}{
		{"pdfs", "pdf", given.Pdfs, up.pdfs, &pdfs},
		{"originals", "original", given.Originals, up.originals, &originals},
	} {
		byName := map[string]executor.ItemFile{}
		for i, f := range k.given {
			field := fmt.Sprintf("files.%s[%d]", k.list, i)
			if err := executor.CheckItemFile(f); err != nil {
				var ife *executor.ItemFileError
				errors.As(err, &ife)
				return nil, nil, errf(http.StatusBadRequest, codeInvalid, "%s.%s: %s", field, ife.Field, ife.Reason)
			}
			if !slices.Contains(k.uploaded, f.Path) {
				return nil, nil, errf(http.StatusBadRequest, codeInvalid, "%s.file: no %q part has the file name %q", field, k.part, f.Path)
			}
			if _, dup := byName[f.Path]; dup {
				return nil, nil, errf(http.StatusBadRequest, codeInvalid, "%s.file: %q is described twice", field, f.Path)
			}
			byName[f.Path] = f
		}
		for _, name := range k.uploaded {
			f := byName[name]
			if f.Name == "" {
				f.Name = name
			}
			f.Path = path.Join(k.list, name)
			*k.dst = append(*k.dst, f)
		}
	}
	return pdfs, originals, nil
}

// sendEvent queues a run of every enabled configuration with the
// event's trigger. Files come as multipart parts named "original" or
// "pdf" beside a JSON part named "event".
func (s *Server) sendEvent(w http.ResponseWriter, r *http.Request) error {
	var ev eventRequest
	var inputDir string
	var uploads eventUploads
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.set.MaxBody))
		var err error
		ev, inputDir, uploads, err = s.readEventForm(r, params)
		if err != nil {
			if inputDir != "" {
				os.RemoveAll(inputDir)
			}
			return err
		}
	} else if err := s.decodeJSON(w, r, &ev); err != nil {
		return err
	}
	runs := []runView{}
	defer func() {
		// Uploaded files no queued run needs (the event was refused or
		// no configuration has its trigger) are not kept.
		if len(runs) == 0 && inputDir != "" {
			os.RemoveAll(inputDir)
		}
	}()
	t, err := addon.ParseTrigger(ev.Trigger)
	if err != nil {
		return errf(http.StatusBadRequest, codeInvalid, "trigger: unknown trigger %q (known: %s)", ev.Trigger, triggerList())
	}
	if err := checkObject("item", ev.Item); err != nil {
		return err
	}
	if err := checkObject("itemArgs", ev.ItemArgs); err != nil {
		return err
	}
	pdfs, originals, err := ev.itemFiles(uploads)
	if err != nil {
		return err
	}
	if err := checkRunEnv(ev.Env); err != nil {
		return err
	}
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	var fingerprint string
	if key != "" {
		if fingerprint, err = eventFingerprint(ev, inputDir, pdfs, originals); err != nil {
			return err
		}
		if done, err := s.replayEvent(r.Context(), w, key, fingerprint); done || err != nil {
			return err
		}
	}
	rcs, err := s.st.ListRunConfigs(r.Context(), nil, string(t))
	if err != nil {
		return err
	}
	item := &itemInput{Data: ev.Item, Args: ev.ItemArgs, InputDir: inputDir, Pdfs: pdfs, Originals: originals, Env: ev.Env}
	// Every run of the event is planned first and stored in one
	// transaction: an event is queued whole or not at all, so that a host
	// retrying a refused event does not run some configurations twice.
	var planned []store.Run
	for _, rc := range rcs {
		c, err := decodeConfig(rc)
		if err != nil {
			return err
		}
		run, err := s.planRun(r.Context(), newID("run_"), c.ID, string(t), c.Addons, c.Webhook, item)
		if err != nil {
			return err
		}
		planned = append(planned, run)
	}
	// The key is stored with the runs, in their transaction: a resend
	// reaching another node meanwhile either finds it or, storing its own
	// runs, fails on the key's uniqueness and answers as a replay.
	var keyTaken bool
	var also func(*store.Tx) error
	if key != "" {
		ids := make([]string, len(planned))
		for i, run := range planned {
			ids[i] = run.ID
		}
		also = func(tx *store.Tx) error {
			err := s.st.PutIdemKey(r.Context(), tx, store.IdemKey{Key: key, Fingerprint: fingerprint, RunIDs: ids}, s.set.IdempotencyWindow.Std())
			keyTaken = errors.Is(err, store.ErrConflict)
			return err
		}
	}
	queued, err := s.enqueueAllWith(r.Context(), planned, also)
	if keyTaken {
		if done, err := s.replayEvent(r.Context(), w, key, fingerprint); done || err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	for _, run := range queued {
		runs = append(runs, s.viewRun(run, false))
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"runs": runs})
	return nil
}

func multipartReader(r *http.Request, params map[string]string) (*multipart.Reader, error) {
	if params["boundary"] == "" {
		return nil, errf(http.StatusBadRequest, codeBadRequest, "multipart/form-data without a boundary")
	}
	return multipart.NewReader(r.Body, params["boundary"]), nil
}

func (s *Server) readEventForm(r *http.Request, params map[string]string) (eventRequest, string, eventUploads, error) {
	var ev eventRequest
	dir, up, err := s.readItemForm(r, params, "event", func(part io.Reader) error { return decodeJSONFrom(part, &ev) })
	return ev, dir, up, err
}

// readItemForm reads a multipart form of a JSON part (decoded by decode)
// and the item's "original" and "pdf" files, saved in a new directory
// under DATA_DIR/events; it returns that directory ("" when no file came,
// set even with an error when made).
func (s *Server) readItemForm(r *http.Request, params map[string]string, jsonPart string, decode func(io.Reader) error) (string, eventUploads, error) {
	var up eventUploads
	mr, err := multipartReader(r, params)
	if err != nil {
		return "", up, err
	}
	dir := filepath.Join(s.dataDir, "events", newID("ev_"))
	gotEvent := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return dir, up, bodyError(err)
		}
		switch part.FormName() {
		case jsonPart:
			if err := decode(part); err != nil {
				return dir, up, err
			}
			gotEvent = true
		case "original", "pdf":
			name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
			if name == "" || name == "." || name == "/" || name == ".." {
				return dir, up, errf(http.StatusBadRequest, codeInvalid, "part %q needs a file name", part.FormName())
			}
			sub := map[string]string{"original": "originals", "pdf": "pdfs"}[part.FormName()]
			names := map[string]*[]string{"original": &up.originals, "pdf": &up.pdfs}[part.FormName()]
			if slices.Contains(*names, name) {
				return dir, up, errf(http.StatusBadRequest, codeInvalid, "two %q parts have the file name %q", part.FormName(), name)
			}
			*names = append(*names, name)
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				return dir, up, err
			}
			f, err := os.Create(filepath.Join(dir, sub, name))
			if err != nil {
				return dir, up, err
			}
			_, err = io.Copy(f, part)
			f.Close()
			if err != nil {
				return dir, up, bodyError(err)
			}
		default:
			return dir, up, errf(http.StatusBadRequest, codeInvalid, "unknown form part %q (expected %s, original, pdf)", part.FormName(), jsonPart)
		}
	}
	if !gotEvent {
		return dir, up, errf(http.StatusBadRequest, codeInvalid, "the form has no %q part with the %s JSON", jsonPart, jsonPart)
	}
	if _, err := os.Stat(dir); err != nil {
		dir = ""
	}
	return dir, up, nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.viewRunWithLogs(r.Context(), run)
	if err != nil {
		return err
	}
	if err := s.inlineOutput(r.Context(), &v, run); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// maxInlineOutput is the largest output that GET /v1/runs/{id} and a
// webhook carry inline; a larger one is only in GET /v1/runs/{id}/output.
const maxInlineOutput = 1 << 20

// inlineOutput puts a succeeded run's output into v when it is at most
// maxInlineOutput bytes, as it is stored (not decoded).
func (s *Server) inlineOutput(ctx context.Context, v *runView, run store.Run) error {
	if run.State != store.Succeeded || run.OutputSize == 0 || run.OutputSize > maxInlineOutput || v.Output != nil {
		return nil
	}
	out, err := s.st.RunOutput(ctx, nil, run.ID)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		v.Output = json.RawMessage(out)
	}
	return nil
}

// runOutput serves a succeeded run's whole output as it is stored, with
// Range requests for reading it in parts.
func (s *Server) runOutput(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	if run.State != store.Succeeded {
		return errf(http.StatusNotFound, codeNotFound, "run %s is %s: only a succeeded run has output", run.ID, run.State)
	}
	out, err := s.st.RunOutput(r.Context(), nil, run.ID)
	if err != nil {
		return err
	}
	if len(out) == 0 {
		// A record of an older berth keeps the output inside its result.
		if v := s.viewRun(run, false); v.Output != nil {
			out, _ = json.Marshal(v.Output)
		}
	}
	if len(out) == 0 {
		return errf(http.StatusNotFound, codeNotFound, "run %s has no output", run.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "", run.Finished, bytes.NewReader(out))
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.RunFilter{State: q.Get("state"), ConfigID: q.Get("config")}
	if f.ConfigID != "" && !validID(f.ConfigID) {
		return errf(http.StatusBadRequest, codeInvalid, "config: %q is not a run configuration id", f.ConfigID)
	}
	if f.State != "" && f.State != store.Queued && f.State != store.Running && !store.Final(f.State) {
		return errf(http.StatusBadRequest, codeInvalid, "state: %q is not one of queued, running, succeeded, failed, cancelled", f.State)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errf(http.StatusBadRequest, codeInvalid, "limit: want a number from 1 to 1000")
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errf(http.StatusBadRequest, codeInvalid, "before: want an RFC 3339 time")
		}
		f.Before = t
	}
	if err := runListFilters(q, &f); err != nil {
		return err
	}
	if v := q.Get("cursor"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			return errf(http.StatusBadRequest, codeInvalid, "cursor: %q is not the next of an earlier page", v)
		}
		f.After = &c
	}
	runs, err := s.st.ListRuns(r.Context(), nil, f)
	if err != nil {
		return err
	}
	out := make([]runView, 0, len(runs))
	for _, run := range runs {
		out = append(out, s.viewRun(run, false))
	}
	page := runPage{Runs: out}
	if limit := cmpOrInt(f.Limit, defaultRunLimit); len(runs) == limit {
		page.Next = formatCursor(store.CursorOf(runs[len(runs)-1]))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// defaultRunLimit is the page size of GET /v1/runs without limit (the
// store's default).
const defaultRunLimit = 100

// runPage is the answer of GET /v1/runs. Next, present when the page is
// full, is the cursor of the page after it (which may be empty).
type runPage struct {
	Runs []runView `json:"runs"`
	Next string    `json:"next,omitempty"`
}

func cmpOrInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// formatCursor encodes a run's place in the list as an opaque string:
// the creation time in milliseconds and the id, in URL-safe base64.
func formatCursor(c store.RunCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Created.UnixMilli(), 10) + ":" + c.ID))
}

func parseCursor(v string) (store.RunCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return store.RunCursor{}, err
	}
	msText, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(msText, 10, 64)
	if !ok || err != nil || n < 0 || n > maxCursorMS || !validID(id) {
		return store.RunCursor{}, errors.New("malformed cursor")
	}
	return store.RunCursor{Created: time.UnixMilli(n), ID: id}, nil
}

// maxCursorMS is the last millisecond of year 9999: no run is created
// later.
const maxCursorMS = 253402300799999

// validID reports whether s can be an id: not empty, at most 200 bytes
// of UTF-8 without control characters (PostgreSQL refuses NUL bytes and
// invalid UTF-8 with an error, which would answer 500).
func validID(s string) bool {
	if s == "" || len(s) > 200 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var now bool
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		if now, err = s.st.RequestCancel(r.Context(), tx, id, s.now()); err != nil || !now {
			return err
		}
		// Cancelled before it started, the run never reaches finish:
		// queue its webhook here, with the state change.
		run, err := s.st.GetRun(r.Context(), tx, id)
		if err != nil {
			return err
		}
		var sp runSpec
		if json.Unmarshal(run.Spec, &sp) != nil || sp.Webhook == "" {
			return nil
		}
		if err := s.st.SetWebhookState(r.Context(), tx, id, "pending"); err != nil {
			return err
		}
		jobID, err := s.q.EnqueueWebhook(r.Context(), tx, id, 0)
		if err != nil {
			return err
		}
		return s.st.SetWebhookJob(r.Context(), tx, id, jobID)
	})
	if err != nil {
		return err
	}
	run, err := s.st.GetRun(r.Context(), nil, id)
	if err != nil {
		return err
	}
	if now {
		if err := s.q.CancelJob(r.Context(), run.JobID); err != nil {
			s.log.Warn("cancelling the queue job", "run", id, "err", err)
		}
		s.metrics.finished(run, store.Outcome{State: store.Cancelled}, nil)
	}
	writeJSON(w, http.StatusAccepted, s.viewRun(run, false))
	return nil
}

// runFile serves an output file of a succeeded run from the blob the
// run recorded (fetched into this node's blob cache once), whichever
// node ran it. A run of an older berth whose files are not in the
// database yet is served from this node's runs/<id>/output, through
// os.Root so that the path stays inside it.
func (s *Server) runFile(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	if run.State != store.Succeeded {
		return errf(http.StatusNotFound, codeNotFound, "run %s is %s: only a succeeded run has output files", run.ID, run.State)
	}
	name, err := url.PathUnescape(r.PathValue("path"))
	if err != nil || name == "" {
		return errf(http.StatusBadRequest, codeInvalid, "bad file path")
	}
	var f *os.File
	rf, err := s.st.GetRunFile(r.Context(), nil, run.ID, name)
	switch {
	case err == nil:
		p, release, err := s.blobs.File(r.Context(), rf.Hash)
		if err != nil {
			return fmt.Errorf("run %s: output file %q: %w", run.ID, name, err)
		}
		defer release()
		if f, err = os.Open(p); err != nil {
			return err
		}
	case errors.Is(err, store.ErrNotFound):
		root, err := os.OpenRoot(filepath.Join(s.runsDir(), run.ID, "output"))
		if err != nil {
			return errf(http.StatusNotFound, codeNotFound, "run %s has no output file %q", run.ID, name)
		}
		defer root.Close()
		if f, err = root.Open(filepath.FromSlash(name)); err != nil {
			return errf(http.StatusNotFound, codeNotFound, "run %s has no output file %q", run.ID, name)
		}
	default:
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return errf(http.StatusNotFound, codeNotFound, "run %s has no output file %q", run.ID, name)
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(name)))
	http.ServeContent(w, r, path.Base(name), run.Finished, f)
	return nil
}
