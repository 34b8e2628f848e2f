package store

import (
	"context"
	"sync"
	"testing"

	"github.com/berth-dev/berth/store/storetest"
)

// openRaw opens the named database without migrating it.
func openRaw(t *testing.T, url string) *Store {
	t.Helper()
	db, err := Open(context.Background(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return New(db)
}

func TestMigrationsUpgradeADatabaseOfSchemaVersion1(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) {
			url := ""
			if kind == "postgres" {
				url = storetest.Postgres(t)
			}
			ctx := context.Background()
			st := openRaw(t, url)
			// The database as the berth before migration 2 left it, with
			// a finished run whose webhook is still to be delivered.
			if _, err := st.db.Exec(ctx, migrations[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := st.db.Exec(ctx, `CREATE TABLE berth_schema (version INTEGER NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			if _, err := st.db.Exec(ctx, `INSERT INTO berth_schema (version) VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			if _, err := st.db.Exec(ctx, `INSERT INTO berth_runs (id, config_id, trigger_name, state, attempts, max_attempts, pure, spec, node, job_id,
				error, result, logs, cancel_requested, webhook_state, created_ms, started_ms, finished_ms)
				VALUES ('run_old', '', 'manual', 'succeeded', 1, 1, 1, '{}', 'n1', 7, '', '{}', '[]', 0, 'pending', 1, 2, 3)`); err != nil {
				t.Fatal(err)
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrating a version 1 database: %v", err)
			}
			r, err := st.GetRun(ctx, nil, "run_old")
			if err != nil || r.WebhookState != "pending" || r.State != "succeeded" {
				t.Fatalf("the old run after migrating = %+v, %v", r, err)
			}
			// The webhook job queued by the old berth carries no job id
			// in the run: it must still be able to deliver.
			ok, err := st.StartDelivery(ctx, nil, "run_old", 42, "n2", 1)
			if err != nil || !ok {
				t.Fatalf("StartDelivery of the old run's webhook = %v, %v; want true", ok, err)
			}
			var versions []int
			versions, err = queryAll(ctx, st.db, func(r Rows) (int, error) { var v int; return v, r.Scan(&v) }, `SELECT version FROM berth_schema`)
			if err != nil || len(versions) != 1 || versions[0] != len(migrations) {
				t.Fatalf("berth_schema = %v, %v; want one row with %d", versions, err, len(migrations))
			}
		})
	}
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	url := storetest.Postgres(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		st := openRaw(t, url)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = st.Migrate(ctx) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Migrate: %v", i, err)
		}
	}
	st := openRaw(t, url)
	versions, err := queryAll(ctx, st.db, func(r Rows) (int, error) { var v int; return v, r.Scan(&v) }, `SELECT version FROM berth_schema`)
	if err != nil || len(versions) != 1 || versions[0] != len(migrations) {
		t.Fatalf("berth_schema = %v, %v; want one row with %d", versions, err, len(migrations))
	}
}

func TestAFailedMigrationLeavesTheSchemaAsItWas(t *testing.T) {
	// A migration runs in one transaction with the version update: a
	// daemon killed (or failing) midway leaves the previous version,
	// which the next start migrates again.
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) {
			url := ""
			if kind == "postgres" {
				url = storetest.Postgres(t)
			}
			ctx := context.Background()
			st := openRaw(t, url)
			saved := migrations
			t.Cleanup(func() { migrations = saved })
			migrations = append(append([]string{}, saved...), `ALTER TABLE berth_runs ADD COLUMN extra INTEGER NOT NULL DEFAULT 0; SELECT no_such_column FROM berth_runs;`)
			if err := st.Migrate(ctx); err == nil {
				t.Fatal("a failing migration did not fail")
			}
			migrations = saved
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrating after a failed migration: %v", err)
			}
			if _, err := st.db.Exec(ctx, `SELECT webhook_job FROM berth_runs`); err != nil {
				t.Fatalf("the schema after migrating again lacks migration 2: %v", err)
			}
		})
	}
}
