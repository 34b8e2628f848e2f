package cgroups_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

func TestAGroupCarriesItsLimitsAndIsRemoved(t *testing.T) {
	g, err := cgroups.New("test-"+strings.ReplaceAll(t.Name(), "/", "-"), cgroups.Limits{MemoryBytes: 64 << 20, Pids: 32, CPUs: 0.5})
	if errors.Is(err, cgroups.ErrUnavailable) && os.Geteuid() != 0 {
		t.Skipf("berth may not create cgroups as an unprivileged user here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Remove() })
	if v2 := cgroups.UsesV2(cgroups.Limits{MemoryBytes: 64 << 20, Pids: 32, CPUs: 0.5}); v2 != (g.Version == 2) {
		t.Errorf("UsesV2 = %v, but New made a v%d group", v2, g.Version)
	}
	want := map[string]string{}
	if g.Version == 1 {
		want = map[string]string{"memory.limit_in_bytes": "67108864", "pids.max": "32", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"}
	} else {
		want = map[string]string{"memory.max": "67108864", "pids.max": "32", "cpu.max": "50000 100000"}
	}
	found := map[string]string{}
	for _, d := range g.Dirs {
		for file := range want {
			if b, err := os.ReadFile(filepath.Join(d, file)); err == nil {
				found[file] = strings.TrimSpace(string(b))
			}
		}
	}
	for file, v := range want {
		if found[file] != v {
			t.Errorf("%s = %q, want %q", file, found[file], v)
		}
	}
	if g.OOMKilled() {
		t.Error("a new group reports an OOM kill")
	}
	dirs := append([]string(nil), g.Dirs...)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s is still there", d)
		}
	}
}

func TestGroupsOfProcessesThatAreGoneAreRemoved(t *testing.T) {
	g, err := cgroups.New("test-live", cgroups.Limits{MemoryBytes: 64 << 20, Pids: 32})
	if errors.Is(err, cgroups.ErrUnavailable) && os.Geteuid() != 0 {
		t.Skipf("berth may not create cgroups as an unprivileged user here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Remove() })
	// What a berth killed outright leaves: groups named for its pid (no
	// pid is that large, so none is alive).
	var stale []string
	for _, d := range g.Dirs {
		suffix := "." + strconv.Itoa(os.Getpid()) + "-"
		i := strings.LastIndex(d, suffix)
		if i < 0 {
			t.Fatalf("group %s is not named for this process", d)
		}
		ns := d[i+len(suffix):]
		s := filepath.Join(filepath.Dir(d), "run-killed.999999999-"+ns)
		// An older berth's name, or one without a namespace, is not
		// judged: its owner cannot be told.
		for _, keep := range []string{"run-old.999999999", "run-nons.999999999-"} {
			k := filepath.Join(filepath.Dir(d), keep)
			if err := os.Mkdir(k, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := os.Stat(k); err != nil {
					t.Errorf("%s was removed: %v", k, err)
				}
				os.Remove(k)
			})
		}
		if err := os.Mkdir(s, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(s) })
		stale = append(stale, s)
	}
	if _, err := cgroups.RemoveStale(); err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		if _, err := os.Stat(s); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the stale group %s is still there (%v)", s, err)
		}
	}
	for _, d := range g.Dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("this process's own group %s was removed: %v", d, err)
		}
	}
}

// cgroup v2 lists a process outside the reader's pid namespace as 0, and
// kill(0, …) is the caller's own process group: Remove, which kills what
// is left in a group, must never send it. A plain directory stands in for
// the group (it cannot be removed while it holds its cgroup.procs, so
// Remove kills the listed pids on every try); the test binary would die.
func TestRemoveNeverKillsItsOwnProcessGroupForAPidItCannotSee(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-x.1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &cgroups.Group{Version: 2, Dirs: []string{dir}}
	if pids := g.Pids(); len(pids) != 0 {
		t.Errorf("Pids = %v, want none: 0 is not a process of the group", pids)
	}
	_ = g.Remove() // fails (the directory is not empty); must not kill this process
}

// TestMain lets the test binary play a berth in another pid namespace
// (BERTH_CGROUPS_HOLDER set): it makes a group, prints its directories
// and keeps it until its stdin closes.
func TestMain(m *testing.M) {
	if v := os.Getenv("BERTH_CGROUPS_DELEGATED"); v != "" {
		os.Exit(delegatedBerth(v))
	}
	if os.Getenv("BERTH_CGROUPS_HOLDER") != "" {
		g, err := cgroups.New("run-holder", cgroups.Limits{Pids: 32})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Join(g.Dirs, "\n"))
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		g.Remove()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A berth in another pid namespace (a container sharing the host's
// cgroups) names its groups with a pid this process cannot see: its
// groups are alive all the same and must not be taken for stale.
func TestGroupsOfABerthInAnotherPidNamespaceAreLeftAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a pid namespace and the cgroups need root here")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("unshare (util-linux) is not installed: %v", err)
	}
	// Pid 1 and other small pids exist here too: the holder takes one in
	// its namespace that no process here has.
	free := 0
	for p := 20000; p < 32000 && free == 0; p++ {
		if errors.Is(syscall.Kill(p, 0), syscall.ESRCH) {
			free = p
		}
	}
	if free == 0 {
		t.Fatal("no free pid between 20000 and 32000")
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c",
		`echo `+strconv.Itoa(free-1)+` > /proc/sys/kernel/ns_last_pid; exec 3<&0; "$0" <&3 & wait`, os.Args[0])
	cmd.Env = append(os.Environ(), "BERTH_CGROUPS_HOLDER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var dirs []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		dirs = append(dirs, sc.Text())
	}
	if len(dirs) == 0 {
		t.Fatal("the other berth made no group")
	}
	if _, err := cgroups.RemoveStale(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("the live group %s of a berth in another pid namespace was removed: %v", d, err)
		}
	}
}
