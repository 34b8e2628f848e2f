package service_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
)

// healthGated: app waits for db to be healthy (Compose's
// depends_on.condition service_healthy, compose-spec 05-services.md:415-417
// and 430-431), db's check passes only once it has made /tmp/ready.
const healthGated = `
backend: {{BACKEND}}
containers:
  {{P}}db:
    image: {{IMG}}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; sleep 2; touch /tmp/ready; while true; do sleep 0.1; done"]
    healthcheck: {test: [CMD, test, -e, /tmp/ready], interval: 300ms, retries: 50}
  {{P}}app:
    image: {{IMG}}
    dependsOn: [{name: "{{P}}db", condition: healthy}]
    cmd: ` + loop + `
`

func TestADependentWaitsForItsDependencyToBeHealthy(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), healthGated)
			db, app := s.p+"db", s.p+"app"
			sup, stop := s.up()
			s.waitState(sup, app, service.Running)
			healthyAt, appStartAt, dbRunningAt := -1, -1, -1
			s.mu.Lock()
			for i, e := range s.events {
				switch {
				case e.Name == db && e.State == service.Running && dbRunningAt < 0:
					dbRunningAt = i
				case e.Name == db && e.Health == service.HealthHealthy && healthyAt < 0:
					healthyAt = i
				case e.Name == app && e.State == service.Starting && appStartAt < 0:
					appStartAt = i
				}
			}
			s.mu.Unlock()
			if dbRunningAt < 0 || healthyAt < 0 || appStartAt < healthyAt {
				t.Errorf("app started at event %d, db running at %d and healthy at %d: want app after healthy\n%+v", appStartAt, dbRunningAt, healthyAt, s.events)
			}
			if !s.seen(app, service.Waiting, db+" (to be healthy)") {
				t.Errorf("app never said it waits for db to be healthy: %+v", s.events)
			}
			snap, err := service.ReadSnapshot(filepath.Join(s.dir, "state"))
			if err != nil || snap.Services[0].Name != db || snap.Services[0].Health != service.HealthHealthy {
				t.Errorf("state.json lacks db's health: %+v, %v", snap, err)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// onUnhealthy is Quadlet's HealthOnFailure= (podman-systemd.unit.5.md:648-654):
// restart kills the container and the restart policy starts it again;
// stop stops it for good; none only shows it.
const unhealthyStack = `
backend: {{BACKEND}}
containers:
  {{P}}restarted:
    image: {{IMG}}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; while true; do sleep 0.1; done"]
    healthcheck: {test: "test -e /tmp/ok", interval: 300ms, retries: 2}
    onUnhealthy: restart
    restartBackoff: {initial: 100ms}
  {{P}}stopped:
    image: {{IMG}}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; while true; do sleep 0.1; done"]
    healthcheck: {test: "test -e /tmp/ok", interval: 300ms, retries: 2}
    onUnhealthy: stop
  {{P}}shown:
    image: {{IMG}}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; while true; do sleep 0.1; done"]
    healthcheck: {test: "test -e /tmp/ok", interval: 300ms, retries: 2}
`

func TestAContainerTurningUnhealthyIsRestartedStoppedOrShown(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, unhealthyStack)
			restarted, stopped, shown := s.p+"restarted", s.p+"stopped", s.p+"shown"
			sup, stop := s.up()
			healthy := func(st service.Status) bool { return st.State == service.Running && st.Health == service.HealthHealthy }
			first := s.wait(sup, restarted, "healthy", healthy)
			s.wait(sup, stopped, "healthy", healthy)
			shownBefore := s.wait(sup, shown, "healthy", healthy)
			ctx := context.Background()
			for _, n := range []string{restarted, stopped, shown} {
				if _, err := eng.Run(ctx, []string{"exec", n, "rm", "/tmp/ok"}, engine.RunOpts{}); err != nil {
					t.Fatalf("%v\nstatus %+v\nlog:\n%s", err, sup.Status(), s.logOf(n))
				}
			}

			t.Run("restart: a new container, healthy again", func(t *testing.T) {
				st := s.wait(sup, restarted, "healthy in a new container", func(st service.Status) bool {
					return healthy(st) && st.ContainerID != first.ContainerID
				})
				if st.Restarts != 1 || !s.seen(restarted, service.Unhealthy, "health check failing") {
					t.Errorf("restarts = %d, events %+v", st.Restarts, s.events)
				}
				if !s.seen(restarted, service.Backoff, "unhealthy (onUnhealthy: restart)") {
					t.Errorf("the restart did not say why: %+v", s.events)
				}
			})
			t.Run("stop: stopped, and its container gone", func(t *testing.T) {
				st := s.waitState(sup, stopped, service.Stopped)
				if !strings.Contains(st.Reason, "onUnhealthy: stop") {
					t.Errorf("reason = %q", st.Reason)
				}
				if _, err := eng.InspectContainer(ctx, stopped); err == nil {
					t.Errorf("the container of a service stopped as unhealthy still exists")
				}
			})
			t.Run("none: unhealthy, the same container, running again once the check passes", func(t *testing.T) {
				st := s.waitState(sup, shown, service.Unhealthy)
				if st.ContainerID != shownBefore.ContainerID || st.Health != service.HealthUnhealthy {
					t.Errorf("unhealthy status = %+v (before %s)", st, shownBefore.ContainerID)
				}
				if _, err := eng.Run(ctx, []string{"exec", shown, "touch", "/tmp/ok"}, engine.RunOpts{}); err != nil {
					t.Fatal(err)
				}
				st = s.wait(sup, shown, "healthy again", healthy)
				if st.ContainerID != shownBefore.ContainerID || st.Restarts != 0 {
					t.Errorf("status = %+v", st)
				}
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// completed-successfully: app waits for migrate to exit 0
// (compose-spec 05-services.md:418-419) and keeps running after it.
const completedStack = `
backend: {{BACKEND}}
containers:
  {{P}}migrate:
    image: {{IMG}}
    cmd: ["sh", "-c", "sleep 1; echo migrated"]
    restart: "no"
  {{P}}app:
    image: {{IMG}}
    dependsOn: [{name: "{{P}}migrate", condition: completed-successfully}]
    cmd: ` + loop + `
`

func TestADependentWaitsForItsDependencyToComplete(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), completedStack)
			migrate, app := s.p+"migrate", s.p+"app"
			sup, stop := s.up()
			s.waitState(sup, app, service.Running)
			if m, a := s.index(migrate, service.Stopped), s.index(app, service.Starting); m < 0 || a < m {
				t.Errorf("app started at event %d, migrate stopped at %d", a, m)
			}
			if !s.seen(app, service.Waiting, migrate+" (to complete successfully)") {
				t.Errorf("app never said it waits for migrate: %+v", s.events)
			}
			for _, st := range sup.Status() {
				if st.Name == app && st.State != service.Running {
					t.Errorf("app after migrate completed: %+v", st)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Without a healthcheck key the image's own HEALTHCHECK applies (Compose:
// "works in the same way ... as the HEALTHCHECK Dockerfile instruction",
// compose-spec 05-services.md:1009-1011). docker only: podman build
// writes OCI images, which drop HEALTHCHECK.
func TestTheImagesOwnHealthcheckGatesADependent(t *testing.T) {
	eng := engines["docker"](t)
	s := newStack(t, eng, `
backend: docker
containers:
  {{P}}db:
    image: berth-test/healthy:1
    cmd: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while true; do sleep 0.1; done"]
  {{P}}nocheck:
    image: {{IMG}}
    cmd: `+loop+`
  {{P}}app:
    image: {{IMG}}
    dependsOn: [{name: "{{P}}db", condition: healthy}]
    cmd: `+loop+`
  {{P}}stuck:
    image: {{IMG}}
    dependsOn: [{name: "{{P}}nocheck", condition: healthy}]
    cmd: `+loop+`
`)
	dir := t.TempDir()
	img := strings.Fields(s.file.Containers[s.p+"nocheck"].Image)[0]
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+img+"\nHEALTHCHECK --interval=300ms --retries=30 CMD test -e /tmp/ready\n"), 0o644)
	if out, err := exec.Command("docker", "build", "-q", "-t", "berth-test/healthy:1", dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	sup, stop := s.up()
	st := s.waitState(sup, s.p+"app", service.Running)
	if db := s.waitState(sup, s.p+"db", service.Running); db.Health != service.HealthHealthy {
		t.Errorf("db = %+v, app = %+v", db, st)
	}
	s.wait(sup, s.p+"stuck", "waiting on a dependency without a check", func(st service.Status) bool {
		return st.State == service.Waiting && strings.Contains(st.Reason, "has no health check")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
