package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Debian's nix-bin as root, without the nixbld group (issue 10): doctor
// must fail the nix-flake runner and print the one-line fix, instead of
// showing it usable while every run fails in prepare.
func TestDoctorNamesTheFixForANixWithoutBuildUsers(t *testing.T) {
	if _, err := exec.LookPath("nix"); err != nil {
		t.Skip("nix is not installed (CI installs nix-bin)")
	}
	if os.Getuid() != 0 {
		t.Skip("nix uses build users only when it runs as root; this test runs as uid", os.Getuid())
	}
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "nix.conf"), []byte("sandbox = false\nbuild-users-group = berth-test-no-such-group\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIX_CONF_DIR", conf)
	r := berth(t, "doctor")
	var check, fix string
	lines := strings.Split(r.stdout, "\n")
	for i, l := range lines {
		if strings.Contains(l, "runner nix-flake") {
			check = l
			if i+1 < len(lines) {
				fix = lines[i+1]
			}
		}
	}
	if !strings.HasPrefix(check, "FAIL") || !strings.Contains(check, "berth-test-no-such-group") {
		t.Fatalf("doctor's nix-flake line = %q, want FAIL naming the missing group\n%s", check, r.stdout)
	}
	if !strings.Contains(fix, "fix: ") || !strings.Contains(fix, "groupadd --system berth-test-no-such-group") {
		t.Errorf("doctor's fix line = %q, want the command that creates the build users", fix)
	}
	if strings.Count(check+fix, "fix:") != 1 {
		t.Errorf("the fix is printed more than once: %q / %q", check, fix)
	}
}
