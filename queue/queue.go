package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-dev/berth/store"
)

// RunArgs is the job that carries one run.
type RunArgs struct {
	RunID string `json:"runId"`
	// Steps is the number of addons in the chain (it scales the job's
	// time limit).
	Steps int `json:"steps"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return "berth_run" }

// WebhookArgs is the job that delivers a final run to its webhook.
type WebhookArgs struct {
	RunID string `json:"runId"`
	// Prior counts the attempts made by an earlier job of the same
	// delivery (one whose node died during an attempt).
	Prior int `json:"prior,omitempty"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return "berth_webhook" }

// Handler does the work of jobs.
type Handler interface {
	// Run executes the run carried by job jobID; a non-nil error has the
	// queue try again after RetryDelay(attempt).
	Run(ctx context.Context, runID string, jobID int64, attempt int) error
	// Deliver posts a final run to its webhook for job jobID; an error
	// retries. attempt counts the earlier jobs' attempts too.
	Deliver(ctx context.Context, runID string, jobID int64, attempt int) error
}

// Config sets up a Queue.
type Config struct {
	// NodeID names this process in the queue and in run records.
	NodeID string
	// Concurrency is the most runs this node executes at once.
	Concurrency int
	// RunTimeout bounds one addon of a chain; a job may take
	// RunTimeout × steps plus a minute for set-up before the queue gives
	// up on it.
	RunTimeout time.Duration
	// PollInterval is how often an idle node looks for jobs.
	PollInterval time.Duration
	// RetryDelay is the wait before a failed run's next attempt.
	RetryDelay func(attempt int) time.Duration
	// WebhookDelay is the wait before a webhook delivery's next attempt.
	WebhookDelay func(attempt int) time.Duration
	Logger       *slog.Logger
}

// Queue is a started or startable job queue on one database.
type Queue struct {
	db     *store.DB
	cfg    Config
	client client
}

// client is the part of *river.Client[TTx] the queue uses, without TTx.
type client interface {
	insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	insertTx(ctx context.Context, tx *store.Tx, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	jobCancel(ctx context.Context, id int64) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	stopAndCancel(ctx context.Context) error
}

type riverClient[TTx any] struct {
	c    *river.Client[TTx]
	txOf func(*store.Tx) TTx
}

func (r riverClient[TTx]) insertTx(ctx context.Context, tx *store.Tx, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := r.c.InsertTx(ctx, r.txOf(tx), args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (r riverClient[TTx]) insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := r.c.Insert(ctx, args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (r riverClient[TTx]) jobCancel(ctx context.Context, id int64) error {
	_, err := r.c.JobCancel(ctx, id)
	return err
}
func (r riverClient[TTx]) start(ctx context.Context) error         { return r.c.Start(ctx) }
func (r riverClient[TTx]) stop(ctx context.Context) error          { return r.c.Stop(ctx) }
func (r riverClient[TTx]) stopAndCancel(ctx context.Context) error { return r.c.StopAndCancel(ctx) }

// maxJobAttempts is river's own limit; the run's retry budget lives in
// its record (store.Run.MaxAttempts), so river must never give up first.
const maxJobAttempts = 1000

// New migrates river's schema on db and builds the queue with h working
// its jobs. With a nil h the queue only inserts (a client-only node).
func New(ctx context.Context, st *store.Store, cfg Config, h Handler) (*Queue, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 15 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = Backoff(10*time.Second, time.Hour)
	}
	if cfg.WebhookDelay == nil {
		cfg.WebhookDelay = Backoff(time.Second, 10*time.Minute)
	}
	db := st.DB()
	q := &Queue{db: db, cfg: cfg}

	workers := river.NewWorkers()
	if h != nil {
		river.AddWorker(workers, &runWorker{h: h, cfg: cfg})
		river.AddWorker(workers, &webhookWorker{h: h, cfg: cfg})
	}
	jobTimeout := cfg.RunTimeout + time.Minute
	rc := &river.Config{
		ID:                   cfg.NodeID,
		Workers:              workers,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: 10*jobTimeout + time.Hour,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        cfg.PollInterval / 5,
		MaxAttempts:          maxJobAttempts,
		Logger:               quiet(cfg.Logger),
		// Records live in berth_runs; river's finished rows are only
		// kept a little while for debugging.
		CompletedJobRetentionPeriod: time.Hour,
	}
	if h != nil {
		rc.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.Concurrency},
			webhookQueue:       {MaxWorkers: 2},
		}
	}
	var err error
	switch db.Dialect {
	case store.SQLite:
		drv := riversqlite.New(db.SQL)
		err = st.WithMigrationLock(ctx, func() error { return migrate(ctx, drv) })
		if err == nil {
			var c *river.Client[*sql.Tx]
			c, err = river.NewClient(drv, rc)
			q.client = riverClient[*sql.Tx]{c: c, txOf: func(tx *store.Tx) *sql.Tx { return tx.Raw().(*sql.Tx) }}
		}
	case store.Postgres:
		drv := riverpgxv5.New(db.Pool)
		err = st.WithMigrationLock(ctx, func() error { return migrate(ctx, drv) })
		if err == nil {
			var c *river.Client[pgx.Tx]
			c, err = river.NewClient(drv, rc)
			q.client = riverClient[pgx.Tx]{c: c, txOf: func(tx *store.Tx) pgx.Tx { return tx.Raw().(pgx.Tx) }}
		}
	default:
		err = fmt.Errorf("unsupported database %q", db.Dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("setting up the job queue: %w", err)
	}
	return q, nil
}

const webhookQueue = "berth_webhook"

func migrate[TTx any](ctx context.Context, drv riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating the queue schema: %w", err)
	}
	return nil
}

// quiet keeps river's own logs at warning level and above.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

// EnqueueRun inserts the job carrying a run in tx and returns its id.
func (q *Queue) EnqueueRun(ctx context.Context, tx *store.Tx, runID string, steps int, at time.Time) (int64, error) {
	opts := &river.InsertOpts{MaxAttempts: maxJobAttempts}
	if !at.IsZero() {
		opts.ScheduledAt = at
	}
	id, err := q.client.insertTx(ctx, tx, RunArgs{RunID: runID, Steps: steps}, opts)
	if err != nil {
		return 0, fmt.Errorf("queueing run %s: %w", runID, err)
	}
	return id, nil
}

// EnqueueRunNow inserts the job carrying a run outside any transaction
// (the run must be committed already). Unlike a transactional insert it
// wakes this node's workers at once: SQLite has no LISTEN/NOTIFY, so a
// job queued in a transaction waits for the next poll.
func (q *Queue) EnqueueRunNow(ctx context.Context, runID string, steps int) (int64, error) {
	id, err := q.client.insert(ctx, RunArgs{RunID: runID, Steps: steps}, &river.InsertOpts{MaxAttempts: maxJobAttempts})
	if err != nil {
		return 0, fmt.Errorf("queueing run %s: %w", runID, err)
	}
	return id, nil
}

// WebhookAttempts is how often a webhook delivery is tried before it is
// given up.
const WebhookAttempts = 25

// EnqueueWebhook inserts the job delivering a run's result in tx and
// returns its id; prior counts the attempts an earlier job made.
func (q *Queue) EnqueueWebhook(ctx context.Context, tx *store.Tx, runID string, prior int) (int64, error) {
	prior = min(max(prior, 0), WebhookAttempts-1)
	id, err := q.client.insertTx(ctx, tx, WebhookArgs{RunID: runID, Prior: prior}, &river.InsertOpts{Queue: webhookQueue, MaxAttempts: WebhookAttempts - prior})
	if err != nil {
		return 0, fmt.Errorf("queueing the webhook of run %s: %w", runID, err)
	}
	return id, nil
}

// CancelJob cancels a job that has not started (a started one is left to
// the handler, which watches the run's cancel flag).
func (q *Queue) CancelJob(ctx context.Context, jobID int64) error {
	err := q.client.jobCancel(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil
	}
	return err
}

// Start starts working jobs.
func (q *Queue) Start(ctx context.Context) error { return q.client.start(ctx) }

// Stop stops fetching jobs and waits for running ones until ctx is done,
// then cancels them and waits for them to return.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.stop(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return q.client.stopAndCancel(hard)
}

// Backoff returns exponential delays: base, 2×base, 4×base … up to max.
func Backoff(base, max time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	h   Handler
	cfg Config
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.h.Run(ctx, job.Args.RunID, job.ID, job.Attempt)
}

func (w *runWorker) Timeout(job *river.Job[RunArgs]) time.Duration {
	return w.cfg.RunTimeout*time.Duration(max(job.Args.Steps, 1)) + time.Minute
}

func (w *runWorker) NextRetry(job *river.Job[RunArgs]) time.Time {
	return time.Now().Add(w.cfg.RetryDelay(job.Attempt))
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	h   Handler
	cfg Config
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	return w.h.Deliver(ctx, job.Args.RunID, job.ID, job.Args.Prior+job.Attempt)
}

func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration { return time.Minute }

func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	return time.Now().Add(w.cfg.WebhookDelay(job.Args.Prior + job.Attempt))
}

var _ rivertype.JobArgs = RunArgs{}
