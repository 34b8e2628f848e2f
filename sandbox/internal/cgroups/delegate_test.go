package cgroups_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

// delegatedBerth plays a berth started in a delegated cgroup (spec is
// "MOUNT CONTROLLER"): it makes one run's group, prints its directory,
// its own cgroup and "ready", and removes the group when stdin closes.
func delegatedBerth(spec string) int {
	mount, ctl, _ := strings.Cut(spec, " ")
	g, err := cgroups.NewV2On(mount, "run-deleg", []string{ctl})
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	self, _ := os.ReadFile("/proc/self/cgroup")
	fmt.Println(g.Dir())
	fmt.Println(cgroups.ParseProcCgroup(string(self))["0"])
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := g.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// cgroup v2 lets a group pass controllers to its children only while it
// holds no processes itself: a berth started by systemd with
// Delegate=yes sits in its unit's group with the rest of the unit, and
// must move them all into a leaf before its runs' groups can get the
// memory, pids and cpu controllers (the Debian 12 VM of issue 17:
// "write …/cgroup.subtree_control: device or resource busy"). The test
// makes such a unit group of its own on this machine's cgroup2 mount,
// with a controller the root offers (on a hybrid host only v1's leftovers,
// such as hugetlb), puts a berth and a sibling process in it, and checks
// where everything goes; then again as an unprivileged user to whom the
// group is delegated (chowned, as systemd does), and to whom it is not.
func TestADelegatedBerthMovesIntoALeafAndKeepsRunsInItsOwnGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup to play the unit's needs root")
	}
	mount := cgroups.V2Mount()
	if mount == "" {
		t.Skip("no cgroup2 file system is mounted")
	}
	b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	offered := strings.Fields(string(b))
	ctl := ""
	for _, c := range []string{"pids", "memory", "cpu", "hugetlb", "io", "misc"} {
		if slices.Contains(offered, c) {
			ctl = c
			break
		}
	}
	if ctl == "" {
		t.Skipf("the cgroup2 root %s offers no controller to delegate (%q)", mount, b)
	}
	if b, _ := os.ReadFile(filepath.Join(mount, "cgroup.subtree_control")); !slices.Contains(strings.Fields(string(b)), ctl) {
		t.Cleanup(func() { os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("-"+ctl), 0o644) })
	}
	bin := copyTestBinary(t)
	for _, tt := range []struct {
		name      string
		uid       int // 0: root
		delegated bool
	}{
		{"as root", 0, true},
		{"as a user the group is delegated to", 65534, true},
		{"as a user the group is not delegated to", 65534, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := enable(mount, ctl); err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(mount, fmt.Sprintf("berth-test-%d.service", os.Getpid()))
			if err := os.Mkdir(unit, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removeTree(t, unit) })
			if tt.delegated && tt.uid != 0 {
				// What Delegate=yes with User= does.
				for _, p := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
					if err := os.Chown(filepath.Join(unit, p), tt.uid, tt.uid); err != nil {
						t.Fatal(err)
					}
				}
			}
			fd, err := os.Open(unit)
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Close()
			attr := func() *syscall.SysProcAttr {
				a := &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
				if tt.uid != 0 {
					a.Credential = &syscall.Credential{Uid: uint32(tt.uid), Gid: uint32(tt.uid)}
				}
				return a
			}
			// Another process of the unit (an ExecStartPre left over, a
			// shell): it must move too.
			sibling := exec.Command("sleep", "300")
			sibling.SysProcAttr = attr()
			if err := sibling.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sibling.Process.Kill(); sibling.Wait() })
			berth := exec.Command(bin)
			berth.Env = append(os.Environ(), "BERTH_CGROUPS_DELEGATED="+mount+" "+ctl)
			berth.SysProcAttr = attr()
			berth.Stderr = os.Stderr
			stdin, _ := berth.StdinPipe()
			out, _ := berth.StdoutPipe()
			if err := berth.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stdin.Close(); berth.Process.Kill(); berth.Wait() })
			sc := bufio.NewScanner(out)
			var lines []string
			for sc.Scan() && sc.Text() != "ready" && !strings.HasPrefix(sc.Text(), "error:") {
				lines = append(lines, sc.Text())
			}
			if !tt.delegated {
				if !strings.Contains(sc.Text(), "not delegated") || !strings.Contains(sc.Text(), "Delegate=yes") {
					t.Fatalf("a berth without delegation said %q, want why and the fix", sc.Text())
				}
				if procs := readProcs(t, unit); !slices.Contains(procs, sibling.Process.Pid) {
					t.Errorf("a berth without delegation moved the unit's processes anyway (the group holds %v)", procs)
				}
				if _, err := os.Stat(filepath.Join(unit, cgroups.LeafName)); err == nil {
					t.Error("a berth without delegation made a leaf")
				}
				return
			}
			if len(lines) != 2 {
				t.Fatalf("the berth said %q, %q", lines, sc.Text())
			}
			run, own := lines[0], lines[1]
			leaf := filepath.Join(unit, cgroups.LeafName)
			if want := filepath.Join(unit, "run-deleg."+strconv.Itoa(berth.Process.Pid)); !strings.HasPrefix(run, want+"-") {
				t.Errorf("the run's group is %s, want %s-PIDNS beside the leaf", run, want)
			}
			if filepath.Join(mount, own) != leaf {
				t.Errorf("berth is in %s, want the leaf %s", own, leaf)
			}
			if procs := readProcs(t, unit); len(procs) != 0 {
				t.Errorf("the unit's own group still holds %v", procs)
			}
			if procs := readProcs(t, leaf); !slices.Contains(procs, berth.Process.Pid) || !slices.Contains(procs, sibling.Process.Pid) {
				t.Errorf("the leaf holds %v, want berth %d and its sibling %d", procs, berth.Process.Pid, sibling.Process.Pid)
			}
			if b, _ := os.ReadFile(filepath.Join(run, "cgroup.controllers")); !slices.Contains(strings.Fields(string(b)), ctl) {
				t.Errorf("the run's group offers %q, want %s enabled for it", b, ctl)
			}
			stdin.Close()
			if err := berth.Wait(); err != nil {
				t.Fatalf("the berth failed to remove its run's group: %v", err)
			}
			if _, err := os.Stat(run); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the run's group %s is still there (%v)", run, err)
			}
		})
	}
}

func copyTestBinary(t *testing.T) string {
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
	bin := filepath.Join(dir, "cgroups.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func enable(dir, ctl string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+ctl), 0o644)
}

func readProcs(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		out = append(out, p)
	}
	return out
}

// removeTree kills what is left below dir and removes the groups,
// deepest first.
func removeTree(t *testing.T, dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		g := &cgroups.Group{Version: 2, Dirs: []string{dirs[i]}}
		if err := g.Remove(); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	}
}

// nspawn --keep-unit, started in a run's v2 group, makes children below
// it (supervisor, payload): Remove must remove them too, or the run's
// group stays ("device or resource busy", seen in the Debian 12 VM).
func TestRemoveTakesTheGroupsARunMadeBelowItsOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup needs root")
	}
	mount := cgroups.V2Mount()
	if mount == "" {
		t.Skip("no cgroup2 file system is mounted")
	}
	dir := filepath.Join(mount, fmt.Sprintf("berth-test-remove-%d", os.Getpid()))
	for _, d := range []string{dir, dir + "/payload", dir + "/payload/inner", dir + "/supervisor"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { removeTree(t, dir) })
	fd, err := os.Open(dir + "/payload/inner")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	sleeper := exec.Command("sleep", "300")
	sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	g := &cgroups.Group{Version: 2, Dirs: []string{dir}}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", dir, err)
	}
}
