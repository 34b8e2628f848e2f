package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// render writes the unit as `make install` does, for BINDIR bindir.
func render(t *testing.T, bindir string) string {
	t.Helper()
	in, err := os.ReadFile("berth.service.in")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "berth.service")
	if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(in), "@BINDIR@", bindir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTheUnitIsOneSystemdAccepts(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (CI installs systemd-container, which brings systemd)")
	}
	bindir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindir, "berth"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := render(t, bindir)
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// What the sandbox needs from the unit (issue 17): its own cgroup
// subtree to put runs' groups in, namespaces, a user of its own and the
// directories berth's defaults use.
func TestTheUnitLeavesTheSandboxWhatItNeeds(t *testing.T) {
	b, err := os.ReadFile(render(t, "/usr/local/bin"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{"User=berth", "Delegate=yes", "ExecStart=/usr/local/bin/berth serve",
		"StateDirectory=berth", "CacheDirectory=berth", "RuntimeDirectory=berth", "KillMode=control-group", "OOMPolicy=continue"} {
		if !lines[want] {
			t.Errorf("the unit lacks %s", want)
		}
	}
	for l := range lines {
		for _, bad := range []string{"ProtectControlGroups=yes", "RestrictNamespaces=", "PrivateUsers=", "MemoryDenyWriteExecute=", "ProtectHostname="} {
			// A read-only cgroup tree, no namespaces, or no JIT pages
			// break the builtin sandbox or the wasm runner.
			if strings.HasPrefix(l, bad) {
				t.Errorf("the unit sets %s, which breaks the sandbox", l)
			}
		}
	}
}

func TestTheSysusersEntryMakesTheUser(t *testing.T) {
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-sysusers --root needs root")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sysusers, "--root="+root, filepath.Join(cwd(t), "berth.sysusers")).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	var entry string
	for _, l := range strings.Split(string(passwd), "\n") {
		if strings.HasPrefix(l, "berth:") {
			entry = l
		}
	}
	f := strings.Split(entry, ":")
	if len(f) != 7 || f[5] != "/var/lib/berth" || f[2] == "0" {
		t.Errorf("the berth user is %q, want a system user with home /var/lib/berth", entry)
	}
}

func cwd(t *testing.T) string {
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
