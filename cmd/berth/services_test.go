package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
