package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

func TestRetentionRemovesFinishedRunsAndTheirFiles(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { retention(t, "") })
	t.Run("on postgres", func(t *testing.T) { retention(t, storetest.Postgres(t)) })
}

// expiredRun is a finished run stored directly in the database, with an
// output file under dataDir/runs/<id>.
type expiredRun struct {
	id       string
	finished time.Duration // how long ago it ended
	webhook  string
}

func storeFinished(t *testing.T, dbURL, dataDir string, runs ...expiredRun) {
	t.Helper()
	ctx := context.Background()
	db, st := migratedStore(t, dbURL, dataDir)
	defer db.Close()
	for _, r := range runs {
		end := time.Now().Add(-r.finished)
		run := store.Run{ID: r.id, ConfigID: "retention", Trigger: "manual", State: store.Succeeded, Spec: []byte(`{}`),
			WebhookState: r.webhook, Created: end.Add(-time.Second), Started: end.Add(-time.Second), Finished: end}
		if _, err := st.InsertRun(ctx, nil, run); err != nil {
			t.Fatal(err)
		}
		writeOutput(t, dataDir, r.id, end)
	}
}

// writeOutput makes dataDir/runs/<id>/output/greeting.txt, modified at mtime.
func writeOutput(t *testing.T, dataDir, id string, mtime time.Time) {
	t.Helper()
	dir := filepath.Join(dataDir, "runs", id)
	if err := os.MkdirAll(filepath.Join(dir, "output"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "output", "greeting.txt"), []byte("hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "output"), dir} {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func retention(t *testing.T, dbURL string) {
	dataDir := filepath.Join(t.TempDir(), "data")
	storeFinished(t, dbURL, dataDir,
		expiredRun{id: "run_expired", finished: 2 * time.Hour},
		expiredRun{id: "run_recent", finished: 10 * time.Second},
		expiredRun{id: "run_webhook_pending", finished: 2 * time.Hour, webhook: "pending"},
		expiredRun{id: "run_webhook_retrying", finished: 2 * time.Hour, webhook: "retrying (attempt 3): the webhook answered 503"},
	)
	// The files of a run whose record is gone already (a node crashed
	// between removing the record and the files, or another node, which
	// has no access to this node's files, removed the record).
	writeOutput(t, dataDir, "run_orphaned_files", time.Now().Add(-2*time.Hour))
	n := startNode(t, nodeOpts{dbURL: dbURL, dataDir: dataDir, set: func(s *settings.Serve) { s.Retention = settings.Duration(time.Hour) }})
	runDir := func(id string) string { return filepath.Join(dataDir, "runs", id) }
	eventually(t, "the expired run and its files are removed by the sweep at start", func() error {
		var e apiErr
		if code := n.call("GET", "/v1/runs/run_expired", nil, &e); code != http.StatusNotFound {
			return fmt.Errorf("GET the expired run = %d, want 404", code)
		}
		if exists(runDir("run_expired")) {
			return fmt.Errorf("the expired run's files are still there")
		}
		return nil
	})
	t.Run("files left without a record are removed too", func(t *testing.T) {
		eventually(t, "the orphaned files are removed", func() error {
			if exists(runDir("run_orphaned_files")) {
				return fmt.Errorf("%s is still there", runDir("run_orphaned_files"))
			}
			return nil
		})
	})
	t.Run("a run that ended recently, or whose webhook is pending, is kept with its files", func(t *testing.T) {
		for _, id := range []string{"run_recent", "run_webhook_pending", "run_webhook_retrying"} {
			var r runV
			if code := n.call("GET", "/v1/runs/"+id, nil, &r); code != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", id, code)
			}
			if !exists(filepath.Join(runDir(id), "output", "greeting.txt")) {
				t.Errorf("the files of %s were removed", id)
			}
		}
	})
}

func TestRetentionJudgesAgeByTheDatabaseClock(t *testing.T) {
	// A sweeping node whose clock is two hours ahead, with a retention of
	// one hour, must not remove a run that another node finished just now.
	db := storetest.Postgres(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	storeFinished(t, db, dataDir,
		expiredRun{id: "run_expired", finished: 3 * time.Hour},
		expiredRun{id: "run_just_now", finished: time.Second},
	)
	ahead := func() time.Time { return time.Now().Add(2 * time.Hour) }
	n := startNode(t, nodeOpts{dbURL: db, dataDir: dataDir, nodeID: "ahead", clock: ahead,
		set: func(s *settings.Serve) { s.Retention = settings.Duration(time.Hour) }})
	eventually(t, "the expired run is removed", func() error {
		var e apiErr
		if code := n.call("GET", "/v1/runs/run_expired", nil, &e); code != http.StatusNotFound {
			return fmt.Errorf("GET the expired run = %d, want 404", code)
		}
		return nil
	})
	var r runV
	if code := n.call("GET", "/v1/runs/run_just_now", nil, &r); code != http.StatusOK {
		t.Fatalf("GET the run that ended a second ago = %d, want 200: a node with a fast clock removed it", code)
	}
}
