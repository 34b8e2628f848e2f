package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine/enginetest"
)

// serveDaemon is a real `berth serve` (berthd) started by a test.
type serveDaemon struct {
	t    *testing.T
	args []string
	env  []string
	url  string
	cmd  *exec.Cmd
	out  *syncBuffer
}

// startServe runs `berth serve --listen 127.0.0.1:PORT args...` as a
// process of its own and waits until it answers /healthz.
func startServe(t *testing.T, tmp string, args ...string) *serveDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := &serveDaemon{t: t, url: "http://" + addr,
		args: append([]string{"serve", "--listen", addr}, args...),
		env: append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"),
			"BERTH_RUNNERS=trivial", "BERTH_SANDBOX=none", "BERTH_SERVER=", "BERTH_TOKEN=")}
	d.start()
	return d
}

func (d *serveDaemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(berthBin, d.args...)
	d.cmd.Env = d.env
	d.out = &syncBuffer{}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	cmd := d.cmd
	d.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get(d.url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("berth serve did not answer /healthz:\n%s", d.out.String())
		}
	}
}

// stop ends the daemon as its service manager would (SIGTERM).
func (d *serveDaemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			d.t.Errorf("berth serve after SIGTERM: %v\n%s", err, d.out.String())
		}
	case <-time.After(2 * time.Minute):
		d.t.Fatalf("berth serve still runs 2 minutes after SIGTERM:\n%s", d.out.String())
	}
}

// followPollForTests is how often `logs -f` asks the daemon (followPoll).
const followPollForTests = time.Second

// daemonStatus is `status --json` through the daemon: the API's project.
type daemonStatus struct {
	Project, File, Source, StateDir, State, Error string
	Services                                      []struct{ Name, State, ContainerID string }
}

// Issue 14 §2 end to end: `up -d` hands a file to a real `berth serve`,
// which runs its containers on docker; status, logs (-f too), restart and
// down reach it when no local supervisor holds the project; a project of
// berth.yaml's services: is refused to up -d; the daemon's restart
// leaves the containers running and adopts them.
func TestServicesDetachedThroughTheDaemon(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	img := enginetest.BusyboxImage(t, eng)
	dir := t.TempDir()
	pid := fmt.Sprint(os.Getpid())
	p := "det" + pid + "-"
	project, cfgProject := "clidetached"+pid, "cliconfig"+pid
	loop := `["sh", "-c", "trap 'exit 0' TERM; echo hello from $HOSTNAME; while true; do sleep 0.1; done"]`
	file := filepath.Join(dir, "services.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`backend: docker
containers:
  %[1]sdb: {image: %[2]s, cmd: %[3]s, stopTimeout: 2s, hostname: db}
  %[1]sapp: {image: %[2]s, cmd: %[3]s, stopTimeout: 2s, hostname: app, dependsOn: [%[1]sdb], restartBackoff: {initial: 100ms}}
`, p, img, loop)), 0o644)
	cfgFile := filepath.Join(dir, "config-services.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("backend: docker\ncontainers:\n  %scfg: {image: %s, cmd: %s, stopTimeout: 2s, hostname: cfg}\n", p, img, loop)), 0o644)
	berthYAML := filepath.Join(dir, "berth.yaml")
	os.WriteFile(berthYAML, []byte(fmt.Sprintf("services:\n  - {file: %s, project: %s}\n", cfgFile, cfgProject)), 0o644)
	const token = "cli-services-token-0123456789"
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	t.Cleanup(func() {
		for _, n := range []string{p + "db", p + "app", p + "cfg"} {
			eng.RemoveContainer(context.Background(), n, true)
		}
	})
	d := startServe(t, dir, "--config", berthYAML, "--data-dir", filepath.Join(dir, "data"), "--token-file", tokenFile)
	api := []string{"--server", d.url, "--token-file", tokenFile}
	// An empty state directory: no local supervisor, so the daemon answers.
	viaDaemon := append([]string{"--project", project, "--state-dir", filepath.Join(dir, "nolocal")}, api...)
	env := []string{"BERTH_SERVICES_PROJECT=", "BERTH_SERVICES_STATE_DIR=", "BERTH_SERVER=", "BERTH_TOKEN="}
	svc := func(args ...string) cliResult {
		t.Helper()
		return berthEnv(t, env, append([]string{"services"}, args...)...)
	}
	status := func(args ...string) daemonStatus {
		t.Helper()
		r := svc(append([]string{"status", "--json"}, args...)...)
		var st daemonStatus
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status --json: exit %d: %v\n%s%s\ndaemon:\n%s", r.code, err, r.stdout, r.stderr, d.out.String())
		}
		return st
	}
	ids := func(st daemonStatus) map[string]string {
		m := map[string]string{}
		for _, s := range st.Services {
			m[s.Name] = s.ContainerID
		}
		return m
	}
	waitUntil := func(what string, ok func(daemonStatus) bool, args ...string) daemonStatus {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			st := status(args...)
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v\ndaemon:\n%s", what, st, d.out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	allRunning := func(n int) func(daemonStatus) bool {
		return func(st daemonStatus) bool {
			running := 0
			for _, s := range st.Services {
				if s.State == "running" {
					running++
				}
			}
			return running == n
		}
	}

	r := svc(append([]string{"up", "-d", "--wait", "--timeout", "2m", "-f", file, "--project", project}, api...)...)
	if r.code != 0 {
		t.Fatalf("up -d --wait: exit %d\n%s%s\ndaemon:\n%s", r.code, r.stdout, r.stderr, d.out.String())
	}
	if !strings.Contains(r.stdout, "project "+project+" is supervised by the berth daemon at "+d.url+": running") || strings.Count(r.stdout, "running") < 3 {
		t.Errorf("up -d --wait printed:\n%s", r.stdout)
	}

	t.Run("status asks the daemon when no local supervisor holds the project", func(t *testing.T) {
		r := svc(append([]string{"status", "-v"}, viaDaemon...)...)
		if r.code != 0 || !strings.Contains(r.stderr, "which=daemon") || !strings.Contains(r.stdout, "file "+file+" (handed over with up -d)") || strings.Count(r.stdout, "running") != 3 {
			t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		st := status(viaDaemon...)
		if st.Project != project || st.Source != "api" || st.File != file || len(st.Services) != 2 {
			t.Errorf("status --json = %+v", st)
		}
	})
	if os.Geteuid() == 0 {
		t.Run("as the daemon's user the state directory is the daemon's: status reads it", func(t *testing.T) {
			r := svc(append([]string{"status", "-v", "--project", project}, api...)...)
			if r.code != 0 || !strings.Contains(r.stderr, "which=local") || strings.Count(r.stdout, "running") != 2 {
				t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("logs through the daemon: one container's, and all merged", func(t *testing.T) {
		if r := svc(append([]string{"logs", p + "db"}, viaDaemon...)...); r.code != 0 || !strings.Contains(r.stdout, "hello from db") || strings.Contains(r.stdout, " | ") {
			t.Errorf("logs db: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r := svc(append([]string{"logs"}, viaDaemon...)...)
		if r.code != 0 || !strings.Contains(r.stdout, p+"db  | hello from db") || !strings.Contains(r.stdout, p+"app | hello from app") {
			t.Errorf("logs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("restart through the daemon starts a new container", func(t *testing.T) {
		before := ids(status(viaDaemon...))
		if r := svc(append([]string{"restart", p + "db"}, viaDaemon...)...); r.code != 0 || !strings.Contains(r.stdout, "restarting "+p+"db") {
			t.Fatalf("restart: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		waitUntil("a new db running", func(st daemonStatus) bool {
			return allRunning(2)(st) && ids(st)[p+"db"] != before[p+"db"]
		}, viaDaemon...)
	})
	t.Run("logs -f through the daemon prints what comes until Ctrl-C", func(t *testing.T) {
		f := exec.Command(berthBin, append([]string{"services", "logs", "-f", "--tail", "0", p + "app"}, viaDaemon...)...)
		var fout syncBuffer
		f.Stdout, f.Stderr = &fout, &fout
		if err := f.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Process.Kill() })
		time.Sleep(1500 * time.Millisecond) // its first answer is in
		if r := svc(append([]string{"restart", p + "app"}, viaDaemon...)...); r.code != 0 {
			t.Fatalf("restart: exit %d %s", r.code, r.stderr)
		}
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(fout.String(), "hello from app") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(fout.String(), "hello from app") {
			t.Errorf("logs -f did not print the restarted app's line:\n%s", fout.String())
		}
		time.Sleep(2 * followPollForTests) // a repeat would come with the next answers
		if n := strings.Count(fout.String(), "hello from app"); n != 1 {
			t.Errorf("logs -f --tail 0 printed %d lines hello from app, want the restarted one's only:\n%s", n, fout.String())
		}
		if strings.Contains(fout.String(), "Z hello") {
			t.Errorf("logs -f without --timestamps printed the times:\n%s", fout.String())
		}
		f.Process.Signal(os.Interrupt)
		exited := make(chan error, 1)
		go func() { exited <- f.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("logs -f after Ctrl-C: %v\n%s", err, fout.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("logs -f still follows 10 s after Ctrl-C")
		}
	})
	waitUntil("both running after the restarts", allRunning(2), viaDaemon...)

	t.Run("up -d of the same file again keeps the running containers", func(t *testing.T) {
		before := ids(status(viaDaemon...))
		if r := svc(append([]string{"up", "-d", "-f", file, "--project", project}, api...)...); r.code != 0 {
			t.Fatalf("up -d again: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		st := waitUntil("both running after the second up -d", allRunning(2), viaDaemon...)
		if after := ids(st); after[p+"db"] != before[p+"db"] || after[p+"app"] != before[p+"app"] {
			t.Errorf("containers changed: %v -> %v", before, after)
		}
	})
	t.Run("a project of berth.yaml's services: is the configuration's", func(t *testing.T) {
		cfg := []string{"--project", cfgProject, "--state-dir", filepath.Join(dir, "nolocal")}
		st := waitUntil("the configured project running", allRunning(1), append(cfg, api...)...)
		if st.Source != "config" || st.File != cfgFile {
			t.Errorf("configured project = %+v", st)
		}
		r := svc(append([]string{"status"}, append(cfg, api...)...)...)
		if !strings.Contains(r.stdout, "from the services: section of berth.yaml") {
			t.Errorf("status of the configured project:\n%s%s", r.stdout, r.stderr)
		}
		r = svc(append([]string{"up", "-d", "-f", cfgFile, "--project", cfgProject}, api...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "409") {
			t.Errorf("up -d of the configured project: exit %d, want 2 naming the conflict\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	if os.Geteuid() == 0 {
		t.Run("up -d of a project a foreground up holds names the holder", func(t *testing.T) {
			// root's default state directory is the daemon's too.
			heldProject := "cliheld" + pid
			heldFile := filepath.Join(dir, "held.yaml")
			os.WriteFile(heldFile, []byte(fmt.Sprintf("backend: docker\ncontainers:\n  %sheld: {image: %s, cmd: %s, stopTimeout: 2s}\n", p, img, loop)), 0o644)
			t.Cleanup(func() { eng.RemoveContainer(context.Background(), p+"held", true) })
			up, out := servicesUp(t, heldFile, []string{"--project", heldProject})
			deadline := time.Now().Add(90 * time.Second)
			for {
				r := svc("status", "--json", "--project", heldProject)
				if r.code == 0 && strings.Contains(r.stdout, `"running"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the foreground up never ran:\n%s", out.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			r := svc(append([]string{"up", "-d", "-f", heldFile, "--project", heldProject}, api...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "409") || !strings.Contains(r.stderr, fmt.Sprint(up.Process.Pid)) {
				t.Errorf("up -d of a held project: exit %d, want 2 naming the holder (pid %d)\n%s%s", r.code, up.Process.Pid, r.stdout, r.stderr)
			}
			// status, -v: the foreground up answers, not the daemon.
			if r := svc(append([]string{"status", "-v", "--project", heldProject}, api...)...); r.code != 0 || !strings.Contains(r.stderr, "which=local") || !strings.Contains(r.stderr, fmt.Sprintf("pid=%d", up.Process.Pid)) {
				t.Errorf("status of the held project: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			up.Process.Signal(syscall.SIGTERM)
			up.Wait()
		})
	}
	t.Run("up -d without the token says how to give it", func(t *testing.T) {
		r := svc("up", "-d", "-f", file, "--project", project, "--server", d.url)
		if r.code != 2 || !strings.Contains(r.stderr, "--token-file") {
			t.Errorf("exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("a foreground up of the daemon's project says the daemon holds it, and supervises nothing", func(t *testing.T) {
		r := svc("up", "-f", file, "--project", project)
		if r.code == 0 || strings.Contains(r.stdout, "supervising") || !strings.Contains(r.stderr, "the berth daemon (pid") || !strings.Contains(r.stderr, "up -d") {
			t.Errorf("up of the daemon's project: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("the daemon's restart leaves the containers running and adopts them", func(t *testing.T) {
		before := ids(status(viaDaemon...))
		d.stop()
		for _, n := range []string{p + "db", p + "app", p + "cfg"} {
			if info, err := eng.InspectContainer(context.Background(), n); err != nil || !info.Running {
				t.Errorf("%s after the daemon stopped: running %v, %v", n, info.Running, err)
			}
		}
		if r := svc(append([]string{"status"}, viaDaemon...)...); r.code != 3 || !strings.Contains(r.stderr, "no berth daemon answers at "+d.url) {
			t.Errorf("status without the daemon: exit %d %s", r.code, r.stderr)
		}
		d.start()
		st := waitUntil("both running after the daemon's restart", allRunning(2), viaDaemon...)
		if after := ids(st); after[p+"db"] != before[p+"db"] || after[p+"app"] != before[p+"app"] {
			t.Errorf("the daemon did not adopt the containers: %v -> %v\ndaemon:\n%s", before, after, d.out.String())
		}
	})

	t.Run("down through the daemon stops and removes the project", func(t *testing.T) {
		r := svc(append([]string{"down"}, viaDaemon...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "removed "+p+"db") || !strings.Contains(r.stdout, "removed "+p+"app") {
			t.Errorf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if left, _ := eng.ListContainers(context.Background(), "berth.project="+project); len(left) != 0 {
			t.Errorf("containers left after down: %v", left)
		}
		r = svc(append([]string{"status"}, viaDaemon...)...)
		if r.code != 3 || !strings.Contains(r.stderr, "does not supervise project "+project+" either") {
			t.Errorf("status after down: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
	})

	// The reviewer's two silent downs: one whose token the daemon
	// refused went through the daemon's control socket without a word;
	// one while the daemon was stopped said nothing of the daemon
	// starting the project again.
	cfgRunning := []string{"--project", cfgProject, "--state-dir", filepath.Join(dir, "nolocal")}
	t.Run("down with a token the daemon refuses says it stops the daemon's project through its socket", func(t *testing.T) {
		bad := filepath.Join(dir, "bad-token")
		os.WriteFile(bad, []byte("not-the-token-0123456789\n"), 0o600)
		r := svc("down", "--project", cfgProject, "--server", d.url, "--token-file", bad)
		if r.code != 0 || !strings.Contains(r.stderr, "is supervised by the berth daemon (pid") || !strings.Contains(r.stderr, "refused the token") {
			t.Errorf("down with a bad token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if left, _ := eng.ListContainers(context.Background(), "berth.project="+cfgProject); len(left) != 0 {
			t.Errorf("containers left after down: %v", left)
		}
	})
	t.Run("down while the daemon is stopped warns that the daemon will start the project again", func(t *testing.T) {
		d.stop()
		d.start() // a berth.yaml project, stopped by a down, runs again after a restart
		waitUntil("the berth.yaml project running again", allRunning(1), append(cfgRunning, api...)...)
		d.stop()
		r := svc(append([]string{"down", "--project", cfgProject}, api...)...)
		if r.code != 0 || !strings.Contains(r.stderr, "the berth daemon last supervised project "+cfgProject+" and is not running") {
			t.Errorf("down without the daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if left, _ := eng.ListContainers(context.Background(), "berth.project="+cfgProject); len(left) != 0 {
			t.Errorf("containers left after down: %v", left)
		}
	})
}
