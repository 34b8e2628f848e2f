package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

func TestANodeWhoseClockIsOffIsNotDeclaredDead(t *testing.T) {
	skewed := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	cases := []struct {
		name            string
		runner, watcher func() time.Time
	}{
		{"when the running node's clock is an hour behind", skewed(-time.Hour), nil},
		{"when the watching node's clock is an hour ahead", nil, skewed(time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := storetest.Postgres(t)
			// node-timeout is 2s: the run outlasts it, so the watcher
			// judges the runner's heartbeats several times meanwhile.
			runner := startNode(t, nodeOpts{dbURL: db, nodeID: "runner", clock: c.runner})
			a := runner.install(fixture("impure-sleep"))
			id := runner.runAdhoc(a.ID, "4")
			runner.wait(id, "running", func(r runV) bool { return r.State == "running" })
			startNode(t, nodeOpts{dbURL: db, nodeID: "watcher", clock: c.watcher})
			r := runner.waitFinal(id)
			if r.State != "succeeded" || r.Attempts != 1 || r.Node != "runner" || strings.Contains(r.Error, "interrupted") {
				t.Fatalf("run = %+v, want succeeded on its only attempt on the runner (an impure run taken over from a live node fails)", r)
			}
		})
	}
}
