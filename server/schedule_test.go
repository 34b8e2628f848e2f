package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/berth-dev/berth/store"
)

// Scheduled runs are named by their firing time, so that nodes sharing
// a queue store one run per firing; that holds only if every node
// computes the same firing times, whenever it started.
func TestEveryNodeComputesTheSameFiringTimes(t *testing.T) {
	cases := []struct{ expr string }{{"@every 90s"}, {"@every 7s"}, {"@every 1h"}, {"*/5 * * * *"}, {"@daily"}}
	base := time.Date(2026, 11, 25, 14, 0, 3, 0, time.UTC)
	for _, c := range cases {
		t.Run(c.expr+" fires at the same times on nodes started apart", func(t *testing.T) {
			sched, err := parseSchedule(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			// Node one started at base, node two a little later; both
			// look for the firing after node two's start.
			one := sched.Next(base)
			for one.Before(base.Add(2 * time.Second)) {
				one = sched.Next(one)
			}
			two := sched.Next(base.Add(2 * time.Second))
			if !one.Equal(two) {
				t.Fatalf("node one fires at %s, node two at %s: each would queue its own run", one, two)
			}
		})
	}
}

func TestAScheduleThatNeverFiresDoesNotHangTheScheduler(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	// Stored directly: validation refuses it now, an older berth did not.
	body, _ := json.Marshal(runConfig{ID: "rc_feb30", Name: "feb 30", Enabled: true, Trigger: []string{"scheduled"}, Schedule: "0 0 30 2 *"})
	if err := s.st.PutRunConfig(ctx, nil, store.RunConfig{ID: "rc_feb30", Name: "feb 30", Enabled: true, Triggers: []string{"scheduled"},
		Schedule: "0 0 30 2 *", Body: body, Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		for range 2 { // the first call only notes the start time
			done <- s.schedule(ctx)
		}
	}()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the scheduler did not return: it loops on a schedule whose next firing is the zero time")
		}
	}
}
