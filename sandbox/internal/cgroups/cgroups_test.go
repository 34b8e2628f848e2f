package cgroups_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
		if !strings.HasSuffix(d, "."+strconv.Itoa(os.Getpid())) {
			t.Errorf("group %s is not named for this process", d)
		}
		s := filepath.Join(filepath.Dir(d), "run-killed.999999999")
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
