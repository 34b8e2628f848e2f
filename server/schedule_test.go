package server

import (
	"testing"
	"time"
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
