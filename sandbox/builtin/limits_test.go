package builtin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin"
)

// touchVar makes the test binary an ordinary Go program that allocates
// and touches that many MiB, then says so.
const touchVar = "BERTH_TEST_TOUCH_MIB"

func touch(mib string) int {
	n, _ := strconv.Atoi(mib)
	b := make([]byte, n<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	fmt.Println("touched", n, "MiB")
	return 0
}

// An ordinary Go program (this test binary) touching 32 MiB runs under a
// 256 MiB limit, and one touching 1 GiB does not get it. Run as nobody
// (TestAnUnprivilegedBerthContainsTheAddonsToo) the limit is an rlimit,
// where RLIMIT_AS failed the first: Go reserves far more address space
// than it uses (issue 17: "an ordinary Go program fails at a 512 MiB
// limit while touching 32 MiB"). The result says which limits held.
func TestAGoProgramGetsTheMemoryItIsAllowed(t *testing.T) {
	const limit = 256 << 20
	// The program goes into the run's WORK, where the sandbox shows it.
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	inv := runner.Invocation{RunID: "touch", WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(inv.WorkDir, "gomem"), self, 0o755); err != nil {
		t.Fatal(err)
	}
	sb := builtin.New(builtin.Config{
		Limits:   builtin.Limits{MemoryBytes: limit, Pids: 64},
		InitPath: testInit(t),
	})
	exe := filepath.Join(sb.View(inv).Work, "gomem")
	requireBuiltin(t, sb)
	// The VM job says what the unit it runs this in must give.
	switch want, here := os.Getenv("BERTH_TEST_EXPECT_LIMITS"), cgroupsHere(t); {
	case want == "cgroup" && !here:
		t.Fatal("runs get no cgroups here, though the unit delegates its group")
	case want == "rlimits" && here:
		t.Fatal("runs get cgroups here, though nothing was delegated")
	}
	for _, tt := range []struct {
		mib  int
		fits bool
	}{{32, true}, {1024, false}} {
		t.Run(fmt.Sprintf("touching %d MiB", tt.mib), func(t *testing.T) {
			spec := proc.Spec{Path: exe, Dir: "/", Env: []string{"PATH=/usr/bin:/bin", touchVar + "=" + strconv.Itoa(tt.mib)}}
			w, err := sb.Wrap(context.Background(), spec, inv)
			if err != nil {
				t.Fatal(err)
			}
			res, err := proc.Run(context.Background(), w.Spec)
			oom := w.Finish(res)
			lim := w.Limits()
			ran := err == nil && res.ExitCode == 0 && strings.Contains(string(res.Stdout), "touched")
			if ran != tt.fits {
				t.Errorf("ran to its end: %v, want %v (limits %+v; exit %d, err %v, stderr %q)", ran, tt.fits, lim, res.ExitCode, err, tail(res.StderrTail))
			}
			if lim == nil || len(lim.Applied) == 0 || !strings.HasPrefix(lim.Applied[0], "memory 256MiB") {
				t.Fatalf("the result's limits are %+v, want memory 256MiB applied", lim)
			}
			switch {
			case cgroupsHere(t):
				if !strings.HasPrefix(lim.By, "cgroup v") || !lim.OOMReported {
					t.Errorf("where berth may make cgroups the limits are %+v, want a cgroup with OOM reports", lim)
				}
			case unprivileged || os.Geteuid() != 0:
				if lim.By != "rlimits" || lim.OOMReported || !strings.Contains(lim.Why, "Delegate=yes") {
					t.Errorf("as a user without delegation the limits are %+v, want rlimits, no OOM report, and the fix", lim)
				}
			}
			if !tt.fits && lim.OOMReported && !oom {
				t.Errorf("the cgroup killed the program but the result does not say out of memory")
			}
		})
	}
}

// In a unit with MemoryMax= below the sandbox's own limit, the unit's
// bound holds for each run too, since the run's group is below the
// unit's, and the kill is reported as out of memory (issue 19: an addon
// reached 248 MiB under MemoryMax=64M on berth.service, its group being
// /sys/fs/cgroup/berth). The VM job (.ci/vm/in-vm.sh) runs it in such
// units as root, with and without Delegate=yes.
func TestAUnitsMemoryMaxBoundsItsRuns(t *testing.T) {
	mib, _ := strconv.Atoi(os.Getenv("BERTH_TEST_UNIT_MEMORY_MAX_MIB"))
	if mib == 0 {
		t.Skip("runs in the VM job (.ci/vm) inside a systemd unit with MemoryMax= (BERTH_TEST_UNIT_MEMORY_MAX_MIB)")
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	inv := runner.Invocation{RunID: "unit-max", WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(inv.WorkDir, "gomem"), self, 0o755); err != nil {
		t.Fatal(err)
	}
	sb := builtin.New(builtin.Config{Limits: builtin.Limits{MemoryBytes: 1 << 30, Pids: 64}, InitPath: testInit(t)})
	requireBuiltin(t, sb)
	spec := proc.Spec{Path: filepath.Join(sb.View(inv).Work, "gomem"), Dir: "/", Env: []string{"PATH=/usr/bin:/bin", touchVar + "=" + strconv.Itoa(3*mib)}}
	w, err := sb.Wrap(context.Background(), spec, inv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := proc.Run(context.Background(), w.Spec)
	oom := w.Finish(res)
	lim := w.Limits()
	if err == nil && res.ExitCode == 0 {
		t.Errorf("a program touched %d MiB in a unit limited to %d MiB (limits %+v)", 3*mib, mib, lim)
	}
	if !oom {
		t.Errorf("the kill is not reported as out of memory (exit %d, err %v, limits %+v)", res.ExitCode, err, lim)
	}
	if lim == nil || lim.By != "cgroup v2" {
		t.Errorf("the limits are %+v, want cgroup v2", lim)
	}
}

func tail(lines []string) []string {
	if len(lines) > 3 {
		return lines[len(lines)-3:]
	}
	return lines
}

// Every mount the sandbox makes is in a namespace whose propagation was
// made private before the first one: no mount inside is shared with a
// peer group outside (mountinfo's "shared:N"), so none can reach the
// host's mount table (issue 19), and none of the host's later mounts
// reaches in.
func TestNoMountInsideTheSandboxIsSharedWithTheHost(t *testing.T) {
	sb := limited(t)
	requireBuiltin(t, sb)
	spec := proc.Spec{Path: "/bin/cat", Args: []string{"/proc/self/mountinfo"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	res := runOK(t, sb, spec, runner.Invocation{RunID: "propagation"})
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if len(lines) < 3 {
		t.Fatalf("the sandbox's mount table is %q", res.Stdout)
	}
	for _, l := range lines {
		pre, _, _ := strings.Cut(l, " - ")
		for _, f := range strings.Fields(pre)[6:] {
			if strings.HasPrefix(f, "shared:") || strings.HasPrefix(f, "master:") {
				t.Errorf("a mount inside propagates (%s): %s", f, l)
			}
		}
	}
}
