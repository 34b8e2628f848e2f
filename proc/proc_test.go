package proc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/proc"
)

func sh(script string) proc.Spec {
	return proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, KillGrace: 200 * time.Millisecond}
}

// waitGone polls until pid no longer exists (or is a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return !strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading pid file: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q", f)
		}
		pids = append(pids, p)
	}
	if len(pids) == 0 {
		t.Fatal("no pids recorded")
	}
	return pids
}

func TestRunReportsExitCodeAndOutput(t *testing.T) {
	res, err := proc.Run(context.Background(), sh(`echo out; echo err1 >&2; echo err2 >&2; exit 3`))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", res.ExitCode)
	}
	if string(res.Stdout) != "out\n" {
		t.Errorf("stdout = %q", res.Stdout)
	}
	if strings.Join(res.StderrTail, "|") != "err1|err2" {
		t.Errorf("stderr tail = %q", res.StderrTail)
	}
}

func TestRunDoesNotInheritEnvironment(t *testing.T) {
	t.Setenv("BERTH_SECRET_TEST", "leak")
	res, err := proc.Run(context.Background(), sh(`env`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), "leak") {
		t.Errorf("host environment leaked: %s", res.Stdout)
	}
	if !strings.Contains(string(res.Stdout), proc.MarkerVar+"=") {
		t.Errorf("marker variable missing: %s", res.Stdout)
	}
}

func TestTimeoutKillsTheWholeTree(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	// A child, a grandchild, and a daemon that left the session.
	script := `sleep 300 & echo $! >> ` + pidfile + `
(sleep 300 & echo $! >> ` + pidfile + `; wait) &
setsid sh -c 'echo $$ >> ` + pidfile + `; exec sleep 300' &
trap '' TERM
sleep 300`
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := proc.Run(ctx, sh(script))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if !res.Killed {
		t.Error("result does not say the program was killed")
	}
	for _, p := range readPids(t, pidfile) {
		if alive(p) {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			cl, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
			t.Errorf("process %d survived the timeout: %s %q (berth is %d)", p, st, cl, os.Getpid())
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func TestDaemonsDieWhenTheProgramEnds(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	script := `( setsid sh -c 'echo $$ >> ` + pidfile + `; exec sleep 300' >/dev/null 2>&1 & ) ; sleep 0.1; echo done`
	res, err := proc.Run(context.Background(), sh(script))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "done" {
		t.Fatalf("unexpected result %+v", res)
	}
	for _, p := range readPids(t, pidfile) {
		if alive(p) {
			t.Errorf("double-forked daemon %d outlived the program", p)
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func TestStdoutCapFailsTheRun(t *testing.T) {
	spec := sh(`yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`)
	spec.StdoutCap = 64 * 1024
	res, err := proc.Run(context.Background(), spec)
	if !errors.Is(err, proc.ErrOutputTooLarge) {
		t.Fatalf("err = %v, want ErrOutputTooLarge", err)
	}
	if int64(len(res.Stdout)) > spec.StdoutCap {
		t.Errorf("kept %d bytes, more than the cap", len(res.Stdout))
	}
}

func TestStartErrorNamesTheProgram(t *testing.T) {
	_, err := proc.Run(context.Background(), proc.Spec{Path: "/nonexistent/prog"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
		t.Fatalf("err = %v", err)
	}
}

func TestLinesAreDeliveredLive(t *testing.T) {
	var got []string
	spec := sh(`echo a >&2; echo b >&2`)
	spec.OnStderr = func(l string) { got = append(got, l) }
	if _, err := proc.Run(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("lines = %q", got)
	}
}

// A program written while other goroutines fork can be "text file busy"
// for a moment; runs started in parallel with fresh copies must all work.
func TestFreshProgramsStartUnderConcurrentForks(t *testing.T) {
	dir := t.TempDir()
	errs := make(chan error, 64)
	for i := range 64 {
		go func() {
			p := filepath.Join(dir, "prog"+strconv.Itoa(i))
			if err := os.WriteFile(p, []byte("#!/bin/sh\necho ok\n"), 0o755); err != nil {
				errs <- err
				return
			}
			res, err := proc.Run(context.Background(), proc.Spec{Path: p})
			if err == nil && strings.TrimSpace(string(res.Stdout)) != "ok" {
				err = errors.New("unexpected output " + string(res.Stdout))
			}
			errs <- err
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestOnStartErrorKillsTheProgram(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	spec := sh(`echo $$ > ` + pidfile + `; sleep 300`)
	var started int
	spec.OnStart = func(pid int) error {
		started = pid
		return errors.New("no cgroup for you")
	}
	_, err := proc.Run(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "no cgroup for you") {
		t.Fatalf("err = %v, want the OnStart error", err)
	}
	if started == 0 || alive(started) {
		t.Errorf("the program (pid %d) was not started or survived", started)
	}
}

// Docspell's AddonGenerator.scala:100-101 writes its test addons with a
// blank first line before "#!/usr/bin/env bash"; Java's ProcessBuilder,
// like execvp, runs such a file (ENOEXEC for the kernel) through /bin/sh.
func TestAProgramWithoutAShebangOnItsFirstLineRunsThroughTheShell(t *testing.T) {
	p := filepath.Join(t.TempDir(), "addon.sh")
	if err := os.WriteFile(p, []byte("\n#!/usr/bin/env bash\n\necho \"ran with $# args: $1\"\n\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := proc.Run(context.Background(), proc.Spec{Path: p, Args: []string{"first"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatalf("Run = %v, want the shell to run the file", err)
	}
	if got := strings.TrimSpace(string(res.Stdout)); res.ExitCode != 0 || got != "ran with 1 args: first" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.ExitCode, got, res.StderrTail)
	}
}
