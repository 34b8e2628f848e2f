package store

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once; the position in the list is
// the schema version. Only portable SQL: TEXT, INTEGER, BIGINT; times are
// Unix milliseconds, JSON is TEXT.
var migrations = []string{
	`CREATE TABLE berth_addons (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		version TEXT NOT NULL,
		source TEXT NOT NULL,
		hash TEXT NOT NULL,
		dir TEXT NOT NULL,
		pure INTEGER NOT NULL,
		info TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		updated_ms BIGINT NOT NULL
	);
	CREATE TABLE berth_run_configs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		enabled INTEGER NOT NULL,
		triggers TEXT NOT NULL,
		schedule TEXT NOT NULL,
		body TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		updated_ms BIGINT NOT NULL
	);
	CREATE TABLE berth_runs (
		id TEXT PRIMARY KEY,
		config_id TEXT NOT NULL,
		trigger_name TEXT NOT NULL,
		state TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		max_attempts INTEGER NOT NULL,
		pure INTEGER NOT NULL,
		spec TEXT NOT NULL,
		node TEXT NOT NULL,
		job_id BIGINT NOT NULL,
		error TEXT NOT NULL,
		result TEXT NOT NULL,
		logs TEXT NOT NULL,
		cancel_requested INTEGER NOT NULL,
		webhook_state TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		started_ms BIGINT NOT NULL,
		finished_ms BIGINT NOT NULL
	);
	CREATE INDEX berth_runs_created ON berth_runs (created_ms);
	CREATE INDEX berth_runs_state ON berth_runs (state);
	CREATE TABLE berth_nodes (
		id TEXT PRIMARY KEY,
		started_ms BIGINT NOT NULL,
		heartbeat_ms BIGINT NOT NULL,
		runs_done BIGINT NOT NULL
	);`,
	// The webhook delivery of a run: the queue job that carries it, and
	// while an attempt is in flight the node making it and the attempt's
	// number, so that a dead node's delivery is handed to a new job.
	`ALTER TABLE berth_runs ADD COLUMN webhook_job BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE berth_runs ADD COLUMN webhook_node TEXT NOT NULL DEFAULT '';
	ALTER TABLE berth_runs ADD COLUMN webhook_attempt INTEGER NOT NULL DEFAULT 0;`,
	// A run's combined output, stored once (it was inside result, once
	// combined and once per addon) and read only when asked for; its
	// size in bytes lets lists say how big it is without reading it.
	`ALTER TABLE berth_runs ADD COLUMN output TEXT NOT NULL DEFAULT '';
	ALTER TABLE berth_runs ADD COLUMN output_size BIGINT NOT NULL DEFAULT 0;`,
	// Content-addressed blobs (store/blobs.go) in the database the nodes
	// share: addon packages and run output files, in chunks of
	// BlobChunkSize (BYTEA is PostgreSQL's bytes; SQLite stores the
	// bytes as they are). An addon's package is the hash of its files'
	// archive; berth_run_files lists a run's output files.
	`CREATE TABLE berth_blobs (
		hash TEXT PRIMARY KEY,
		size BIGINT NOT NULL,
		chunks INTEGER NOT NULL,
		touched_ms BIGINT NOT NULL
	);
	CREATE TABLE berth_blob_chunks (
		hash TEXT NOT NULL,
		seq INTEGER NOT NULL,
		data BYTEA NOT NULL,
		PRIMARY KEY (hash, seq)
	);
	CREATE TABLE berth_run_files (
		run_id TEXT NOT NULL,
		path TEXT NOT NULL,
		hash TEXT NOT NULL,
		size BIGINT NOT NULL,
		PRIMARY KEY (run_id, path)
	);
	CREATE INDEX berth_run_files_hash ON berth_run_files (hash);
	ALTER TABLE berth_addons ADD COLUMN package TEXT NOT NULL DEFAULT '';`,
	// A run's log lines as they arrive (store/logs.go), every attempt's,
	// numbered per run (seq is the follow cursor); and the idempotency
	// keys of POST /v1/events with the runs each created, unique across
	// the nodes (stored in the transaction that stores the runs).
	`CREATE TABLE berth_run_logs (
		run_id TEXT NOT NULL,
		seq BIGINT NOT NULL,
		attempt INTEGER NOT NULL,
		stream TEXT NOT NULL,
		ts_ms BIGINT NOT NULL,
		line TEXT NOT NULL,
		dropped BIGINT NOT NULL,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE berth_idempotency (
		idem_key TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		run_ids TEXT NOT NULL,
		created_ms BIGINT NOT NULL
	);
	CREATE INDEX berth_idempotency_created ON berth_idempotency (created_ms);`,
}

// Migrate brings the schema up to date. On PostgreSQL an advisory lock
// serialises nodes starting at the same time; SQLite is single-process.
func (s *Store) Migrate(ctx context.Context) error { return s.MigrateTo(ctx, len(migrations)) }

// SchemaVersion is the schema version Migrate brings a database to.
func SchemaVersion() int { return len(migrations) }

// MigrateTo brings the schema to version, as the release that had it
// left it (upgrade tests build an old database with it); a database
// with a newer version is refused.
func (s *Store) MigrateTo(ctx context.Context, target int) error {
	if target < 1 || target > len(migrations) {
		return fmt.Errorf("schema version %d: this berth knows versions 1 to %d", target, len(migrations))
	}
	return s.withMigrationLock(ctx, func() error {
		if _, err := s.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS berth_schema (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("creating berth_schema: %w", err)
		}
		return s.db.InTx(ctx, func(tx *Tx) error {
			rows, err := tx.Query(ctx, `SELECT version FROM berth_schema`)
			if err != nil {
				return err
			}
			version, found := 0, false
			for rows.Next() {
				if err := rows.Scan(&version); err != nil {
					rows.Close()
					return err
				}
				found = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if version > len(migrations) {
				return fmt.Errorf("the database schema (version %d) is newer than this berth (version %d): upgrade berth", version, len(migrations))
			}
			for i := version; i < target; i++ {
				if _, err := tx.Exec(ctx, migrations[i]); err != nil {
					return fmt.Errorf("schema migration %d: %w", i+1, err)
				}
			}
			if version >= target {
				return nil
			}
			if !found {
				_, err = tx.Exec(ctx, `INSERT INTO berth_schema (version) VALUES ($1)`, target)
			} else {
				_, err = tx.Exec(ctx, `UPDATE berth_schema SET version = $1`, target)
			}
			return err
		})
	})
}

// migrationLockKey is an arbitrary constant shared by every berth node.
const migrationLockKey = 84700001

// WithMigrationLock runs fn while holding the cluster-wide migration lock
// (PostgreSQL), so the job queue's migrations can share it.
func (s *Store) withMigrationLock(ctx context.Context, fn func() error) error {
	if s.db.Pool == nil {
		return fn()
	}
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey) //nolint:errcheck
	return fn()
}

// WithMigrationLock is withMigrationLock for other packages' migrations.
func (s *Store) WithMigrationLock(ctx context.Context, fn func() error) error {
	return s.withMigrationLock(ctx, fn)
}
