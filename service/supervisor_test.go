package service_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/service"
)

var engines = map[string]func(testing.TB) *engine.Client{
	"docker": enginetest.RequireDocker,
	"podman": enginetest.RequirePodman,
}

const twoServices = `
backend: {{BACKEND}}
containers:
  {{P}}db:
    image: {{IMG}}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; echo db ready; busybox httpd -f -p 8080 & wait"]
    stopTimeout: 5s
  {{P}}app:
    image: {{IMG}}
    dependsOn: ["{{P}}db"]
    cmd: ` + loop + `
    stopTimeout: 5s
`

func TestTwoServiceStackStartsInOrderAndStopsInReverse(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, twoServices)
			db, app := s.p+"db", s.p+"app"
			sup, stop := s.up()
			s.waitState(sup, app, service.Running)
			st := s.waitState(sup, db, service.Running)
			if st.ContainerID == "" || st.Pid == 0 {
				t.Errorf("running status lacks container id or pid: %+v", st)
			}
			if s.index(db, service.Running) > s.index(app, service.Starting) {
				t.Errorf("app started before db was running: events %v", s.events)
			}
			info, err := eng.InspectContainer(context.Background(), app)
			if err != nil || info.Labels[service.LabelProject] != s.project || info.Labels[service.LabelHash] == "" {
				t.Errorf("app container lacks berth labels: %+v, %v", info.Labels, err)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if a, d := s.lastIndex(app, service.Stopped), s.lastIndex(db, service.Stopped); a < 0 || d < 0 || a > d {
				t.Errorf("stop order: app stopped at event %d, db at %d; want app first", a, d)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("containers left behind: %v", left)
			}
			if !strings.Contains(s.logOf(db), "db ready") {
				t.Errorf("db log lacks its output:\n%s", s.logOf(db))
			}
			snap, err := service.ReadSnapshot(filepath.Join(s.dir, "state"))
			if err != nil || snap.Alive || len(snap.Services) != 2 {
				t.Errorf("snapshot after stop = %+v, %v", snap, err)
			}
		})
	}
}

func TestCrashLoopBacksOffThenFailsAndRestartResetsIt(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			testCrashLoop(t, require(t))
		})
	}
}

func testCrashLoop(t *testing.T, eng *engine.Client) {
	s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}crash:
    image: {{IMG}}
    cmd: ["sh", "-c", "echo about to crash; exit 3"]
    restartBackoff: {initial: 50ms, max: 200ms}
    startLimit: {burst: 3, interval: 10m}
`)
	name := s.p + "crash"
	sup, stop := s.up()
	b := s.wait(sup, name, "backoff attempt 2", func(st service.Status) bool { return st.State == service.Backoff && st.Attempt == 2 })
	if b.LastExitCode == nil || *b.LastExitCode != 3 || b.NextTry.IsZero() {
		t.Errorf("backoff status = %+v; want exit 3 and a next try", b)
	}
	f := s.waitState(sup, name, service.Failed)
	if !strings.Contains(strings.Join(f.LastLog, "\n"), "about to crash") {
		t.Errorf("failed status lacks the last log lines: %q", f.LastLog)
	}
	if !strings.Contains(f.Reason, "start limit") {
		t.Errorf("reason = %q", f.Reason)
	}
	if err := service.Control(context.Background(), filepath.Join(s.dir, "state"), "restart", name); err != nil {
		t.Fatalf("restart over the control socket: %v", err)
	}
	s.wait(sup, name, "restarted after failed", func(st service.Status) bool { return st.State != service.Failed })
	s.waitState(sup, name, service.Failed)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestKilledDependencyStopsDependentAndRestartsItAfter(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			testKilledDependency(t, require(t))
		})
	}
}

func testKilledDependency(t *testing.T, eng *engine.Client) {
	s := newStack(t, eng, strings.ReplaceAll(twoServices, "stopTimeout: 5s", "stopTimeout: 5s\n    restartBackoff: {initial: 100ms, max: 1s}"))
	db, app := s.p+"db", s.p+"app"
	sup, stop := s.up()
	before := s.waitState(sup, app, service.Running)
	s.waitState(sup, db, service.Running)
	if err := eng.KillContainer(context.Background(), db, "KILL"); err != nil {
		t.Fatal(err)
	}
	after := s.wait(sup, app, "running again", func(st service.Status) bool {
		return st.State == service.Running && st.ContainerID != before.ContainerID
	})
	if !s.seen(app, service.Stopped, "dependency "+db+" stopped") {
		t.Errorf("app was not stopped for its dependency; events %+v", s.events)
	}
	d := s.waitState(sup, db, service.Running)
	if d.Restarts != 1 || d.LastExitCode == nil || *d.LastExitCode != 137 {
		t.Errorf("db status = %+v; want one restart after exit 137", d)
	}
	if after.ContainerID == before.ContainerID {
		t.Error("app was not restarted")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPreStartHooksRunInOrderAndAFailingHookBlocksTheStart(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	s := newStack(t, eng, `
backend: docker
containers:
  {{P}}ok:
    image: {{IMG}}
    cmd: `+loop+`
    preStart:
      - "echo one >> {{DIR}}/ok.hooks"
      - ["/bin/sh", "-c", "echo two $BERTH_CONTAINER >> {{DIR}}/ok.hooks"]
  {{P}}blocked:
    image: {{IMG}}
    cmd: `+loop+`
    restart: "no"
    preStart:
      - "echo first >> {{DIR}}/blocked.hooks"
      - "exit 7"
      - "echo never >> {{DIR}}/blocked.hooks"
`)
	sup, stop := s.up()
	s.waitState(sup, s.p+"ok", service.Running)
	b := s.wait(sup, s.p+"blocked", "stopped after an error", stoppedWithError)
	got, _ := os.ReadFile(filepath.Join(s.dir, "ok.hooks"))
	if string(got) != "one\ntwo "+s.p+"ok\n" {
		t.Errorf("ok hooks wrote %q", got)
	}
	got, _ = os.ReadFile(filepath.Join(s.dir, "blocked.hooks"))
	if string(got) != "first\n" {
		t.Errorf("blocked hooks wrote %q; the hook after the failing one must not run", got)
	}
	if !strings.Contains(b.LastError, "preStart[1]") || !strings.Contains(b.LastError, "exit status 7") {
		t.Errorf("LastError = %q", b.LastError)
	}
	if _, err := eng.InspectContainer(context.Background(), s.p+"blocked"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a container was created despite the failing hook: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRestartStopsDependentsFirstAndStartsThemAfter(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	s := newStack(t, eng, twoServices)
	db, app := s.p+"db", s.p+"app"
	sup, stop := s.up()
	before := s.waitState(sup, app, service.Running)
	s.waitState(sup, db, service.Running)
	if err := sup.Restart(db); err != nil {
		t.Fatal(err)
	}
	s.wait(sup, app, "running again", func(st service.Status) bool {
		return st.State == service.Running && st.ContainerID != before.ContainerID
	})
	appStopped, dbStopped := s.lastIndex(app, service.Stopped), s.lastIndex(db, service.Stopped)
	if appStopped < 0 || dbStopped < 0 || appStopped > dbStopped {
		t.Errorf("app stopped at event %d, db at %d: the dependent must stop first", appStopped, dbStopped)
	}
	if s.lastIndex(db, service.Running) > s.lastIndex(app, service.Starting) {
		t.Errorf("app started again before db ran")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestAnExitedContainerIsRemovedEvenWithoutAutoRemoveOnStop(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			// NixOS's ExecStopPost removes the container after any exit;
			// without --rm nothing else would.
			s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}kept:
    image: {{IMG}}
    cmd: ["sh", "-c", "echo about to crash; exit 3"]
    autoRemoveOnStop: false
    restartBackoff: {initial: 1h, max: 1h}
`)
			name := s.p + "kept"
			sup, stop := s.up()
			s.waitState(sup, name, service.Backoff)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("containers left behind after shutdown: %v", left)
			}
		})
	}
}

func TestAShutdownDuringAHangingPreStartHookStopsAtOnceAndStartsNothing(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	s := newStack(t, eng, `
backend: docker
containers:
  {{P}}hook:
    image: {{IMG}}
    cmd: `+loop+`
    preStart:
      - "echo hanging > {{DIR}}/hook.started; sleep 600"
`)
	name := s.p + "hook"
	sup, stop := s.up()
	s.wait(sup, name, "running its hook", func(service.Status) bool {
		_, err := os.Stat(filepath.Join(s.dir, "hook.started"))
		return err == nil
	})
	// Without cancelling the hook, Run would wait for the sleep (and then
	// start the container); stop gives up after waitLimit.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := eng.InspectContainer(context.Background(), name); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a container was created after the shutdown: %v", err)
	}
	if st := sup.Status(); len(st) != 1 || st[0].State != service.Stopped {
		t.Errorf("status after shutdown = %+v; want stopped", st)
	}
}

func TestLogsAndStateAreReadableByTheirOwnerOnly(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	// A container's output may hold secrets; `docker logs` needs the
	// engine's rights, so berth's copies must not be world-readable. The
	// control socket stops and restarts containers: the same.
	s := newStack(t, eng, `
backend: docker
containers:
  {{P}}quiet:
    image: {{IMG}}
    cmd: `+loop+`
`)
	name := s.p + "quiet"
	state := filepath.Join(s.dir, "state")
	// A log file left by an older berth with looser permissions.
	os.MkdirAll(filepath.Dir(service.LogPath(state, name)), 0o755)
	os.WriteFile(service.LogPath(state, name), nil, 0o644)
	sup, stop := s.up()
	s.waitState(sup, name, service.Running)
	for _, p := range []string{service.LogPath(state, name), filepath.Join(state, "state.json"), filepath.Join(state, "control.sock")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", p, fi.Mode().Perm())
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
