package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// failRunsOf makes the database refuse to store a run of the run
// configuration named name: a real failure in the middle of queueing an
// event.
func failRunsOf(t *testing.T, dbURL, dataDir, name string) {
	t.Helper()
	ctx := context.Background()
	db, _ := migratedStore(t, dbURL, dataDir)
	defer db.Close()
	ddl := `CREATE TRIGGER berth_test_refuse BEFORE INSERT ON berth_runs
		WHEN NEW.config_id IN (SELECT id FROM berth_run_configs WHERE name = '` + name + `')
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`
	if db.Dialect == store.Postgres {
		ddl = `CREATE FUNCTION berth_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.config_id IN (SELECT id FROM berth_run_configs WHERE name = '` + name + `') THEN
					RAISE EXCEPTION 'refused by the test';
				END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER berth_test_refuse BEFORE INSERT ON berth_runs FOR EACH ROW EXECUTE FUNCTION berth_test_refuse()`
	}
	if _, err := db.Exec(ctx, ddl); err != nil {
		t.Fatalf("creating the refusing trigger: %v", err)
	}
}

func TestAnEventIsQueuedWholeOrNotAtAll(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		failRunsOf(t, "", dataDir, "b-refused")
		partialEvent(t, startNode(t, nodeOpts{dataDir: dataDir}))
	})
	t.Run("on postgres", func(t *testing.T) {
		db := storetest.Postgres(t)
		n := startNode(t, nodeOpts{dbURL: db})
		failRunsOf(t, db, "", "b-refused")
		partialEvent(t, n)
	})
}

func partialEvent(t *testing.T, n *node) {
	a := n.install(hello())
	// Configurations are queued by name: a-… first, then b-refused fails.
	for _, name := range []string{"a-first", "b-refused", "c-last"} {
		n.config(map[string]any{"name": name, "enabled": true, "trigger": []string{"existing-item"},
			"addons": []map[string]string{{"addonId": a.ID, "args": name}}})
	}
	var e apiErr
	if code := n.call("POST", "/v1/events", map[string]any{"trigger": "existing-item", "item": map[string]any{"id": "i"}}, &e); code != http.StatusInternalServerError {
		t.Fatalf("event = %d %+v, want 500 (the database refused a run)", code, e)
	}
	var list struct{ Runs []runV }
	n.mustCall(200, "GET", "/v1/runs", nil, &list)
	if len(list.Runs) != 0 {
		t.Fatalf("after the refused event the daemon has runs %+v, want none (the event is queued whole or not at all)", list.Runs)
	}
}
