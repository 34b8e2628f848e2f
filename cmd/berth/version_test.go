package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionReportsWhatTheBuildStamped builds berth the way the Makefile
// does (-ldflags -X) and reads the stamp back from every way of asking.
func TestVersionReportsWhatTheBuildStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "berth")
	const pkg = "github.com/berth-dev/berth/internal/buildinfo"
	ld := "-X " + pkg + ".version=9.8.7-test -X " + pkg + ".commit=cafef00d"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building berth: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		t.Run(strings.Join(args, " ")+" prints the version and commit", func(t *testing.T) {
			out, err := exec.Command(bin, args...).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "berth 9.8.7-test (commit cafef00d, go") {
				t.Errorf("%v printed %q", args, out)
			}
		})
	}
	t.Run("version --json is machine-readable", func(t *testing.T) {
		out, err := exec.Command(bin, "version", "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Version, Commit, GoVersion string }
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if v.Version != "9.8.7-test" || v.Commit != "cafef00d" || !strings.HasPrefix(v.GoVersion, "go") {
			t.Errorf("version --json = %+v", v)
		}
	})
}
