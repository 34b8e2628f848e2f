package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
)

func TestServicesRefuseAnInvalidFileWithExitCode2(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "services.yaml")
	os.WriteFile(file, []byte("backend: docker\ncontainers:\n  app: {image: a, dependsOn: [nope]}\n"), 0o644)
	r := berth(t, "services", "plan", "-f", file)
	if r.code != 2 || !strings.Contains(r.stderr, "containers.app.dependsOn") || !strings.Contains(r.stderr, `"nope"`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestServicesGenerateSystemdWritesOneUnitPerContainer(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "services.yaml")
	os.WriteFile(file, []byte("backend: docker\ncontainers:\n  db: {image: d}\n  app: {image: a, dependsOn: [db]}\n"), 0o644)
	r := berth(t, "services", "generate", "systemd", "-f", file, "-o", filepath.Join(dir, "units"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	unit, err := os.ReadFile(filepath.Join(dir, "units", "docker-app.service"))
	if err != nil || !strings.Contains(string(unit), "Requires=docker-db.service") {
		t.Errorf("docker-app.service: %v\n%s", err, unit)
	}
}

// TestServicesUpStatusLogsRestartDown drives a stack through the CLI from
// other processes, the way an admin would, and ends it with SIGTERM.
func TestServicesUpStatusLogsRestartDown(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	img := enginetest.BusyboxImage(t, eng)
	dir := t.TempDir()
	p := fmt.Sprintf("cli%d-", os.Getpid())
	project := "clitest" + fmt.Sprint(os.Getpid())
	file := filepath.Join(dir, "services.yaml")
	loop := `["sh", "-c", "trap 'exit 0' TERM; echo hello from $HOSTNAME; while true; do sleep 0.1; done"]`
	os.WriteFile(file, []byte(fmt.Sprintf(`backend: docker
containers:
  %[1]sdb: {image: %[2]s, cmd: %[3]s, stopTimeout: 2s, hostname: db}
  %[1]sapp: {image: %[2]s, cmd: %[3]s, stopTimeout: 2s, dependsOn: [%[1]sdb], restartBackoff: {initial: 100ms}}
`, p, img, loop)), 0o644)
	common := []string{"--state-dir", filepath.Join(dir, "state"), "--project", project}
	svc := func(args ...string) cliResult {
		t.Helper()
		return berth(t, append(append([]string{"services"}, args...), common...)...)
	}
	t.Cleanup(func() {
		for _, n := range []string{p + "db", p + "app"} {
			eng.RemoveContainer(context.Background(), n, true)
		}
	})

	startUp := func() (*exec.Cmd, *bytes.Buffer) {
		up := exec.Command(berthBin, append([]string{"services", "up", "-f", file}, common...)...)
		// Its own process group, like a shell job: Ctrl-C goes to the group.
		up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		up.Stdout, up.Stderr = &out, &out
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { up.Process.Kill() })
		waitRunning(t, svc, 2, &out)
		return up, &out
	}

	up, out := startUp()
	if r := svc("status"); !strings.Contains(r.stdout, p+"app") || strings.Count(r.stdout, "running") != 2 {
		t.Errorf("status:\n%s", r.stdout)
	}
	if r := svc("logs", p+"db"); !strings.Contains(r.stdout, "hello from db") {
		t.Errorf("logs db:\n%s%s", r.stdout, r.stderr)
	}
	if r := svc("plan", "-f", file, "--json"); strings.Count(r.stdout, `"unchanged"`) != 2 {
		t.Errorf("plan while running:\n%s%s", r.stdout, r.stderr)
	}
	if r := svc("restart", p+"db"); r.code != 0 {
		t.Errorf("restart: exit %d %s", r.code, r.stderr)
	}
	waitRunning(t, svc, 2, out)
	if r := svc("down", "-f", file); r.code != 0 {
		t.Errorf("down: exit %d %s", r.code, r.stderr)
	}
	if err := up.Wait(); err != nil {
		t.Errorf("up after down: %v\n%s", err, out)
	}
	if r := svc("restart", p+"db"); r.code != 3 {
		t.Errorf("restart without a supervisor: exit %d, want 3", r.code)
	}

	up, out = startUp()
	up.Process.Signal(syscall.SIGTERM)
	if err := up.Wait(); err != nil {
		t.Errorf("up after SIGTERM: %v\n%s", err, out)
	}
	if left, _ := eng.ListContainers(context.Background(), "berth.project="+project); len(left) != 0 {
		t.Errorf("containers left after SIGTERM: %v", left)
	}
	if r := svc("status"); !strings.Contains(r.stdout, "supervisor not running") {
		t.Errorf("status after SIGTERM:\n%s", r.stdout)
	}

	// Ctrl-C on a terminal signals the whole process group: the containers'
	// `docker run` processes must not see it (they would forward it and the
	// containers would crash into a restart during the shutdown).
	up, out = startUp()
	syscall.Kill(-up.Process.Pid, syscall.SIGINT)
	if err := up.Wait(); err != nil {
		t.Errorf("up after Ctrl-C: %v\n%s", err, out)
	}
	if strings.Contains(out.String(), "backoff") {
		t.Errorf("a container crashed into backoff during the shutdown:\n%s", out)
	}
	if left, _ := eng.ListContainers(context.Background(), "berth.project="+project); len(left) != 0 {
		t.Errorf("containers left after Ctrl-C: %v", left)
	}
}

func waitRunning(t *testing.T, svc func(...string) cliResult, n int, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		r := svc("status", "--json")
		var snap struct {
			Alive    bool
			Services []struct{ State string }
		}
		if json.Unmarshal([]byte(r.stdout), &snap) == nil && snap.Alive {
			running := 0
			for _, s := range snap.Services {
				if s.State == "running" {
					running++
				}
			}
			if running == n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("never saw %d services running; up's output:\n%s", n, out)
}

// Issue 14 point 1: the first Ctrl-C stops with each container's grace, a
// second one kills what is still stopping.
func TestServicesUpSecondCtrlCKillsTheContainers(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	img := enginetest.BusyboxImage(t, eng)
	dir := t.TempDir()
	name := fmt.Sprintf("cli%d-stubborn", os.Getpid())
	project := "clitest2" + fmt.Sprint(os.Getpid())
	file := filepath.Join(dir, "services.yaml")
	// sleep as PID 1 ignores SIGTERM: only the kill after 300 s would end it.
	os.WriteFile(file, []byte(fmt.Sprintf("backend: docker\ncontainers:\n  %s: {image: %s, cmd: [sleep, \"3600\"], stopTimeout: 300s}\n", name, img)), 0o644)
	common := []string{"--state-dir", filepath.Join(dir, "state"), "--project", project}
	svc := func(args ...string) cliResult {
		t.Helper()
		return berth(t, append(append([]string{"services"}, args...), common...)...)
	}
	t.Cleanup(func() { eng.RemoveContainer(context.Background(), name, true) })
	up := exec.Command(berthBin, append([]string{"services", "up", "-f", file}, common...)...)
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill() })
	waitRunning(t, svc, 1, &out)

	syscall.Kill(-up.Process.Pid, syscall.SIGINT)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "stopping") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	syscall.Kill(-up.Process.Pid, syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("up after two Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(150 * time.Second):
		t.Fatalf("up still waits %s after the second Ctrl-C (grace 300 s):\n%s", time.Since(start), out.String())
	}
	if !strings.Contains(out.String(), "killing the containers") {
		t.Errorf("up did not say it kills:\n%s", out.String())
	}
	if left, _ := eng.ListContainers(context.Background(), "berth.project="+project); len(left) != 0 {
		t.Errorf("containers left after two Ctrl-C: %v", left)
	}
}

// syncBuffer is a bytes.Buffer that a child's output and the test may use
// at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 18 ("secrets in plain view"): generated units are world-readable,
// so the environment's values go to a 0600 env file handed to the unit as
// a systemd credential — also when an older generate left that file 0644.
func TestServicesGenerateSystemdKeepsSecretsOutOfWorldReadableFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "services.yaml")
	os.WriteFile(file, []byte("backend: docker\ncontainers:\n  app: {image: a, environment: {DB_PASSWORD: hunter2-s3cret}}\n"), 0o644)
	units := filepath.Join(dir, "units")
	os.MkdirAll(units, 0o755)
	os.WriteFile(filepath.Join(units, "docker-app.env"), []byte("old"), 0o644)
	r := berth(t, "services", "generate", "systemd", "-f", file, "-o", units)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(units)
	private := 0
	for _, e := range entries {
		p := filepath.Join(units, e.Name())
		fi, _ := os.Stat(p)
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "hunter2-s3cret") {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s (mode %v) holds the secret", e.Name(), fi.Mode().Perm())
		} else {
			private++
		}
	}
	if private != 1 {
		t.Errorf("the secret is in %d private files, want 1 (the env file); files: %v", private, entries)
	}
	unit, _ := os.ReadFile(filepath.Join(units, "docker-app.service"))
	if !strings.Contains(string(unit), "LoadCredential=docker-app.env:"+units+"/docker-app.env") {
		t.Errorf("the unit does not load the env file as a credential:\n%s", unit)
	}
}

// servicesUp starts `berth services up` on file in the background, as an
// admin's shell job would, and returns it with its combined output; the
// test ends it (or its cleanup kills it).
func servicesUp(t *testing.T, file string, common []string, env ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	up := exec.Command(berthBin, append([]string{"services", "up", "-f", file}, common...)...)
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	up.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	up.Stdout, up.Stderr = out, out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	return up, out
}

// Issue 14 section 5: `logs` without NAME merges the project's logs by
// time, each line prefixed with its container's name; --tail, --timestamps
// and -f work for one container and for all, -f until Ctrl-C.
func TestServicesLogsMergesTheProjectsLogs(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	img := enginetest.BusyboxImage(t, eng)
	dir := t.TempDir()
	p := fmt.Sprintf("logs%d-", os.Getpid())
	project := "clilogs" + fmt.Sprint(os.Getpid())
	file := filepath.Join(dir, "services.yaml")
	// db speaks, then app (started once db runs), then db again.
	os.WriteFile(file, []byte(fmt.Sprintf(`backend: docker
containers:
  %[1]sdb: {image: %[2]s, stopTimeout: 1s, cmd: ["sh", "-c", "trap 'exit 0' TERM; echo db one; sleep 6; echo db two; while true; do sleep 0.1; done"]}
  %[1]sapp: {image: %[2]s, stopTimeout: 1s, dependsOn: [%[1]sdb], cmd: ["sh", "-c", "trap 'exit 0' TERM; echo app one; while true; do sleep 0.1; done"]}
`, p, img)), 0o644)
	common := []string{"--state-dir", filepath.Join(dir, "state"), "--project", project}
	svc := func(args ...string) cliResult {
		t.Helper()
		return berth(t, append(append([]string{"services"}, args...), common...)...)
	}
	t.Cleanup(func() {
		for _, n := range []string{p + "db", p + "app"} {
			eng.RemoveContainer(context.Background(), n, true)
		}
	})
	up, out := servicesUp(t, file, common)
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(svc("logs", p+"db").stdout, "db two") {
		if time.Now().After(deadline) {
			t.Fatalf("db never said two; up:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	r := svc("logs")
	if r.code != 0 {
		t.Fatalf("logs: exit %d %s", r.code, r.stderr)
	}
	dbPrefix, appPrefix := p+"db  | ", p+"app | "
	var order []string
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		if !strings.HasPrefix(line, dbPrefix) && !strings.HasPrefix(line, appPrefix) {
			t.Errorf("line %q lacks a padded NAME | prefix", line)
		}
		for _, w := range []string{"db one", "app one", "db two"} {
			if strings.HasSuffix(line, "| "+w) {
				order = append(order, w)
			}
		}
	}
	if strings.Join(order, ", ") != "db one, app one, db two" {
		t.Errorf("merged order %q, want db one, app one, db two:\n%s", order, r.stdout)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour on a pipe:\n%q", r.stdout)
	}

	if r := svc("logs", p+"app", "--tail", "1"); strings.Count(r.stdout, "\n") != 1 || strings.Contains(r.stdout, "|") {
		t.Errorf("logs app --tail 1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := svc("logs", "--tail", "2"); strings.Count(r.stdout, p+"db ") != 2 || strings.Count(r.stdout, p+"app ") != 2 {
		t.Errorf("logs --tail 2: two lines of each wanted\n%s%s", r.stdout, r.stderr)
	}
	stamped := regexp.MustCompile(`^` + regexp.QuoteMeta(appPrefix) + `20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z app one$`)
	if r := svc("logs", "--timestamps"); !slices.ContainsFunc(strings.Split(r.stdout, "\n"), stamped.MatchString) {
		t.Errorf("logs --timestamps has no line matching %s:\n%s", stamped, r.stdout)
	}

	// -f, for all and for one, prints what comes and ends on Ctrl-C.
	for _, args := range [][]string{{"logs", "-f", "--tail", "0"}, {"logs", "-f", "--tail", "0", p + "app"}} {
		f := exec.Command(berthBin, append(append([]string{"services"}, args...), common...)...)
		var fout syncBuffer
		f.Stdout, f.Stderr = &fout, &fout
		if err := f.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // past --tail 0's start
		if r := svc("restart", p+"app"); r.code != 0 {
			t.Fatalf("restart: exit %d %s", r.code, r.stderr)
		}
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(fout.String(), "app one") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(fout.String(), "app one") {
			t.Errorf("%v did not print the restarted app's line:\n%s", args, fout.String())
		}
		f.Process.Signal(os.Interrupt)
		exited := make(chan error, 1)
		go func() { exited <- f.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%v after Ctrl-C: %v\n%s", args, err, fout.String())
			}
		case <-time.After(10 * time.Second):
			f.Process.Kill()
			t.Errorf("%v still follows 10 s after Ctrl-C", args)
		}
	}
	up.Process.Signal(syscall.SIGTERM)
	if err := up.Wait(); err != nil {
		t.Errorf("up after SIGTERM: %v\n%s", err, out)
	}
}

// Issue 14 section 5: an engine error (a missing image: the argv and a
// message of several lines) is one short line in the status table; the
// whole error is in status --json and in the container's log.
func TestServicesStatusKeepsAnEngineErrorToOneLine(t *testing.T) {
	engines := []struct {
		name    string
		require func(testing.TB) *engine.Client
		runtime []string
	}{
		{"docker", enginetest.RequireDocker, nil},
		{"podman", enginetest.RequirePodman, []string{"--runtime", enginetest.PodmanRuntime()}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			eng := e.require(t)
			dir := t.TempDir()
			name := fmt.Sprintf("noimg%d-%s", os.Getpid(), e.name)
			project := "clinoimg" + fmt.Sprint(os.Getpid())
			file := filepath.Join(dir, "services.yaml")
			os.WriteFile(file, []byte(fmt.Sprintf("backend: %s\ncontainers:\n  %s: {image: berth-test/does-not-exist:1, pull: never, restartBackoff: {initial: 30s}}\n",
				e.name, name)), 0o644)
			common := append([]string{"--state-dir", filepath.Join(dir, "state"), "--project", project}, e.runtime...)
			svc := func(args ...string) cliResult {
				t.Helper()
				return berth(t, append(append([]string{"services"}, args...), common...)...)
			}
			t.Cleanup(func() { eng.RemoveContainer(context.Background(), name, true) })
			up, out := servicesUp(t, file, common)
			var snap struct {
				Services []struct{ State, LastError, LastErrorLine string }
			}
			deadline := time.Now().Add(90 * time.Second)
			for {
				r := svc("status", "--json")
				if json.Unmarshal([]byte(r.stdout), &snap) == nil && len(snap.Services) == 1 && snap.Services[0].LastError != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no last error in the state:\n%s\nup:\n%s", r.stdout, out)
				}
				time.Sleep(100 * time.Millisecond)
			}
			full := snap.Services[0].LastError
			if !strings.Contains(full, "does-not-exist") || !strings.Contains(full, "run") || !strings.Contains(full, "\n") && e.name == "docker" {
				t.Errorf("status --json lastError is not the whole error: %q", full)
			}

			r := svc("status")
			table, _, _ := strings.Cut(r.stdout, "\n\n") // the last log lines follow
			rows := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
			if len(rows) != 2 || !strings.HasPrefix(rows[1], name+" ") {
				t.Fatalf("status table is not a header and one row:\n%s", r.stdout)
			}
			row := rows[1]
			if !strings.Contains(row, "exit status 125") || !strings.Contains(row, "does-not-exist") {
				t.Errorf("DETAIL does not say what failed: %q", row)
			}
			if strings.Contains(row, "--label") || strings.Contains(row, "berth.project") {
				t.Errorf("DETAIL holds the argv: %q", row)
			}
			if _, detail, _ := strings.Cut(row, "last exit"); len([]rune(detail)) > 250 {
				t.Errorf("DETAIL is %d long: %q", len([]rune(detail)), row)
			}
			if log := svc("logs", name).stdout; !strings.Contains(log, "berth.project="+project) || !strings.Contains(log, "does-not-exist") {
				t.Errorf("the log lacks the whole error:\n%s", log)
			}
			up.Process.Signal(syscall.SIGTERM)
			up.Wait()
		})
	}
}

// Issue 14 section 5: --project and --state-dir come from the flag, else
// $BERTH_SERVICES_PROJECT / $BERTH_SERVICES_STATE_DIR, else (the project)
// the services file's project:, else the default; -v says which.
func TestServicesProjectAndStateDirFromFlagEnvOrFile(t *testing.T) {
	enginetest.RequireDocker(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "services.yaml")
	os.WriteFile(file, []byte("backend: docker\nproject: fromfile\ncontainers:\n  app: {image: a}\n"), 0o644)
	bare := filepath.Join(dir, "bare.yaml")
	os.WriteFile(bare, []byte("backend: docker\ncontainers:\n  app: {image: a}\n"), 0o644)
	tests := []struct {
		name      string
		env, args []string
		want      []string
	}{
		{"the file's project", nil, []string{"-f", file},
			[]string{`name=fromfile from="project: in ` + file + `"`}},
		{"the environment over the file", []string{"BERTH_SERVICES_PROJECT=fromenv"}, []string{"-f", file},
			[]string{"name=fromenv from=$BERTH_SERVICES_PROJECT"}},
		{"the flag over both", []string{"BERTH_SERVICES_PROJECT=fromenv"}, []string{"-f", file, "--project", "fromflag"},
			[]string{"name=fromflag from=--project"}},
		{"the default without any", nil, []string{"-f", bare},
			[]string{`name=default from="the default"`}},
		{"the state directory from the environment", []string{"BERTH_SERVICES_STATE_DIR=" + dir + "/envstate"}, []string{"-f", file},
			[]string{"dir=" + dir + "/envstate from=$BERTH_SERVICES_STATE_DIR"}},
		{"the state directory flag over the environment", []string{"BERTH_SERVICES_STATE_DIR=" + dir + "/envstate"}, []string{"-f", file, "--state-dir", dir + "/flagstate"},
			[]string{"dir=" + dir + "/flagstate from=--state-dir"}},
		{"the default state directory of root names the project", nil, []string{"-f", file},
			[]string{`dir=/run/berth/services/fromfile from="the default"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Geteuid() != 0 && strings.Contains(tt.name, "of root") {
				t.Skip("needs root")
			}
			r := berthEnv(t, append([]string{"BERTH_SERVICES_PROJECT=", "BERTH_SERVICES_STATE_DIR="}, tt.env...), append([]string{"services", "plan", "-v"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("plan: exit %d %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	// status reads the state directory the environment names.
	r := berthEnv(t, []string{"BERTH_SERVICES_STATE_DIR=" + dir + "/nostate"}, "services", "status")
	if r.code != 3 || !strings.Contains(r.stderr, dir+"/nostate") {
		t.Errorf("status with $BERTH_SERVICES_STATE_DIR: exit %d %s", r.code, r.stderr)
	}
}

// Issue 14 section 5: a user other than root gets its state directory
// under $XDG_RUNTIME_DIR (it may not write /run/berth), and without
// XDG_RUNTIME_DIR a message naming the ways to give one.
func TestServicesAsAUserKeepStateInTheRuntimeDir(t *testing.T) {
	enginetest.RequirePodman(t)
	if os.Geteuid() != 0 {
		t.Skip("running berth as another user needs root")
	}
	cred, userEnv, err := userCred("berth-test")
	if err != nil {
		t.Skip(err)
	}
	dir := userTempDir(t, cred, strings.TrimPrefix(userEnv[0], "HOME="))()
	// Short, as /run/user/UID is: control.sock's path must fit in 108 bytes.
	runtimeDir, err := os.MkdirTemp("", "xdg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runtimeDir) })
	chownTree(t, runtimeDir, cred)
	name := fmt.Sprintf("asuser%d", os.Getpid())
	project := "cliuser" + fmt.Sprint(os.Getpid())
	file := filepath.Join(dir, "services.yaml")
	// Rootless podman, its storage in dir, has no image: the container
	// goes to backoff, which is state enough.
	os.WriteFile(file, []byte(fmt.Sprintf("backend: podman\nproject: %s\ncontainers:\n  %s: {image: berth-test/does-not-exist:1, pull: never, restartBackoff: {initial: 30s}}\n",
		project, name)), 0o644)
	chownTree(t, dir, cred)
	asUser := func(xdg bool, args ...string) *exec.Cmd {
		cmd := exec.Command(berthBin, append([]string{"services", "--runtime", enginetest.PodmanRuntime()}, args...)...)
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "XDG_DATA_HOME=" + dir + "/data", "XDG_CONFIG_HOME=" + dir + "/config"}, userEnv...)
		if xdg {
			cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+runtimeDir)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	run := func(xdg bool, args ...string) cliResult {
		t.Helper()
		cmd := asUser(xdg, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}

	up := asUser(true, "up", "-f", file)
	var out syncBuffer
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	state := filepath.Join(runtimeDir, "berth", "services", project)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// status finds it by the project: in ./services.yaml.
		r := run(true, "status")
		if r.code == 0 && strings.Contains(r.stdout, name) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status as the user: exit %d %s%s\nup:\n%s", r.code, r.stdout, r.stderr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(state, "state.json")); err != nil {
		t.Errorf("no state in %s: %v\nup:\n%s", state, err, out.String())
	}
	up.Process.Signal(syscall.SIGTERM)
	up.Wait()

	r := run(false, "status")
	if r.code != 2 || !strings.Contains(r.stderr, "XDG_RUNTIME_DIR") || !strings.Contains(r.stderr, "--state-dir") || !strings.Contains(r.stderr, "BERTH_SERVICES_STATE_DIR") {
		t.Errorf("status as the user without XDG_RUNTIME_DIR: exit %d %s", r.code, r.stderr)
	}
}
