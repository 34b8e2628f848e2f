package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store"
)

// newTestServer builds a node on SQLite in a temporary directory,
// without serving.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	cfg := config.Default()
	base := t.TempDir()
	cfg.DataDir, cfg.WorkingDir, cfg.CacheDir = filepath.Join(base, "data"), filepath.Join(base, "work"), filepath.Join(base, "cache")
	cfg.Runners, cfg.Sandbox = []string{"trivial"}, "none"
	cfg.Outbound.AllowLoopback = true // the webhook servers listen on 127.0.0.1
	set := settings.Default()
	set.Listen = "127.0.0.1:0"
	s, err := New(context.Background(), cfg, set, Options{NodeID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestAWebhookGivenUpAfterTheLastAttemptSaysSo(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	s := newTestServer(t)
	ctx := context.Background()
	spec, _ := json.Marshal(runSpec{Webhook: hook.URL})
	if _, err := s.st.InsertRun(ctx, nil, store.Run{ID: "run_x", State: store.Failed, Spec: spec, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		attempt int
		want    string
	}{{1, "retrying"}, {queue.WebhookAttempts - 1, "retrying"}, {queue.WebhookAttempts, "failed"}}
	for _, c := range cases {
		if err := s.Deliver(ctx, "run_x", 1, c.attempt); err == nil {
			t.Fatalf("attempt %d: Deliver = nil, want the refusal", c.attempt)
		}
		r, err := s.st.GetRun(ctx, nil, "run_x")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.WebhookState, c.want) {
			t.Fatalf("after attempt %d of %d webhookState = %q, want %s", c.attempt, queue.WebhookAttempts, r.WebhookState, c.want)
		}
	}
}
