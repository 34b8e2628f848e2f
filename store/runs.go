package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Run states.
const (
	Queued    = "queued"
	Running   = "running"
	Succeeded = "succeeded"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Final reports whether a run in state will not change any more.
func Final(state string) bool {
	return state == Succeeded || state == Failed || state == Cancelled
}

// Run is one execution of a chain of addons, with every attempt.
type Run struct {
	ID       string
	ConfigID string
	Trigger  string
	State    string
	// Attempts counts started attempts; MaxAttempts bounds them.
	Attempts, MaxAttempts int
	Pure                  bool
	// Spec is the run's inputs as JSON (the server's shape).
	Spec []byte
	// Node is the node running it (or that last ran it), JobID the queue
	// job that currently carries it.
	Node  string
	JobID int64
	Error string
	// Result (JSON) and Logs (JSON) are those of the last attempt. Logs
	// is not read by ListRuns.
	Result, Logs []byte
	// OutputSize is the size of the run's combined output (JSON), which
	// only RunOutput reads.
	OutputSize       int64
	CancelRequested  bool
	WebhookState     string
	Created, Started time.Time
	Finished         time.Time
}

const runCols = `id, config_id, trigger_name, state, attempts, max_attempts, pure, spec, node, job_id, error, result, logs,
	cancel_requested, webhook_state, created_ms, started_ms, finished_ms`

// runReadCols are runCols as read: with the output's size, not the output.
const runReadCols = runCols + `, output_size`

// runListCols are runReadCols without the logs, for lists.
const runListCols = `id, config_id, trigger_name, state, attempts, max_attempts, pure, spec, node, job_id, error, result, '' AS logs,
	cancel_requested, webhook_state, created_ms, started_ms, finished_ms, output_size`

func scanRun(r Rows) (Run, error) {
	var x Run
	var pure, cancel int
	var spec, result, logs string
	var c, s, f int64
	err := r.Scan(&x.ID, &x.ConfigID, &x.Trigger, &x.State, &x.Attempts, &x.MaxAttempts, &pure, &spec, &x.Node, &x.JobID,
		&x.Error, &result, &logs, &cancel, &x.WebhookState, &c, &s, &f, &x.OutputSize)
	x.Pure, x.CancelRequested = pure != 0, cancel != 0
	x.Spec, x.Result, x.Logs = []byte(spec), []byte(result), []byte(logs)
	x.Created, x.Started, x.Finished = fromMS(c), fromMS(s), fromMS(f)
	return x, err
}

// InsertRun stores a new run. It returns false, without error, when a run
// with the same id exists (how scheduled runs stay unique across nodes).
func (s *Store) InsertRun(ctx context.Context, q Querier, r Run) (bool, error) {
	n, err := s.q(q).Exec(ctx, `INSERT INTO berth_runs (`+runCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.ConfigID, r.Trigger, r.State, r.Attempts, r.MaxAttempts, b2i(r.Pure), string(r.Spec), r.Node, r.JobID,
		r.Error, string(r.Result), string(r.Logs), b2i(r.CancelRequested), r.WebhookState, ms(r.Created), ms(r.Started), ms(r.Finished))
	if err != nil {
		return false, fmt.Errorf("storing run %s: %w", r.ID, err)
	}
	return n == 1, nil
}

// GetRun returns the run with id.
func (s *Store) GetRun(ctx context.Context, q Querier, id string) (Run, error) {
	rs, err := queryAll(ctx, s.q(q), scanRun, `SELECT `+runReadCols+` FROM berth_runs WHERE id = $1`, id)
	if err != nil {
		return Run{}, err
	}
	if len(rs) == 0 {
		return Run{}, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	return rs[0], nil
}

// RunFilter selects runs; zero fields do not filter.
type RunFilter struct {
	State, ConfigID string
	// Trigger keeps runs with this trigger, AddonID runs with this addon
	// among their steps.
	Trigger, AddonID string
	// Since and Until keep runs created at or after Since and before
	// Until (zero: no bound).
	Since, Until time.Time
	// Before keeps runs created before this time (the API's old paging
	// parameter: runs created in the same millisecond as the last one
	// seen are skipped; After does not skip any).
	Before time.Time
	// After keeps the runs that come after this one in the list's order
	// (newest first, then by id): paging by it neither skips nor repeats
	// runs created in the same millisecond.
	After *RunCursor
	Limit int
}

// RunCursor is a run's place in the list of runs: its creation time (in
// whole milliseconds, as stored) and its id.
type RunCursor struct {
	Created time.Time
	ID      string
}

// CursorOf returns r's place in the list of runs.
func CursorOf(r Run) RunCursor { return RunCursor{Created: r.Created, ID: r.ID} }

// ListRuns returns runs, newest first.
func (s *Store) ListRuns(ctx context.Context, q Querier, f RunFilter) ([]Run, error) {
	where, args := "1=1", []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.State != "" {
		add("state = $%d", f.State)
	}
	if f.ConfigID != "" {
		add("config_id = $%d", f.ConfigID)
	}
	if f.Trigger != "" {
		add("trigger_name = $%d", f.Trigger)
	}
	if f.AddonID != "" {
		// The spec is Go's compact JSON: a step's addon is the literal
		// "addonId":"<id>" (LIKE's wildcards in the id escaped).
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.AddonID)
		add(`spec LIKE $%d ESCAPE '\'`, `%"addonId":"`+esc+`"%`)
	}
	if !f.Since.IsZero() {
		add("created_ms >= $%d", ms(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_ms < $%d", ms(f.Until))
	}
	if !f.Before.IsZero() {
		add("created_ms < $%d", ms(f.Before))
	}
	if f.After != nil {
		args = append(args, f.After.Created.UnixMilli(), f.After.ID)
		where += fmt.Sprintf(" AND (created_ms < $%d OR (created_ms = $%d AND id < $%d))", len(args)-1, len(args)-1, len(args))
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return queryAll(ctx, s.q(q), scanRun, fmt.Sprintf(`SELECT `+runListCols+` FROM berth_runs WHERE %s ORDER BY created_ms DESC, id DESC LIMIT $%d`, where, len(args)), args...)
}

// RunOutput returns the combined output (JSON) of run id, empty when it
// has none.
func (s *Store) RunOutput(ctx context.Context, q Querier, id string) ([]byte, error) {
	v, err := queryAll(ctx, s.q(q), func(r Rows) (string, error) {
		var o string
		return o, r.Scan(&o)
	}, `SELECT output FROM berth_runs WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("reading the output of run %s: %w", id, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	return []byte(v[0]), nil
}

// SetRunJob records the queue job that carries the run.
func (s *Store) SetRunJob(ctx context.Context, q Querier, id string, jobID int64) error {
	_, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET job_id = $2 WHERE id = $1`, id, jobID)
	return err
}

// SetFirstRunJob records the first job of a run stored without one,
// unless a job claimed it already (the job may start before its id is
// recorded).
func (s *Store) SetFirstRunJob(ctx context.Context, q Querier, id string, jobID int64) error {
	_, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET job_id = $2 WHERE id = $1 AND job_id = 0`, id, jobID)
	return err
}

// StartAttempt marks the run running on node under jobID and counts the
// attempt; a run stored without a job is claimed by jobID. It fails with
// ErrConflict when the run is final or carried by another job.
func (s *Store) StartAttempt(ctx context.Context, q Querier, id, node string, jobID int64, now time.Time) (Run, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET state = 'running', attempts = attempts + 1, node = $2, started_ms = $4, error = '', job_id = $3
		WHERE id = $1 AND job_id IN (0, $3) AND state IN ('queued', 'running')`, id, node, jobID, ms(now))
	if err != nil {
		return Run{}, err
	}
	if n == 0 {
		return Run{}, fmt.Errorf("run %s is final or carried by another job: %w", id, ErrConflict)
	}
	return s.GetRun(ctx, q, id)
}

// Outcome is how an attempt ended.
type Outcome struct {
	State        string // Queued (a retry follows), Succeeded, Failed or Cancelled
	Error        string
	Result, Logs []byte
	// Output is the combined output (JSON); empty for none.
	Output       []byte
	WebhookState string
}

// FinishAttempt records the end of the attempt of jobID (which claims a
// run stored without a job); it does nothing and returns ErrConflict when
// another job carries the run by now.
func (s *Store) FinishAttempt(ctx context.Context, q Querier, id string, jobID int64, o Outcome, now time.Time) error {
	fin := int64(0)
	if Final(o.State) {
		fin = ms(now)
	}
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET state = $3, error = $4, result = $5, logs = $6, finished_ms = $7, webhook_state = $8, job_id = $2,
		output = $9, output_size = $10
		WHERE id = $1 AND job_id IN (0, $2) AND state IN ('queued', 'running')`,
		id, jobID, o.State, o.Error, string(o.Result), string(o.Logs), fin, o.WebhookState, string(o.Output), len(o.Output))
	if err != nil {
		return fmt.Errorf("recording the end of run %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("run %s: %w", id, ErrConflict)
	}
	return nil
}

// RequestCancel marks the run for cancellation. A queued run is
// cancelled at once (returns true); a running one is cancelled by the
// node running it, which watches the flag. A final run is ErrConflict.
func (s *Store) RequestCancel(ctx context.Context, q Querier, id string, now time.Time) (cancelledNow bool, err error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET state = 'cancelled', cancel_requested = 1, finished_ms = $2, error = 'cancelled before it started'
		WHERE id = $1 AND state = 'queued'`, id, ms(now))
	if err != nil {
		return false, err
	}
	if n == 1 {
		return true, nil
	}
	n, err = s.q(q).Exec(ctx, `UPDATE berth_runs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'`, id)
	if err != nil {
		return false, err
	}
	if n == 1 {
		return false, nil
	}
	r, err := s.GetRun(ctx, q, id)
	if err != nil {
		return false, err
	}
	return false, fmt.Errorf("run %s is already %s: %w", id, r.State, ErrConflict)
}

// CancelRequested reports whether cancellation of run id was requested.
func (s *Store) CancelRequested(ctx context.Context, q Querier, id string) (bool, error) {
	v, err := queryAll(ctx, s.q(q), func(r Rows) (int, error) {
		var c int
		return c, r.Scan(&c)
	}, `SELECT cancel_requested FROM berth_runs WHERE id = $1`, id)
	if err != nil || len(v) == 0 {
		return false, err
	}
	return v[0] != 0, nil
}

// SetWebhookState records how delivering the run's result went.
func (s *Store) SetWebhookState(ctx context.Context, q Querier, id, state string) error {
	_, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET webhook_state = $2 WHERE id = $1`, id, state)
	return err
}

// SetWebhookJob records the queue job that delivers the run's result.
func (s *Store) SetWebhookJob(ctx context.Context, q Querier, id string, jobID int64) error {
	_, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET webhook_job = $2, webhook_node = '' WHERE id = $1`, id, jobID)
	return err
}

// StartDelivery records that node makes attempt of the delivery carried
// by jobID. It returns false when another job carries the delivery by
// now (it was handed over when this job's node was taken for dead), or
// the run does not exist: the job then has nothing to do.
func (s *Store) StartDelivery(ctx context.Context, q Querier, id string, jobID int64, node string, attempt int) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET webhook_job = $2, webhook_node = $3, webhook_attempt = $4
		WHERE id = $1 AND webhook_job IN (0, $2)`, id, jobID, node, attempt)
	return n == 1, err
}

// EndDelivery records how the delivery attempt of jobID went; it is no
// longer in flight.
func (s *Store) EndDelivery(ctx context.Context, q Querier, id string, jobID int64, state string) error {
	_, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET webhook_state = $3, webhook_node = '' WHERE id = $1 AND webhook_job = $2`, id, jobID, state)
	return err
}

// OrphanDelivery is a webhook delivery that a node which is gone was
// making.
type OrphanDelivery struct {
	RunID, Node string
	JobID       int64
	// Attempt is the number of the interrupted attempt.
	Attempt int
}

// OrphanDeliveries returns the webhook deliveries in flight on nodes
// that have sent no heartbeat for staleAfter (by the database's clock),
// other than self; starting, self's count too (see Orphans).
func (s *Store) OrphanDeliveries(ctx context.Context, q Querier, self string, starting bool, staleAfter time.Duration) ([]OrphanDelivery, error) {
	cond := `r.webhook_node <> $1 AND (n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	if starting {
		cond = `(r.webhook_node = $1 OR n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	}
	return queryAll(ctx, s.q(q), func(r Rows) (OrphanDelivery, error) {
		var o OrphanDelivery
		return o, r.Scan(&o.RunID, &o.Node, &o.JobID, &o.Attempt)
	}, `SELECT r.id, r.webhook_node, r.webhook_job, r.webhook_attempt FROM berth_runs r LEFT JOIN berth_nodes n ON n.id = r.webhook_node
		WHERE r.webhook_node <> '' AND `+cond, self, staleAfter.Milliseconds())
}

// AdoptDelivery hands an orphaned delivery to the new job jobID. It
// returns false when another node adopted it first or it ended.
func (s *Store) AdoptDelivery(ctx context.Context, q Querier, o OrphanDelivery, jobID int64) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET webhook_job = $4, webhook_node = ''
		WHERE id = $1 AND webhook_node = $2 AND webhook_job = $3`, o.RunID, o.Node, o.JobID, jobID)
	return n == 1, err
}

// CountByState returns how many runs are in each state.
func (s *Store) CountByState(ctx context.Context, q Querier) (map[string]int, error) {
	type kv struct {
		k string
		v int
	}
	rows, err := queryAll(ctx, s.q(q), func(r Rows) (kv, error) {
		var x kv
		return x, r.Scan(&x.k, &x.v)
	}, `SELECT state, COUNT(*) FROM berth_runs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, x := range rows {
		out[x.k] = x.v
	}
	return out, nil
}

// Heartbeat records that node is alive and how many runs it finished.
// The heartbeat is stamped with the database's clock, never the node's:
// nodes whose clocks disagree judge each other's liveness on one clock.
func (s *Store) Heartbeat(ctx context.Context, q Querier, node string, started time.Time, done int64) error {
	_, err := s.q(q).Exec(ctx, `INSERT INTO berth_nodes (id, started_ms, heartbeat_ms, runs_done) VALUES ($1, $2, `+s.nowMS()+`, $3)
		ON CONFLICT (id) DO UPDATE SET heartbeat_ms = `+s.nowMS()+`, runs_done = $3`, node, ms(started), done)
	return err
}

// nowMS is the SQL for the database's current time in Unix
// milliseconds. With SQLite (one process) that is the process's clock.
func (s *Store) nowMS() string {
	if s.db.Dialect == Postgres {
		return `(EXTRACT(EPOCH FROM now()) * 1000)::BIGINT`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`
}

// Now returns the database's current time (what heartbeats are stamped
// with).
func (s *Store) Now(ctx context.Context, q Querier) (time.Time, error) {
	v, err := queryAll(ctx, s.q(q), func(r Rows) (int64, error) {
		var n int64
		return n, r.Scan(&n)
	}, `SELECT `+s.nowMS())
	if err != nil || len(v) == 0 {
		return time.Time{}, fmt.Errorf("reading the database's clock: %w", err)
	}
	return fromMS(v[0]), nil
}

// Node is a daemon process that shares the queue.
type Node struct {
	ID                 string
	Started, Heartbeat time.Time
	RunsDone           int64
}

// ListNodes returns the nodes seen, newest heartbeat first.
func (s *Store) ListNodes(ctx context.Context, q Querier) ([]Node, error) {
	return queryAll(ctx, s.q(q), func(r Rows) (Node, error) {
		var n Node
		var st, hb int64
		err := r.Scan(&n.ID, &st, &hb, &n.RunsDone)
		n.Started, n.Heartbeat = fromMS(st), fromMS(hb)
		return n, err
	}, `SELECT id, started_ms, heartbeat_ms, runs_done FROM berth_nodes ORDER BY heartbeat_ms DESC`)
}

// Orphan is a run left running (or waiting for a retry) by a node that
// is gone.
type Orphan struct {
	ID, Node string
	JobID    int64
}

// Orphans returns the runs in state running (or queued for a retry) whose
// node has sent no heartbeat for staleAfter, other than self's, and the
// runs queued more than staleAfter ago that never got a job (their node
// stopped between storing them and queueing the job). Heartbeats are
// judged by the database's clock, so the nodes' clocks do not matter. A
// retry's job is normally still in the queue; adopting it anyway only
// costs the backoff, since a job that no longer carries its run does
// nothing. When starting, self's runs are orphans whatever its heartbeat
// says: they belong to a previous process of the same name. A negative
// staleAfter makes every node's runs orphans (SQLite at start: the file
// lock proves no other process runs them).
func (s *Store) Orphans(ctx context.Context, q Querier, self string, starting bool, staleAfter time.Duration) ([]Orphan, error) {
	cond := `r.node <> $1 AND (n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	if starting {
		cond = `(r.node = $1 OR n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	}
	return queryAll(ctx, s.q(q), func(r Rows) (Orphan, error) {
		var o Orphan
		return o, r.Scan(&o.ID, &o.Node, &o.JobID)
	}, `SELECT r.id, r.node, r.job_id FROM berth_runs r LEFT JOIN berth_nodes n ON n.id = r.node
		WHERE (r.state = 'running' OR (r.state = 'queued' AND r.attempts > 0)) AND `+cond+`
		UNION ALL
		SELECT id, node, job_id FROM berth_runs WHERE state = 'queued' AND job_id = 0 AND created_ms < `+s.nowMS()+` - $2`, self, staleAfter.Milliseconds())
}

// FetchedOrphans returns the runs still queued whose queue job was
// fetched by a node that has sent no heartbeat for staleAfter (other
// than self; starting, self's count too, and a negative staleAfter makes
// every node's count, as in Orphans): the node died between taking the
// job and marking the run running, so the run's record names no node
// that Orphans could judge, and the job stays "running" in the queue
// until its rescuer looks, hours later. It reads the queue's job table
// (river_job, which package queue migrates), so call it only on a
// database the queue was set up on. The fetching node is the last one in
// the job's attempted_by.
func (s *Store) FetchedOrphans(ctx context.Context, q Querier, self string, starting bool, staleAfter time.Duration) ([]Orphan, error) {
	fetcher := `json_extract(j.attempted_by, '$[#-1]')`
	if s.db.Dialect == Postgres {
		fetcher = `j.attempted_by[array_upper(j.attempted_by, 1)]`
	}
	cond := `f.node <> $1 AND (n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	if starting {
		cond = `(f.node = $1 OR n.heartbeat_ms IS NULL OR n.heartbeat_ms < ` + s.nowMS() + ` - $2)`
	}
	rows, err := queryAll(ctx, s.q(q), func(r Rows) (Orphan, error) {
		var o Orphan
		return o, r.Scan(&o.ID, &o.Node, &o.JobID)
	}, `SELECT f.id, f.run_node, f.job_id FROM (
			SELECT r.id, r.node AS run_node, r.job_id, `+fetcher+` AS node FROM berth_runs r JOIN river_job j ON j.id = r.job_id
			WHERE r.state = 'queued' AND r.job_id <> 0 AND j.state = 'running') f
		LEFT JOIN berth_nodes n ON n.id = f.node
		WHERE f.node IS NOT NULL AND `+cond, self, staleAfter.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("looking for runs whose job a stopped node fetched: %w", err)
	}
	return rows, nil
}

// AdoptOrphan claims an orphaned run for node self, so that only one
// node hands it to a new queue job (the caller sets the job with
// SetRunJob in the same transaction). It returns false when another node
// adopted it first or it is no longer orphaned.
func (s *Store) AdoptOrphan(ctx context.Context, q Querier, o Orphan, self string) (bool, error) {
	n, err := s.q(q).Exec(ctx, `UPDATE berth_runs SET node = $4 WHERE id = $1 AND state IN ('running', 'queued') AND node = $2 AND job_id = $3`,
		o.ID, o.Node, o.JobID, self)
	return n == 1, err
}

// DeleteFinished removes up to limit runs that ended more than
// retention ago by the database's clock (so that a sweeping node whose
// own clock is ahead does not remove runs that just ended), are final
// and whose webhook delivery is neither pending, retrying nor in flight;
// it returns their ids. One statement selects and removes them, so a run
// that changes meanwhile is judged as it is when removed.
func (s *Store) DeleteFinished(ctx context.Context, q Querier, retention time.Duration, limit int) ([]string, error) {
	ids, err := queryAll(ctx, s.q(q), func(r Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `DELETE FROM berth_runs WHERE id IN (
		SELECT id FROM berth_runs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_ms > 0 AND finished_ms < `+s.nowMS()+` - $1
			AND webhook_node = '' AND webhook_state <> 'pending' AND webhook_state NOT LIKE 'retrying%'
		ORDER BY finished_ms LIMIT $2)
		AND state IN ('succeeded', 'failed', 'cancelled') AND webhook_node = '' AND webhook_state <> 'pending' AND webhook_state NOT LIKE 'retrying%'
		RETURNING id`, retention.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("removing finished runs: %w", err)
	}
	return ids, nil
}
