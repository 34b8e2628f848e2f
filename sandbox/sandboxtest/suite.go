package sandboxtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
)

// Limits the sandbox under test must be configured with, so that the
// fork bomb and the memory hog hit them quickly.
const (
	MemoryLimit = 128 << 20
	PidsLimit   = 64
)

// Options adapt the suite to one sandbox.
type Options struct {
	// Sandbox is configured with MemoryLimit and PidsLimit.
	Sandbox runner.Sandbox
	// NoOOMReport skips the assertion that the memory hog is reported
	// as out of memory (for a sandbox that cannot tell).
	NoOOMReport bool
	// EphemeralRoot says the sandbox's root file system is a writable
	// throw-away copy (nspawn --ephemeral): writes to /, /usr or /etc
	// inside are then allowed, as long as the host is unchanged.
	EphemeralRoot bool
	// AfterRun, if set, asserts that nothing of the sandbox is left.
	AfterRun func(t *testing.T, runID string)
}

// FixtureDir returns the directory of a hostile fixture addon.
func FixtureDir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "hostile", name)
}

// Adversarial runs every hostile fixture under opts.Sandbox.
func Adversarial(t *testing.T, opts Options) {
	s := suite{opts}
	t.Run("a pure addon cannot connect to a listener on the host's loopback", s.testNetwork)
	t.Run("a planted secret and /etc/shadow cannot be read", s.testSecret)
	t.Run("writes outside WORK, OUTPUT_DIR and CACHE_DIR fail", s.testWrites)
	t.Run("host processes can be neither seen nor killed", s.testProcesses)
	t.Run("a fork bomb is contained by the pids limit and the run fails cleanly", s.testForkBomb)
	t.Run("a memory hog is killed and reported as out of memory", s.testMemoryHog)
	t.Run("the host's keyrings cannot be listed through /proc/keys", s.testKeys)
	t.Run("a double-forked daemon is gone when the run ends", s.testDaemon)
	t.Run("pid 1 of the sandbox cannot be ptrace-stopped to hold the run", s.testStopInit)
	t.Run("a timeout removes the whole sandbox", s.testTimeout)
}

type suite struct{ Options }

func token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run runs fixture name with input, under the sandbox or, when sb is
// nil, on the host (the control that proves the fixture is hostile).
func (s suite) run(t *testing.T, sb runner.Sandbox, name, input string, timeout time.Duration) (*executor.Result, string) {
	return s.runAs(t, sb, "adv-"+name+"-"+token(), name, input, timeout)
}

func (s suite) runAs(t *testing.T, sb runner.Sandbox, runID, name, input string, timeout time.Duration) (*executor.Result, string) {
	t.Helper()
	return s.runDir(t, sb, runID, FixtureDir(name), input, timeout)
}

// runDir runs the addon in dir as runAs does.
func (s suite) runDir(t *testing.T, sb runner.Sandbox, runID, dir, input string, timeout time.Duration) (*executor.Result, string) {
	t.Helper()
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sb == nil {
		sb = runner.NoSandbox{}
	}
	out := filepath.Join(t.TempDir(), "output")
	ex := &executor.Executor{
		Runners:    map[string]runner.Runner{addon.RunnerTrivial: trivial.New(sb)},
		Preference: []string{addon.RunnerTrivial},
		WorkRoot:   t.TempDir(),
		CacheRoot:  t.TempDir(),
		Timeout:    timeout,
		KillGrace:  300 * time.Millisecond,
		PathEnv:    []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	}
	res, err := ex.Run(context.Background(), executor.Request{
		RunID:     runID,
		Steps:     []executor.Step{{Addon: a, UserInput: input}},
		OutputDir: out,
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if left := markedProcesses(proc.MarkerVar + "=" + runID); len(left) > 0 {
		t.Errorf("processes of run %s survived it: %v", runID, left)
	}
	if s.AfterRun != nil && sb == s.Sandbox {
		s.AfterRun(t, runID)
	}
	return res, out
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func requireSuccess(t *testing.T, res *executor.Result) {
	t.Helper()
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
	}
	if !res.Isolated {
		t.Error("the run was not reported isolated")
	}
}

func (s suite) testNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	res, out := s.run(t, s.Sandbox, "net-connect", port, time.Minute)
	requireSuccess(t, res)
	if got := read(t, out, "report"); got != "blocked" {
		t.Errorf("the addon reports %q, want blocked", got)
	}
	mu.Lock()
	if accepted != 0 {
		t.Errorf("the host listener accepted %d connections from the sandbox", accepted)
	}
	mu.Unlock()
}

func (s suite) testSecret(t *testing.T) {
	secret := "s3cret-" + token()
	file := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(file, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	shadow, _ := os.ReadFile("/etc/shadow")

	res, out := s.run(t, s.Sandbox, "read-secret", file, time.Minute)
	requireSuccess(t, res)
	if got := read(t, out, "secret"); strings.Contains(got, secret) {
		t.Error("the addon read the planted secret")
	}
	if got := read(t, out, "shadow"); got != "" && len(shadow) > 0 && strings.Contains(string(shadow), got) {
		t.Errorf("the addon read the host's /etc/shadow (%d bytes)", len(got))
	}
	if got := read(t, out, "root-listing"); got == "" {
		t.Error("the addon could not even list / (is the fixture running?)")
	}
}

func (s suite) testWrites(t *testing.T) {
	hostDir := t.TempDir()
	tok := token()
	targets := []string{
		filepath.Join(hostDir, "pwned-"+tok), "/tmp/pwned-" + tok, "/pwned-" + tok, "/usr/pwned-" + tok,
		"/etc/pwned-" + tok, "/mnt/pwned-" + tok, "/var/tmp/pwned-" + tok, "/dev/shm/pwned-" + tok,
	}
	t.Cleanup(func() {
		for _, p := range targets {
			os.Remove(p)
		}
	})
	res, out := s.run(t, s.Sandbox, "write-outside", hostDir+"\n"+tok+"\n", time.Minute)
	requireSuccess(t, res)
	for _, p := range targets {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("the addon wrote %s on the host", p)
		}
	}
	report := read(t, out, "report")
	if !strings.Contains(report, "legit-ok") {
		t.Errorf("legitimate writes to OUTPUT_DIR, CACHE_DIR and TMPDIR failed: %s", report)
	}
	for _, line := range strings.Split(report, "\n") {
		inRoot := strings.HasPrefix(line, "wrote /usr") || strings.HasPrefix(line, "wrote /etc") || strings.HasPrefix(line, "wrote /pwned")
		if inRoot && !s.EphemeralRoot || strings.HasPrefix(line, "wrote "+hostDir) {
			t.Errorf("inside the sandbox: %s", line)
		}
	}
}

func (s suite) testProcesses(t *testing.T) {
	victim := exec.Command("sleep", "300")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pid := victim.Process.Pid

	res, out := s.run(t, s.Sandbox, "signal-host", strconv.Itoa(pid), time.Minute)
	requireSuccess(t, res)
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the host process %d was killed from the sandbox: %v", pid, err)
	}
	report := read(t, out, "report")
	if !strings.Contains(report, "invisible") || !strings.Contains(report, "kill-failed") {
		t.Errorf("the addon reports %q, want invisible and kill-failed", report)
	}
	if n, _ := strconv.Atoi(read(t, out, "process-count")); n > 10 {
		t.Errorf("the addon sees %d processes, want only its own few", n)
	}
}

func (s suite) testForkBomb(t *testing.T) {
	runID := "adv-fork-bomb-" + token()
	runDone := make(chan struct{})
	var res *executor.Result
	var peak int
	var out string
	go func() {
		defer close(runDone)
		res, out = s.runAs(t, s.Sandbox, runID, "fork-bomb", "", Scaled(4*time.Second))
	}()
	// While the bomb runs, the host must still be able to start programs,
	// and the sandbox must not hold more processes than the limit.
	responsive := false
	for {
		select {
		case <-runDone:
			goto done
		case <-time.After(200 * time.Millisecond):
		}
		if err := exec.Command("/bin/true").Run(); err == nil {
			responsive = true
		} else {
			t.Errorf("the host cannot start a program during the fork bomb: %v", err)
		}
		if n := len(markedProcesses(proc.MarkerVar + "=" + runID)); n > peak {
			peak = n
		}
	}
done:
	if res == nil {
		t.FailNow()
	}
	_ = out
	if peak < PidsLimit/4 {
		t.Errorf("the fork bomb reached only %d processes: did it run?", peak)
	}
	if res.Kind == executor.Success {
		t.Errorf("the fork bomb's run succeeded; want a failure")
	}
	if !responsive {
		t.Error("the host never managed to start a program during the fork bomb")
	}
	// The sandbox's init and the processes nspawn keeps outside it may
	// come on top of the limit.
	if peak > PidsLimit+8 {
		t.Errorf("the fork bomb reached %d processes, over the limit of %d", peak, PidsLimit)
	}
	t.Logf("fork bomb: result %s (%s), peak %d processes", res.Kind, res.Error, peak)
}

func (s suite) testMemoryHog(t *testing.T) {
	res, _ := s.run(t, s.Sandbox, "memory-hog", "", time.Minute)
	if res.Kind == executor.Success {
		t.Fatal("the memory hog succeeded")
	}
	if s.NoOOMReport {
		return
	}
	if len(res.Addons) != 1 || !res.Addons[0].OutOfMemory {
		t.Errorf("the result does not say the addon ran out of memory: %s: %s", res.Kind, res.Error)
	}
}

// hostKey adds a key with a unique description to the test's session
// keyring (readable by its uid, as the host root's keys are to a
// container's root under an identity mapping) and returns it.
func hostKey(t *testing.T) string {
	t.Helper()
	desc := "berth-test-key-" + token()
	id, err := unix.AddKey("user", desc, []byte("secret"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		t.Skipf("cannot add a key to the session keyring here: %v", err)
	}
	t.Cleanup(func() { _, _ = unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_SESSION_KEYRING, 0, 0) })
	return desc
}

func (s suite) testKeys(t *testing.T) {
	desc := hostKey(t)
	res, out := s.run(t, s.Sandbox, "read-keys", "", time.Minute)
	requireSuccess(t, res)
	if read(t, out, "ran") != "done" {
		t.Fatal("the fixture did not run")
	}
	if strings.Contains(read(t, out, "keys"), desc) {
		t.Errorf("the addon listed the host's key %s", desc)
	}
	if got := read(t, out, "key-users"); got != "" {
		t.Errorf("the addon read /proc/key-users: %q", got)
	}
}

func (s suite) testDaemon(t *testing.T) {
	tok := "BERTH_DAEMON_TOKEN=" + token()
	res, out := s.run(t, s.Sandbox, "daemon", strings.TrimPrefix(tok, "BERTH_DAEMON_TOKEN="), time.Minute)
	requireSuccess(t, res)
	if read(t, out, "daemon") != "started" {
		t.Fatal("the daemon never started")
	}
	if left := markedProcesses(tok); len(left) > 0 {
		t.Errorf("the daemon survived the run: %v", left)
	}
}

// testStopInit is issue 18's "an addon can ptrace-stop its container's
// pid 1 so the run hangs until the timeout": the sandbox must refuse the
// attach (as the builtin sandbox's seccomp filter does) or end the run
// promptly; a run that lasts until its timeout fails this test.
func (s suite) testStopInit(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"docspell-addon.yaml", "run.sh"} {
		b, err := os.ReadFile(filepath.Join(FixtureDir("stop-init"), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(BuildPtraceStop(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ptracestop"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	res, out := s.runDir(t, s.Sandbox, "adv-stop-init-"+token(), dir, "", 20*time.Second)
	if res.Kind != executor.Success {
		if strings.Contains(res.Error, "timed out") {
			t.Fatalf("the addon held the sandbox's pid 1 stopped until the timeout: %s", res.Error)
		}
		if !strings.Contains(res.Error, "init") {
			t.Fatalf("result %s: %s (stderr %q), want success (attach refused) or a failure naming the stopped init", res.Kind, res.Error, res.StderrTail)
		}
		return
	}
	if read(t, out, "ran") != "done" {
		t.Fatal("the fixture did not run")
	}
	if got := read(t, out, "attach"); !strings.Contains(got, "refused") {
		t.Errorf("ptracestop said %q, want the attach refused", got)
	}
}

// Scaled stretches a run's timeout d by BERTH_TEST_TIME_SCALE (an
// integer, default 1): the VM job sets it when the VM is emulated
// (TCG), where starting a sandbox and forking take several times longer.
// It only makes a run wait longer, so no check becomes weaker.
func Scaled(d time.Duration) time.Duration {
	if n, err := strconv.Atoi(os.Getenv("BERTH_TEST_TIME_SCALE")); err == nil && n > 1 {
		return d * time.Duration(n)
	}
	return d
}

func (s suite) testTimeout(t *testing.T) {
	tok := "BERTH_DAEMON_TOKEN=" + token()
	res, out := s.run(t, s.Sandbox, "hang", strings.TrimPrefix(tok, "BERTH_DAEMON_TOKEN="), Scaled(2*time.Second))
	if read(t, out, "started") == "" {
		// OUTPUT_DIR is not kept on failure; the check below still holds.
		t.Log("no started marker (output dir discarded on failure)")
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "timed out") {
		t.Errorf("result %s: %s, want a timeout", res.Kind, res.Error)
	}
	if left := markedProcesses(tok); len(left) > 0 {
		t.Errorf("processes survived the timeout: %v", left)
	}
}

// markedProcesses lists live processes whose environment holds needle
// (a VAR=value prefix).
func markedProcesses(needle string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+needle)) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			i := bytes.LastIndexByte(st, ')')
			if i > 0 && bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// Control runs the harmless-to-run fixtures on the host without a
// sandbox and checks that they do what they claim, so that the suite's
// assertions can fail.
func Control(t *testing.T) {
	s := suite{}
	t.Run("without a sandbox the secret is readable", func(t *testing.T) {
		secret := "s3cret-" + token()
		file := filepath.Join(t.TempDir(), "secret.txt")
		if err := os.WriteFile(file, []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
		_, out := s.run(t, nil, "read-secret", file, time.Minute)
		if !strings.Contains(read(t, out, "secret"), secret) {
			t.Error("the fixture did not read the secret on the host")
		}
	})
	t.Run("without a sandbox the listener is reached", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, out := s.run(t, nil, "net-connect", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), time.Minute)
		if got := read(t, out, "report"); got != "connected" {
			t.Errorf("the fixture reports %q on the host, want connected", got)
		}
	})
	t.Run("without a sandbox the host's keys are listed", func(t *testing.T) {
		KeepMountTable(t) // the fixture's /proc of its own is on the host here
		desc := hostKey(t)
		_, out := s.run(t, nil, "read-keys", "", time.Minute)
		if !strings.Contains(read(t, out, "keys"), desc) {
			t.Errorf("the fixture did not list the key %s on the host", desc)
		}
	})
	t.Run("without a sandbox a host directory is writable", func(t *testing.T) {
		hostDir := t.TempDir()
		tok := token()
		t.Cleanup(func() {
			for _, d := range []string{"/tmp", "/", "/usr", "/etc", "/mnt", "/var/tmp", "/dev/shm"} {
				os.Remove(filepath.Join(d, "pwned-"+tok))
			}
		})
		s.run(t, nil, "write-outside", hostDir+"\n"+tok+"\n", time.Minute)
		if _, err := os.Stat(filepath.Join(hostDir, "pwned-"+tok)); err != nil {
			t.Errorf("the fixture did not write into the host directory: %v", err)
		}
	})
}
