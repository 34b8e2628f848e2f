package server_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
)

func TestGracefulShutdown(t *testing.T) {
	cases := []struct {
		name, fixture, seconds string
		grace                  time.Duration
		state                  string
		attempts               int
		errText                string
	}{
		{name: "a run that ends within the grace period finishes", fixture: "sleep", seconds: "1", grace: 20 * time.Second, state: "succeeded", attempts: 1},
		{name: "a pure run cut off by the grace period runs again after the restart", fixture: "sleep", seconds: "3", grace: 200 * time.Millisecond, state: "succeeded", attempts: 2},
		{name: "an impure run cut off by the grace period fails", fixture: "impure-sleep", seconds: "3", grace: 200 * time.Millisecond, state: "failed", attempts: 1, errText: "interrupted by shutdown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			opts := nodeOpts{dataDir: data, nodeID: "n", set: func(s *settings.Serve) { s.ShutdownGrace = settings.Duration(c.grace) }}
			n := startNode(t, opts)
			a := n.install(fixture(c.fixture))
			id := n.runAdhoc(a.ID, c.seconds)
			n.wait(id, "running", func(r runV) bool { return r.State == "running" })
			n.stop()

			again := startNode(t, opts)
			r := again.waitFinal(id)
			if r.State != c.state || r.Attempts != c.attempts || !strings.Contains(r.Error, c.errText) {
				t.Fatalf("after the restart the run is %+v, want %s after %d attempts (error mentioning %q)", r, c.state, c.attempts, c.errText)
			}
		})
	}
}

func TestANonLoopbackAddressNeedsATokenAndSQLiteOneProcess(t *testing.T) {
	set := testSettings()
	set.Listen = "0.0.0.0:0"
	if _, err := newServer(t, set, ""); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("New on 0.0.0.0 without tokens: err = %v, want a token error", err)
	}
	data := filepath.Join(t.TempDir(), "data")
	startNode(t, nodeOpts{dataDir: data})
	if _, err := newServer(t, testSettings(), data); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("a second node on the same SQLite file: err = %v, want it refused", err)
	}
}

func TestAShortInlineTokenIsRefusedWithoutShowingIt(t *testing.T) {
	set := testSettings()
	set.Listen = "0.0.0.0:0"
	set.Tokens = []string{"abc123"}
	_, err := newServer(t, set, "")
	if !errors.Is(err, server.ErrSettings) || strings.Contains(err.Error(), "abc123") || !strings.Contains(err.Error(), "16 characters") {
		t.Fatalf("New with a 6-character token: err = %v, want a settings error that does not show the token", err)
	}
}
