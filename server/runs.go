package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/outbound"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/runlog"
	"github.com/berth-dev/berth/store"
)

// runSpec is a run's inputs, fixed when it is queued (store.Run.Spec):
// the addons' files as they were then, so updates do not change queued
// runs.
type runSpec struct {
	Steps    []specStep      `json:"steps"`
	Item     json.RawMessage `json:"item,omitempty"`
	ItemArgs json.RawMessage `json:"itemArgs,omitempty"`
	// InputDir holds originals/ and pdfs/ uploaded with the event.
	InputDir string `json:"inputDir,omitempty"`
	// Pdfs and Originals are the uploaded attachments, their paths
	// relative to InputDir; runs queued before berth kept them have none
	// and take every file of InputDir's pdfs/ and originals/.
	Pdfs      []executor.ItemFile `json:"pdfs,omitempty"`
	Originals []executor.ItemFile `json:"originals,omitempty"`
	// InputBlobs are the files under InputDir as blobs (path relative to
	// it, with slashes, to hash): a node without InputDir (only the node
	// that received the upload has it) makes its own copy from them.
	InputBlobs map[string]string `json:"inputBlobs,omitempty"`
	CacheKey   string            `json:"cacheKey,omitempty"`
	Webhook    string            `json:"webhook,omitempty"`
	// SealedEnv is the run's own variables, AES-GCM sealed with the
	// node's secretKeyFile (runenv.go); never stored in plain text.
	SealedEnv string `json:"sealedEnv,omitempty"`
}

type specStep struct {
	AddonID string `json:"addonId"`
	Name    string `json:"name"`
	// Package is the blob of the addon's files; Dir, of a run queued
	// before packages were blobs, the installing node's copy of them.
	Package string `json:"package,omitempty"`
	Dir     string `json:"dir,omitempty"`
	Args    string `json:"args"`
	Pure    bool   `json:"pure"`
}

// itemInput is the item a run works on.
type itemInput struct {
	Data, Args      json.RawMessage
	InputDir        string
	Pdfs, Originals []executor.ItemFile
	// Env is the run's own secret variables, sealed into the spec.
	Env map[string]string
	// blobs are InputDir's files as blobs, stored once for all the runs
	// of the item (inputBlobs); a re-run starts with its run's.
	blobs     map[string]string
	blobsDone bool
	blobsErr  error
}

func runSteps(r store.Run) int {
	var sp runSpec
	_ = json.Unmarshal(r.Spec, &sp)
	return len(sp.Steps)
}

// planRun builds the record of a new run of addons (not stored yet).
func (s *Server) planRun(ctx context.Context, id, configID, trigger string, addons []configAddon, webhook string, item *itemInput) (store.Run, error) {
	sp := runSpec{Webhook: webhook}
	if configID != "" {
		sp.CacheKey = "config-" + configID
	}
	pure := true
	for i, ca := range addons {
		a, err := s.st.GetAddon(ctx, nil, ca.AddonID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, errf(http.StatusUnprocessableEntity, codeInvalid, "addons[%d].addonId: no addon %q is installed", i, ca.AddonID)
		}
		if err != nil {
			return store.Run{}, err
		}
		sp.Steps = append(sp.Steps, specStep{AddonID: a.ID, Name: a.Name + "-" + a.Version, Package: a.Package, Dir: a.Dir, Args: ca.Args, Pure: a.Pure})
		pure = pure && a.Pure
	}
	if item != nil {
		sp.Item, sp.ItemArgs, sp.InputDir = item.Data, item.Args, item.InputDir
		sp.Pdfs, sp.Originals = item.Pdfs, item.Originals
		blobs, err := s.inputBlobs(ctx, item)
		if err != nil {
			return store.Run{}, err
		}
		sp.InputBlobs = blobs
		sealed, err := s.sealEnv(id, item.Env)
		if err != nil {
			return store.Run{}, err
		}
		sp.SealedEnv = sealed
	}
	spec, err := json.Marshal(sp)
	if err != nil {
		return store.Run{}, err
	}
	maxAttempts := 1
	if pure {
		maxAttempts += s.set.Retries
	}
	return store.Run{ID: id, ConfigID: configID, Trigger: trigger, State: store.Queued, MaxAttempts: maxAttempts, Pure: pure, Spec: spec, Created: s.now()}, nil
}

// enqueue stores a new run and queues its job (see enqueueAll). A run
// with the same id that exists already is returned as it is.
func (s *Server) enqueue(ctx context.Context, id, configID, trigger string, addons []configAddon, webhook string, item *itemInput) (store.Run, error) {
	run, err := s.planRun(ctx, id, configID, trigger, addons, webhook, item)
	if err != nil {
		return store.Run{}, err
	}
	runs, err := s.enqueueAll(ctx, []store.Run{run})
	if err != nil {
		return store.Run{}, err
	}
	return runs[0], nil
}

// enqueueAll stores runs all together or none (one transaction: an event
// that triggers several configurations is queued whole or refused), then
// queues their jobs. The jobs are queued after the commit, so that they
// wake the workers at once; a job that cannot be queued then (the
// database failed, or the node stopped in between) leaves its run
// without a job, which Recover queues after node-timeout. A run whose id
// exists already is returned as it is, and not queued again.
func (s *Server) enqueueAll(ctx context.Context, planned []store.Run) ([]store.Run, error) {
	return s.enqueueAllWith(ctx, planned, nil)
}

// enqueueAllWith is enqueueAll that also runs also (when not nil) in the
// transaction that stores the runs: an event's idempotency key is stored
// with its runs or not at all.
func (s *Server) enqueueAllWith(ctx context.Context, planned []store.Run, also func(*store.Tx) error) ([]store.Run, error) {
	if len(planned) == 0 && also == nil {
		return []store.Run{}, nil
	}
	out := make([]store.Run, len(planned))
	fresh := make([]bool, len(planned))
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for i, run := range planned {
			ok, err := s.st.InsertRun(ctx, tx, run)
			if err != nil {
				return err
			}
			if ok {
				out[i], fresh[i] = run, true
				continue
			}
			if out[i], err = s.st.GetRun(ctx, tx, run.ID); err != nil {
				return err
			}
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Stored: queue them even if the client goes away now (its request's
	// context), rather than leave them to Recover.
	ctx = context.WithoutCancel(ctx)
	for i, run := range out {
		if !fresh[i] {
			continue
		}
		s.metrics.queued.Inc()
		jobID, err := s.q.EnqueueRunNow(ctx, run.ID, runSteps(run))
		if err == nil {
			err = s.st.SetFirstRunJob(ctx, nil, run.ID, jobID)
		}
		if err != nil {
			s.log.Warn("queueing a stored run failed; it is queued after node-timeout", "run", run.ID, "err", err)
			continue
		}
		out[i].JobID = jobID
	}
	return out, nil
}

// Run implements queue.Handler: it executes one attempt of a run.
func (s *Server) Run(ctx context.Context, runID string, jobID int64, attempt int) error {
	log := s.log.With("run", runID, "job", jobID)
	exLog := s.log.With("job", jobID)
	r, err := s.st.GetRun(ctx, nil, runID)
	if errors.Is(err, store.ErrNotFound) {
		log.Warn("job for an unknown run: dropped")
		return nil
	}
	if err != nil {
		return err
	}
	if (r.JobID != jobID && r.JobID != 0) || store.Final(r.State) {
		// Another job carries the run now (it was recovered), or it was
		// cancelled before it started.
		return nil
	}
	r.JobID = jobID
	if r.State == store.Running {
		// The node that ran the last attempt stopped during it.
		reason := fmt.Sprintf("interrupted: node %s stopped during attempt %d", r.Node, r.Attempts)
		if !r.Pure {
			log.Warn("not repeating an interrupted impure run", "reason", reason)
			return s.finish(ctx, r, store.Outcome{State: store.Failed, Error: reason + "; the chain has an impure addon, so it is not run again (its side effects may have happened)"}, nil)
		}
		if r.Attempts >= r.MaxAttempts {
			return s.finish(ctx, r, store.Outcome{State: store.Failed, Error: reason + fmt.Sprintf("; no attempts left (%d of %d)", r.Attempts, r.MaxAttempts)}, nil)
		}
		log.Warn("running an interrupted pure run again", "reason", reason)
	}
	if r.CancelRequested {
		return s.finish(ctx, r, store.Outcome{State: store.Cancelled, Error: "cancelled before it started"}, nil)
	}
	r, err = s.st.StartAttempt(ctx, nil, runID, s.nodeID, jobID, s.now())
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	s.metrics.running.Inc()
	defer s.metrics.running.Dec()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var userCancel bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watchCancel(runCtx, runID, func() { userCancel = true; cancel() })
	}()
	// The attempt's log lines are stored as they come, on every
	// attempt; a store that fails is logged, never fails the run.
	logs, lerr := runlog.Open(ctx, s.st, runID, r.Attempts, runlog.Options{
		MaxLines: s.set.LogLines, AttemptsLeft: r.MaxAttempts - r.Attempts + 1, Logger: log,
	})
	if lerr != nil {
		log.Warn("the run's log lines are not stored", "err", lerr)
	} else {
		logs.Line(store.StreamBerth, fmt.Sprintf("attempt %d of %d on node %s", r.Attempts, r.MaxAttempts, s.nodeID))
	}
	res, err := s.execute(runCtx, exLog, r, logs)
	cancel()
	wg.Wait()
	if logs != nil {
		// Before the attempt's end is recorded: a follower that sees the
		// run final has every line to read.
		if cerr := logs.Close(context.WithoutCancel(ctx)); cerr != nil {
			log.Warn("storing the last log lines", "err", cerr)
		}
	}
	if err == nil && !userCancel && ctx.Err() == nil {
		err = s.storeOutputs(ctx, r.ID, res)
	}

	var o store.Outcome
	retry := false
	switch {
	case userCancel:
		o = store.Outcome{State: store.Cancelled, Error: "cancelled by request"}
	case ctx.Err() != nil:
		// Shutdown (after the grace period) or the queue's time limit.
		if r.Pure && r.Attempts < r.MaxAttempts {
			o, retry = store.Outcome{State: store.Queued, Error: "interrupted by shutdown; it runs again"}, true
		} else {
			o = store.Outcome{State: store.Failed, Error: "interrupted by shutdown; the chain has an impure addon (or no attempts left), so it is not run again"}
		}
	case err != nil:
		o = store.Outcome{State: store.Failed, Error: err.Error()}
		retry = r.Pure && r.Attempts < r.MaxAttempts
	case res.Kind == executor.Success:
		o = store.Outcome{State: store.Succeeded}
	default:
		o = store.Outcome{State: store.Failed, Error: res.Error}
		retry = r.Pure && r.Attempts < r.MaxAttempts
	}
	if retry && o.State == store.Failed {
		o.State = store.Queued
		o.Error += fmt.Sprintf(" (attempt %d of %d; retrying)", r.Attempts, r.MaxAttempts)
	}
	if res != nil {
		o.Result, o.Output = storedResult(res, o.State)
	}
	if ferr := s.finish(context.WithoutCancel(ctx), r, o, res); ferr != nil {
		return ferr
	}
	if o.State == store.Queued {
		return fmt.Errorf("run %s: %s", runID, o.Error)
	}
	return nil
}

// storedResult is res as a run's record keeps it: the combined output
// on its own, once, and only for a succeeded run (no other shows it);
// the result without it and without the addons' own outputs (a 15 MB
// output was stored three times and decoded by every list of runs).
func storedResult(res *executor.Result, state string) (result, output []byte) {
	kept := *res
	if kept.Output != nil && state == store.Succeeded {
		output, _ = json.Marshal(kept.Output)
	}
	kept.Output = nil
	kept.Addons = append([]executor.AddonResult(nil), res.Addons...)
	for i := range kept.Addons {
		kept.Addons[i].Output = nil
	}
	result, _ = json.Marshal(kept)
	return result, output
}

// finish records an attempt's outcome and, for a final run with a
// webhook, queues the delivery in the same transaction.
func (s *Server) finish(ctx context.Context, r store.Run, o store.Outcome, res *executor.Result) error {
	var sp runSpec
	_ = json.Unmarshal(r.Spec, &sp)
	if store.Final(o.State) && sp.Webhook != "" {
		o.WebhookState = "pending"
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.st.FinishAttempt(ctx, tx, r.ID, r.JobID, o, s.now()); err != nil {
			return err
		}
		if o.WebhookState == "pending" {
			id, err := s.q.EnqueueWebhook(ctx, tx, r.ID, 0)
			if err != nil {
				return err
			}
			return s.st.SetWebhookJob(ctx, tx, r.ID, id)
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	if store.Final(o.State) {
		s.done.Add(1)
		s.metrics.finished(r, o, res)
		s.log.Info("run finished", "run", r.ID, "state", o.State, "attempts", r.Attempts, "err", o.Error)
	}
	return nil
}

// execute runs the chain of r through the executor.
func (s *Server) execute(ctx context.Context, log *slog.Logger, r store.Run, logs *runlog.Writer) (*executor.Result, error) {
	var sp runSpec
	if err := json.Unmarshal(r.Spec, &sp); err != nil {
		return nil, fmt.Errorf("run %s: stored spec: %w", r.ID, err)
	}
	req := executor.Request{RunID: r.ID, CacheKey: sp.CacheKey}
	if req.CacheKey == "" {
		req.CacheKey = adhocCacheKey(sp.Steps)
	}
	env, err := s.runEnv(ctx, r.ID, r.ConfigID, sp.SealedEnv)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", r.ID, err)
	}
	req.Env = env
	for _, st := range sp.Steps {
		dir, release, err := s.stepDir(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("addon %s (%s): %w", st.Name, st.AddonID, err)
		}
		defer release()
		a, err := s.loadAddon(dir)
		if err != nil {
			return nil, fmt.Errorf("addon %s (%s): %w", st.Name, st.AddonID, err)
		}
		req.Steps = append(req.Steps, executor.Step{Addon: a, UserInput: st.Args})
	}
	if sp.Item != nil || sp.ItemArgs != nil || sp.InputDir != "" {
		if sp.InputDir, err = s.inputDir(ctx, r.ID, sp); err != nil {
			return nil, fmt.Errorf("run %s: the item's files: %w", r.ID, err)
		}
		it := &executor.Item{Data: sp.Item, Args: sp.ItemArgs}
		switch {
		case sp.InputDir != "" && (sp.Pdfs != nil || sp.Originals != nil):
			for _, l := range []struct{ from, to *[]executor.ItemFile }{{&sp.Pdfs, &it.Pdfs}, {&sp.Originals, &it.Originals}} {
				for _, f := range *l.from {
					f.Path = filepath.Join(sp.InputDir, filepath.FromSlash(f.Path))
					*l.to = append(*l.to, f)
				}
			}
		case sp.InputDir != "":
			it.OriginalsDir = existingDir(filepath.Join(sp.InputDir, "originals"))
			it.PdfsDir = existingDir(filepath.Join(sp.InputDir, "pdfs"))
		}
		req.Item = it
	}
	out := filepath.Join(s.runsDir(), r.ID, "output")
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	req.OutputDir = out
	ex := *s.exec
	if logs != nil {
		ex.Stderr = logs.Stream(store.StreamStderr)
		ex.BuildOutput = logs.Stream(store.StreamBuild)
	}
	ex.Logger = log
	return ex.Run(ctx, req)
}

// adhocCacheKey names the CACHE_DIR of a run of no configuration by the
// ids of its chain's installed addons, which the daemon makes: keyed by
// the addons' names (the executor's default), another addon installed
// under the same name would read what the first cached. The id stays
// the same when an addon is updated, so its cache does too.
func adhocCacheKey(steps []specStep) string {
	ids := make([]string, len(steps))
	for i, st := range steps {
		ids[i] = st.AddonID
	}
	key := "adhoc-" + strings.Join(ids, "+")
	if len(key) > 200 {
		sum := sha256.Sum256([]byte(key))
		key = "adhoc-" + hex.EncodeToString(sum[:])
	}
	return key
}

// loadAddon loads the addon kept in dir. Kept directories are named by
// content hash and never change, so each is parsed once.
func (s *Server) loadAddon(dir string) (*addon.Addon, error) {
	if a, ok := s.addonCache.Load(dir); ok {
		return a.(*addon.Addon), nil
	}
	a, err := addon.Load(dir)
	if err != nil {
		return nil, err
	}
	s.addonCache.Store(dir, a)
	return a, nil
}

func existingDir(p string) string {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return p
	}
	return ""
}

// watchCancel calls cancel when the run's cancel flag is set, checking
// every quarter second until ctx ends.
func (s *Server) watchCancel(ctx context.Context, runID string, cancel func()) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if yes, err := s.st.CancelRequested(ctx, nil, runID); err == nil && yes {
				cancel()
				return
			}
		}
	}
}

// Deliver implements queue.Handler: it posts a final run to its webhook.
// A job that no longer carries the delivery (it was handed to another
// job when this job's node was taken for dead) does nothing.
func (s *Server) Deliver(ctx context.Context, runID string, jobID int64, attempt int) error {
	ok, err := s.st.StartDelivery(ctx, nil, runID, jobID, s.nodeID, attempt)
	if err != nil || !ok {
		return err
	}
	end := func(state string) error {
		return s.st.EndDelivery(context.WithoutCancel(ctx), nil, runID, jobID, state)
	}
	r, err := s.st.GetRun(ctx, nil, runID)
	if err != nil {
		return err
	}
	var sp runSpec
	_ = json.Unmarshal(r.Spec, &sp)
	view := s.viewRun(r, false)
	if err := s.inlineOutput(ctx, &view, r); err != nil {
		return err
	}
	body, err := json.Marshal(view)
	if err != nil {
		return err
	}
	status, statusText, err := s.postWebhook(ctx, sp.Webhook, body, runID, attempt)
	switch {
	case errors.Is(err, outbound.ErrDenied):
		// Another attempt would be refused as well.
		s.metrics.webhooks.WithLabelValues("failed").Inc()
		_ = end("failed: " + err.Error())
		return nil
	case err == nil && status/100 == 2:
		s.metrics.webhooks.WithLabelValues("delivered").Inc()
		return end("delivered")
	case err == nil:
		err = fmt.Errorf("the webhook answered %s", statusText)
	}
	if attempt >= queue.WebhookAttempts {
		// The queue discards the job now: say so instead of "retrying".
		s.metrics.webhooks.WithLabelValues("failed").Inc()
		_ = end(fmt.Sprintf("failed after %d attempts: %v", attempt, err))
		return err
	}
	s.metrics.webhooks.WithLabelValues("retry").Inc()
	_ = end(fmt.Sprintf("retrying (attempt %d): %v", attempt, err))
	return err
}

// runLogs is a run's captured stderr.
type runLogs struct {
	Lines []string `json:"lines"`
	// Dropped counts the earlier lines left out over the cap.
	Dropped int `json:"dropped"`
}
