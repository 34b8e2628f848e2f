package service_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/service"
)

// TestLeaveKeepsContainersRunningForTheNextSupervisorToAdopt: the daemon
// shutting down (or being replaced) must not restart a running, healthy
// container: Leave ends Run with the container untouched, and the next
// supervisor of the project attaches to it (plan: unchanged).
func TestLeaveKeepsContainersRunningForTheNextSupervisorToAdopt(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}db:
    image: {{IMG}}
    cmd: `+loop+`
    stopTimeout: 2s
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 3}
  {{P}}app:
    image: {{IMG}}
    dependsOn: [{name: "{{P}}db", condition: healthy}]
    cmd: `+loop+`
    stopTimeout: 2s
`)
			db, app := s.p+"db", s.p+"app"
			sup, stop := s.up()
			s.wait(sup, db, "healthy", func(st service.Status) bool { return st.Health == "healthy" })
			s.waitState(sup, app, service.Running)
			ctx := context.Background()
			before := map[string]string{}
			for _, n := range []string{db, app} {
				info, err := eng.InspectContainer(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				before[n] = info.ID + " " + info.StartedAt.String()
			}
			sup.Leave()
			if err := stop(); err != nil {
				t.Fatalf("Run after Leave: %v", err)
			}
			if service.Locked(sup.StateDir()) {
				t.Fatal("the state directory is still locked after Run returned")
			}
			for _, n := range []string{db, app} {
				info, err := eng.InspectContainer(ctx, n)
				if err != nil || !info.Running {
					t.Fatalf("%s after Leave: running %v, err %v; want it left running", n, info.Running, err)
				}
			}

			sup2, stop2 := s.up()
			s.wait(sup2, db, "healthy", func(st service.Status) bool { return st.Health == "healthy" })
			s.waitState(sup2, app, service.Running)
			for _, ch := range sup2.Plan().Changes {
				if ch.Action != service.Unchanged {
					t.Errorf("second supervisor's plan: %s %s (%s), want unchanged", ch.Action, ch.Name, ch.Reason)
				}
			}
			for _, n := range []string{db, app} {
				info, err := eng.InspectContainer(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if got := info.ID + " " + info.StartedAt.String(); got != before[n] {
					t.Errorf("%s was restarted: id and start %s, before %s", n, got, before[n])
				}
			}
			if err := stop2(); err != nil {
				t.Fatal(err)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("left behind after the second supervisor stopped: %v", left)
			}
		})
	}
}
