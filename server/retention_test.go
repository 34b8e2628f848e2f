package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store/storetest"
)

func TestRetentionRemovesFinishedRunsAndTheirFiles(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { retention(t, "") })
	t.Run("on postgres", func(t *testing.T) { retention(t, storetest.Postgres(t)) })
}

func retention(t *testing.T, dbURL string) {
	dataDir := filepath.Join(t.TempDir(), "data")
	n := startNode(t, nodeOpts{dbURL: dbURL, dataDir: dataDir, set: func(s *settings.Serve) { s.Retention = settings.Duration(time.Second) }})
	a := n.install(hello())
	id := n.runAdhoc(a.ID, "short-lived")
	if r := n.waitFinal(id); r.State != "succeeded" {
		t.Fatalf("run = %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "runs", id, "output", "greeting.txt")); err != nil {
		t.Fatalf("the run's output file is missing right after the run: %v", err)
	}
	eventually(t, "the run and its files are removed after the retention period", func() error {
		var e apiErr
		if code := n.call("GET", "/v1/runs/"+id, nil, &e); code != http.StatusNotFound {
			return fmt.Errorf("GET the run = %d, want 404", code)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "runs", id)); !os.IsNotExist(err) {
			return fmt.Errorf("the run's files are still there: %v", err)
		}
		return nil
	})
}
