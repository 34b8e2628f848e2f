package berth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/config"
)

func TestEachConfiguredDirectoryIsChecked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a directory of another user's needs root")
	}
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o600)
	locked := mk("locked", 0o755, 0)
	tests := []struct {
		name, dir string
		uid       int
		ok        bool
		detail    string
		fix       string
	}{
		{"berth's own directory is fine", mk("own", 0o750, 0), 0, true, "root's, mode 0750", ""},
		{"a missing one where berth may create it is fine", filepath.Join(root, "new", "work"), 0, true, "will be created (in " + root + ")", ""},
		{"another user's directory is refused (the shared /tmp/berth of issue 17)", mk("others", 0o755, 0), 65534, false, "belongs to root, not to nobody", "chown -R nobody"},
		{"a world-writable one is refused", mk("open", 0o777, 0), 0, false, "writable by other users (mode 0777)", "chmod go-w"},
		{"a group-writable one is refused", mk("group", 0o770, 0), 0, false, "mode 0770", "chmod go-w"},
		{"a file is refused", file, 0, false, "not a directory", "set working-dir"},
		{"a missing one below a directory berth may not write", filepath.Join(locked, "work"), 65534, false, "nobody may not create it in " + locked, "mkdir -p " + filepath.Join(locked, "work") + " && chown nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Check
			if tt.uid == 0 {
				c = dirCheck("working-dir", tt.dir, 0)
			} else {
				// unix.Access answers for the real user: ask as that user.
				c = asUser(t, tt.uid, tt.dir)
			}
			if c.OK != tt.ok || !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("got %+v\nwant ok %v, detail with %q, fix with %q", c, tt.ok, tt.detail, tt.fix)
			}
		})
	}
}

// asUser runs dirCheck as user uid, in a copy of the test binary
// (unix.Access answers for the real user, which a Go process cannot
// change for itself alone).
func asUser(t *testing.T, uid int, dir string) Check {
	return checkAs(t, uid, "dir:"+dir)
}

// checkAs runs one check (what: "dir:PATH" or "limits") as user uid.
func checkAs(t *testing.T, uid int, what string) Check {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	bin := filepath.Join(t.TempDir(), "berth.test")
	self, _ := os.ReadFile("/proc/self/exe")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the two levels t.TempDir made: walking up to "/" made the
	// machine's /tmp 0755 (no longer 1777), breaking apt and other users.
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		os.Chmod(d, 0o755)
	}
	u := strconv.Itoa(uid)
	cmd := exec.Command(setpriv, "--reuid="+u, "--regid="+u, "--clear-groups", bin, "-test.run=^TestDirCheckAsAnotherUser$")
	cmd.Env = append(os.Environ(), "BERTH_DOCTOR_CHECK="+what, "HOME=/tmp")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the check as uid %d failed: %v\n%s", uid, err, out)
	}
	var c Check
	line, _, _ := strings.Cut(string(out), "\n")
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		t.Fatalf("the check as uid %d said %q: %v", uid, out, err)
	}
	return c
}

// TestDirCheckAsAnotherUser is checkAs's child.
func TestDirCheckAsAnotherUser(t *testing.T) {
	what := os.Getenv("BERTH_DOCTOR_CHECK")
	var c Check
	switch {
	case what == "limits":
		c = limitsCheck(config.Default())
	case strings.HasPrefix(what, "dir:"):
		c = dirCheck("working-dir", strings.TrimPrefix(what, "dir:"), os.Geteuid())
	default:
		t.Skip("run by checkAs only")
	}
	b, _ := json.Marshal(c)
	fmt.Println(string(b))
}

// Which limits builtin and nspawn runs get: as root here cgroups (v1 on
// this hybrid host, v2 on a unified one), as a user without a delegated
// cgroup rlimits, which doctor reports as a failed check with the fix.
func TestDoctorSaysWhichLimitsApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the test compares root with user nobody")
	}
	c := limitsCheck(config.Default())
	if !c.OK || !strings.HasPrefix(c.Detail, "cgroup v") || !strings.Contains(c.Detail, "memory 2GiB") || !strings.Contains(c.Detail, "OOM kills reported") {
		t.Errorf("as root: %+v, want cgroup limits with OOM reports", c)
	}
	c = checkAs(t, 65534, "limits")
	if c.OK || !strings.HasPrefix(c.Detail, "rlimits") || !strings.Contains(c.Detail, "OOM kills not reported") || !strings.Contains(c.Fix, "Delegate=yes") {
		t.Errorf("as nobody: %+v, want rlimits, no OOM reports, and the fix", c)
	}
}

func TestADockerSocketBerthMayNotOpenGetsTheGroupFixNotAnInstall(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed (CI installs docker.io)")
	}
	if os.Geteuid() != 0 {
		t.Skip("switching to user nobody needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp", docker, "info").CombinedOutput()
	if err == nil {
		t.Skip("nobody may use the docker socket here")
	}
	fix := runnerFix("runner docker", errors.New(string(out)))
	if !strings.Contains(fix, "usermod -aG docker") || strings.Contains(fix, "apt-get") {
		t.Errorf("for %q the fix is %q, want the docker group", out, fix)
	}
	if fix := runnerFix("runner docker", errors.New("docker not found")); !strings.Contains(fix, "apt-get") {
		t.Errorf("a missing docker's fix is %q, want the installation", fix)
	}
}
