package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/runnertest"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// TestMain lets the test binary be the sandbox's init, as cmd/berth is.
func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	if mib := os.Getenv(touchVar); mib != "" {
		os.Exit(touch(mib))
	}
	os.Exit(sandboxtest.RunKeepingMountTable(m))
}

func requireBuiltin(t *testing.T, sb *builtin.Sandbox) {
	t.Helper()
	sandboxtest.KeepMountTable(t)
	if err := sb.Available(context.Background()); err != nil {
		t.Fatalf("the builtin sandbox is not available: %v", err)
	}
}

// testInit is the berth-sandbox-init the tests start: the one in
// BERTH_TEST_INIT (the unprivileged child's), else a fresh build.
func testInit(t *testing.T) string {
	if p := os.Getenv("BERTH_TEST_INIT"); p != "" {
		return p
	}
	return sandboxtest.BuildInit(t, "")
}

// limited is a sandbox with the suite's limits whose init is the
// dedicated berth-sandbox-init, as for an installed berth.
func limited(t *testing.T) *builtin.Sandbox {
	return builtin.New(builtin.Config{
		Limits:   builtin.Limits{MemoryBytes: sandboxtest.MemoryLimit, Pids: sandboxtest.PidsLimit},
		InitPath: testInit(t),
	})
}

// unprivileged is set in the child of TestAnUnprivilegedBerthContainsTheAddonsToo.
var unprivileged = os.Getenv("BERTH_TEST_UNPRIVILEGED") != ""

// cgroupsHere tells whether runs get cgroups here (root, or a user with
// a delegated cgroup v2 group), as berth doctor finds out: else their
// limits are rlimits, without OOM reports.
func cgroupsHere(t *testing.T) bool {
	e, err := builtin.CheckLimits(builtin.Limits{MemoryBytes: sandboxtest.MemoryLimit, Pids: sandboxtest.PidsLimit})
	if err != nil {
		t.Fatal(err)
	}
	return e.OOMReported
}

func TestAdversarialAddonsAreContained(t *testing.T) {
	sb := limited(t)
	requireBuiltin(t, sb)
	sandboxtest.Adversarial(t, sandboxtest.Options{
		Sandbox: sb,
		// Without cgroups (a user without delegation) the memory limit
		// is an rlimit: allocations fail, nothing is killed.
		NoOOMReport: !cgroupsHere(t),
		AfterRun: func(t *testing.T, runID string) {
			if left := cgroupsOf(runID); len(left) > 0 {
				t.Errorf("the run's cgroups were not removed: %v", left)
			}
		},
	})
}

func TestFixturesAreHostileWithoutASandbox(t *testing.T) {
	sandboxtest.Control(t)
}

// cgroupsOf finds cgroup directories left by a run.
func cgroupsOf(runID string) []string {
	return cgroups.Leftovers("run-" + runID + "-")
}

func TestTheProgramHasNoPrivilegesLeft(t *testing.T) {
	for _, init := range []struct{ name, path string }{
		{"with berth-sandbox-init", testInit(t)},
		{"with the binary itself as init", builtin.SelfInit},
	} {
		t.Run(init.name, func(t *testing.T) { testNoPrivilegesLeft(t, init.path) })
	}
}

func testNoPrivilegesLeft(t *testing.T, initPath string) {
	sb := builtin.New(builtin.Config{InitPath: initPath})
	requireBuiltin(t, sb)
	script := `grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
unshare -U true 2>/dev/null && echo unshare-worked
mount -t tmpfs t /tmp 2>/dev/null && echo mount-worked
echo x > /usr/berth-probe 2>/dev/null && echo usr-writable
echo x >> /etc/nsswitch.conf 2>/dev/null && echo etc-writable
# /etc/ssl/private is covered with an empty directory: nothing of it shows.
[ -n "$(ls -A /etc/ssl/private 2>/dev/null)" ] && echo ssl-private-visible
cat /etc/shadow 2>/dev/null | grep -q . && echo shadow-readable
hostname
id -u
for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/kallsyms; do [ -n "$(head -c 1 $f 2>/dev/null | od -An -c)" ] && echo "readable $f"; done
for f in /proc/kcore /proc/keys /proc/acpi /proc/sys; do umount -l $f 2>/dev/null && echo "unmounted $f"; done
for p in /proc/sys /proc/fs /proc/irq /proc/bus /proc/sysrq-trigger; do [ -e $p ] || continue; awk -v p=$p '$5 == p { split($6, o, ","); if (o[1] == "ro") ro = 1 } END { if (!ro) print "writable " p }' /proc/self/mountinfo; done
true`
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	res := runOK(t, sb, spec, runner.Invocation{})
	got := string(res.Stdout)
	for _, want := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "\nberth\n", "\n0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("the program's view lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"unshare-worked", "mount-worked", "usr-writable", "ssl-private-visible", "shadow-readable", "readable /proc", "etc-writable", "unmounted /proc", "writable /proc"} {
		if strings.Contains(got, bad) {
			t.Errorf("inside the sandbox: %s", bad)
		}
	}
}

func TestAvailableSaysWhenTheBinaryDoesNotRunTheInit(t *testing.T) {
	sb := builtin.New(builtin.Config{InitPath: "/bin/true"})
	err := sb.Available(context.Background())
	if !errors.Is(err, builtin.ErrNoInit) {
		t.Fatalf("Available = %v, want ErrNoInit", err)
	}
	if !strings.Contains(err.Error(), "builtin.Init") {
		t.Errorf("the error does not say what to fix: %v", err)
	}
}

func TestTrivialRunnerInTheBuiltinSandboxMeetsTheContract(t *testing.T) {
	sb := builtin.New(builtin.Config{Limits: builtin.DefaultLimits()})
	requireBuiltin(t, sb)
	runnertest.Run(t, runnertest.Harness{
		Runner:   trivial.New(sb),
		Isolated: true,
		Package:  sandboxtest.PackageScript,
	})
}

// TestAnUnprivilegedBerthContainsTheAddonsToo runs the adversarial suite
// again as user nobody: user namespaces instead of root, rlimits instead
// of cgroups.
func TestAnUnprivilegedBerthContainsTheAddonsToo(t *testing.T) {
	if unprivileged {
		t.Skip("already unprivileged")
	}
	if os.Geteuid() != 0 {
		t.Skip("the test switches to user nobody, which needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	// The test binary and the init, where nobody may run them
	// (inside its user namespace nobody execs the init by path, so the
	// parent directory must let it through too).
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "builtin.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	init := sandboxtest.BuildInit(t, dir)
	stopper, err := os.ReadFile(sandboxtest.BuildPtraceStop(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ptracestop"), stopper, 0o755); err != nil {
		t.Fatal(err)
	}
	// A temporary directory of nobody's own: the host's /tmp may not
	// let nobody in (mode 0755 on some machines).
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin,
		"-test.run=^(TestAdversarialAddonsAreContained|TestAGoProgramGetsTheMemoryItIsAllowed)$", "-test.v")
	cmd.Env = append(os.Environ(), "BERTH_TEST_UNPRIVILEGED=1", "HOME=/tmp", "TMPDIR="+tmp, "BERTH_TEST_INIT="+init, "BERTH_TEST_PTRACESTOP="+filepath.Join(dir, "ptracestop"))
	wd, _ := os.Getwd()
	cmd.Dir = wd
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite failed as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestAdversarialAddonsAreContained") || !strings.Contains(string(out), "--- PASS: TestAGoProgramGetsTheMemoryItIsAllowed") {
		t.Fatalf("the suite did not run as nobody:\n%s", out)
	}
}

func TestASuccessfulProbeIsRememberedForThisBinaryOnly(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "probe")
	if err := builtin.New(builtin.Config{ProbeCache: cache}).Available(context.Background()); err != nil {
		t.Fatalf("first probe: %v", err)
	}
	if b, err := os.ReadFile(cache); err != nil || len(b) < 64 {
		t.Fatalf("the probe was not remembered: %q %v", b, err)
	}
	// A cancelled context cannot start a probe: success now proves that
	// the remembered answer was used.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := builtin.New(builtin.Config{ProbeCache: cache}).Available(ctx); err != nil {
		t.Errorf("a second process probed again instead of using the cache: %v", err)
	}
	// Another init binary is another key: it is probed, and fails.
	err := builtin.New(builtin.Config{ProbeCache: cache, InitPath: "/bin/true"}).Available(context.Background())
	if !errors.Is(err, builtin.ErrNoInit) {
		t.Errorf("a different init binary used the remembered probe: err = %v", err)
	}
	// A stale or foreign file is not trusted.
	os.WriteFile(cache, []byte("something else\n"), 0o644)
	if err := builtin.New(builtin.Config{ProbeCache: cache}).Available(ctx); err == nil {
		t.Error("a cache file with the wrong key was trusted")
	}
}

// TestAHostDirectoryBerthInheritedStaysOutside opens a host directory
// the way a careless parent of berth leaves one open (without
// close-on-exec): the program must not inherit it, or it would reach
// the host's files through it.
func TestAHostDirectoryBerthInheritedStaysOutside(t *testing.T) {
	sb := builtin.New(builtin.Config{})
	requireBuiltin(t, sb)
	dir := t.TempDir()
	secret := "s3cret-inherited-fd"
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0) // no O_CLOEXEC, on purpose
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	n := strconv.Itoa(fd)
	// The shell's own descriptor table, /proc/$$/fd: an `ls /proc/self/fd`
	// lists ls's descriptors, where the one it opened to read the
	// directory can carry the same number (a false alarm, seen in the VM).
	script := `cat /proc/$$/fd/` + n + `/secret.txt 2>/dev/null; [ -e /proc/$$/fd/` + n + ` ] && echo inherited; true`
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	res := runOK(t, sb, spec, runner.Invocation{})
	if got := string(res.Stdout); strings.Contains(got, secret) || strings.Contains(got, "inherited") {
		t.Errorf("the program inherited berth's descriptor %s of a host directory: %q", n, got)
	}
}

// TestTheWritableTmpfsAreNoLargerThanTheMemoryLimit checks the sizes of
// /tmp and /dev/shm: by default a tmpfs may take half the host's RAM,
// which with the rlimit fallback (no memory cgroup to charge) would let
// an addon fill the host's memory through files.
func TestTheWritableTmpfsAreNoLargerThanTheMemoryLimit(t *testing.T) {
	const limit = 64 << 20
	sb := builtin.New(builtin.Config{Limits: builtin.Limits{MemoryBytes: limit}})
	requireBuiltin(t, sb)
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", "df -k /tmp /dev/shm"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	res := runOK(t, sb, spec, runner.Invocation{})
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("unexpected df line %q", line)
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("df line %q: %v", line, err)
		}
		seen++
		if kb*1024 > limit {
			t.Errorf("%s holds %d KiB, more than the memory limit of %d KiB", f[5], kb, limit/1024)
		}
	}
	if seen != 2 {
		t.Errorf("df showed %d file systems, want /tmp and /dev/shm:\n%s", seen, res.Stdout)
	}
}

func TestTheInitRefusesAConfigurationOfAnotherVersion(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, `{"version":%d,"program":"/bin/true","hostname":"berth"}`, nsinit.Version+1)
	w.Close()
	defer r.Close()
	cmd := exec.Command(testInit(t), nsinit.Arg)
	cmd.ExtraFiles = []*os.File{r}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != nsinit.ExitVersion {
		t.Fatalf("the init ran a configuration of another version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "not from the same build") {
		t.Errorf("the init does not say what is wrong: %s", out)
	}
}

func TestTheInitSaysItIsNotForHumans(t *testing.T) {
	out, err := exec.Command(testInit(t)).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "not meant to be run by hand") {
		t.Errorf("berth-sandbox-init without arguments: %v\n%s", err, out)
	}
}

// A read-only path brings the host's mounts below it along (a recursive
// bind): each must be read-only inside too, though writable on the host.
func TestMountsBelowAReadOnlyPathAreReadOnlyInside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting the host's tmpfs needs root")
	}
	// The mount table escapes a space, a tab, a newline and a backslash
	// in a mount point (\040 \011 \012 \134).
	for _, below := range []string{"sub/deeper", "a b/c\td\ne\\f"} {
		t.Run(strconv.Quote(below), func(t *testing.T) { testMountBelowReadOnly(t, below) })
	}
}

func testMountBelowReadOnly(t *testing.T, below string) {
	// Not below /tmp, which the sandbox has its own of.
	dir, err := os.MkdirTemp("/var/tmp", "berth-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sub := filepath.Join(dir, below)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0777,size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs below the read-only path: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "host-can-write"), nil, 0o644); err != nil {
		t.Fatalf("the tmpfs is not writable on the host: %v", err)
	}
	sb := builtin.New(builtin.Config{ReadOnly: []string{dir}, InitPath: testInit(t)})
	requireBuiltin(t, sb)
	script := `test -e "$SUB/host-can-write" && echo visible; touch "$SUB/x" 2>/dev/null && echo wrote-submount; touch "$DIR/y" 2>/dev/null && echo wrote-top; true`
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin", "SUB=" + sub, "DIR=" + dir}}
	res := runOK(t, sb, spec, runner.Invocation{})
	got := string(res.Stdout)
	if !strings.Contains(got, "visible") {
		t.Fatalf("the mount below the read-only path is not there inside: %q", got)
	}
	for _, bad := range []string{"wrote-submount", "wrote-top"} {
		if strings.Contains(got, bad) {
			t.Errorf("inside the sandbox: %s (%q)", bad, got)
		}
	}
}

// A host mount hidden by a later one over its parent (here sub/deeper
// under a tmpfs mounted on sub afterwards) is in the mount table but
// cannot be reached: the sandbox still starts, and the mount on top is
// read-only inside.
func TestAHiddenMountBelowAReadOnlyPathDoesNotStopTheSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting the host's tmpfs needs root")
	}
	dir, err := os.MkdirTemp("/var/tmp", "berth-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sub := filepath.Join(dir, "sub")
	deep := filepath.Join(sub, "deeper")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{deep, sub} {
		if err := unix.Mount("tmpfs", m, "tmpfs", 0, "mode=0777,size=1m"); err != nil {
			t.Fatalf("mounting a tmpfs on %s: %v", m, err)
		}
		t.Cleanup(func() { unix.Unmount(m, unix.MNT_DETACH) })
	}
	sb := builtin.New(builtin.Config{ReadOnly: []string{dir}, InitPath: testInit(t)})
	requireBuiltin(t, sb)
	script := `test -d "$SUB" && echo there; touch "$SUB/x" 2>/dev/null && echo wrote; true`
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin", "SUB=" + sub}}
	res := runOK(t, sb, spec, runner.Invocation{})
	if got := string(res.Stdout); !strings.Contains(got, "there") || strings.Contains(got, "wrote") {
		t.Errorf("inside: %q, want the mount on top there and read-only", got)
	}
}

// An operator's read-only path may lie inside one already bound (a file
// or directory below /usr): the init cannot create its mount point in
// the read-only bind, and need not, since it is there already.
func TestAReadOnlyPathInsideAnotherIsBound(t *testing.T) {
	for _, p := range []string{"/usr/bin/env", "/usr/share/doc"} {
		t.Run(p, func(t *testing.T) {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the host lacks %s: %v", p, err)
			}
			sb := builtin.New(builtin.Config{ReadOnly: []string{p}, InitPath: testInit(t)})
			requireBuiltin(t, sb)
			spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", "test -e " + p + " && echo there"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
			res := runOK(t, sb, spec, runner.Invocation{})
			if !strings.Contains(string(res.Stdout), "there") {
				t.Errorf("%s is not there inside: %q", p, res.Stdout)
			}
		})
	}
}

func TestTheProgramSeesItsCgroupsAsTheRoot(t *testing.T) {
	sb := limited(t)
	requireBuiltin(t, sb)
	spec := proc.Spec{Path: "/bin/cat", Args: []string{"/proc/self/cgroup"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	res := runOK(t, sb, spec, runner.Invocation{RunID: "cgroupns"})
	lines := strings.Fields(string(res.Stdout))
	if len(lines) == 0 {
		t.Fatal("no /proc/self/cgroup inside")
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("the program sees the host's cgroup path %q", l)
		}
	}
}

// On cgroup v1 the run's group is made while the init starts: when
// making it fails (here: a CPU quota below the kernel's minimum), the
// run fails saying so, and the program never starts.
func TestARunWhoseCgroupCannotBeMadeFailsBeforeTheProgramStarts(t *testing.T) {
	if !cgroupsHere(t) {
		t.Skip("berth may not create cgroups as this user (its limits are rlimits)")
	}
	sb := builtin.New(builtin.Config{Limits: builtin.Limits{CPUs: 1e-6}, InitPath: testInit(t)})
	requireBuiltin(t, sb)
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", "echo ran"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	w, err := sb.Wrap(context.Background(), spec, runner.Invocation{RunID: "no-cgroup"})
	if err != nil {
		if !strings.Contains(err.Error(), "cgroup") {
			t.Fatalf("Wrap = %v, want an error about the run's cgroup", err)
		}
		return // v2: made before the clone, refused at once
	}
	res, err := proc.Run(context.Background(), w.Spec)
	w.Finish(res)
	if err == nil || !strings.Contains(err.Error(), "creating the run's cgroup") {
		t.Errorf("run error = %v, want one about creating the run's cgroup", err)
	}
	if strings.Contains(string(res.Stdout), "ran") {
		t.Error("the program ran without its cgroup")
	}
}

// runOK runs spec in sb and fails the test unless it exits 0.
func runOK(t *testing.T, sb *builtin.Sandbox, spec proc.Spec, inv runner.Invocation) proc.Result {
	t.Helper()
	w, err := sb.Wrap(context.Background(), spec, inv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := proc.Run(context.Background(), w.Spec)
	w.Finish(res)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, err %v, stderr %q", res.ExitCode, err, res.StderrTail)
	}
	return res
}

func TestDocspellsProgramsRunAsOnDocspell(t *testing.T) {
	sb := limited(t)
	requireBuiltin(t, sb)
	sandboxtest.Docspell(t, sb)
}

func TestProgramsRunWithoutASandboxAsOnDocspell(t *testing.T) {
	sandboxtest.Docspell(t, runner.NoSandbox{})
}

// A program that is "text file busy" for a moment (berth's own forks
// hold a freshly copied addon open until they exec) starts once it is
// not: the init retries as proc does outside a sandbox, instead of
// failing the run with exit 126.
func TestAProgramBusyForAMomentStartsInsideTheSandbox(t *testing.T) {
	sb := limited(t)
	requireBuiltin(t, sb)
	inv := runner.Invocation{RunID: "busy-" + strconv.Itoa(os.Getpid()), WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir()}
	prog := filepath.Join(inv.WorkDir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho started\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	busy, err := os.OpenFile(prog, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sb.Wrap(context.Background(), proc.Spec{Path: runner.ContainerPaths.Work + "/prog", Dir: runner.ContainerPaths.Work,
		Env: []string{"PATH=/usr/bin:/bin"}}, inv)
	if err != nil {
		t.Fatal(err)
	}
	w.Spec.OnStart = chainOnStart(w.Spec.OnStart, func() { time.AfterFunc(100*time.Millisecond, func() { busy.Close() }) })
	res, err := proc.Run(context.Background(), w.Spec)
	w.Finish(res)
	busy.Close()
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "started" {
		t.Fatalf("exit %d, err %v, stdout %q, stderr %q: want the program started once it was no longer busy", res.ExitCode, err, res.Stdout, res.StderrTail)
	}
}

// chainOnStart calls then after next (the sandbox's own OnStart).
func chainOnStart(next func(int) error, then func()) func(int) error {
	return func(pid int) error {
		err := next(pid)
		then()
		return err
	}
}
