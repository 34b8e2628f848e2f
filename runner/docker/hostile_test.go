package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
)

// TestHostileAddonsInContainers performs attacks of a hostile addon
// author on each engine (issue 16, issue 18).
func TestHostileAddonsInContainers(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			c := eng.require(t)
			enginetest.BusyboxImage(t, c)
			e := env{name: eng.name, c: c}
			t.Run("a pure addon cannot create a user namespace to gain capabilities in it", e.testNoUserNamespaces)
		})
	}
}

// containers-common's seccomp profile, podman's default, allows
// unshare(CLONE_NEWUSER): the process that makes the namespace holds
// every capability in it (as a non-root --user, `unshare -U -r` showed
// CapEff 000001ffffffffff), --cap-drop ALL notwithstanding. docker's
// default profile refuses it. The namespace's inode shows whether one
// was made (as root, mapping uid 0 in it needs CAP_SETFCAP, so -r
// fails after the namespace exists).
func (e env) testNoUserNamespaces(t *testing.T) {
	a := e.dockerfileAddon(t, pure("userns"), `out="$OUTPUT_DIR"
readlink /proc/self/ns/user > "$out/outside"
if unshare -U readlink /proc/self/ns/user > "$out/inside" 2> "$out/err"; then echo made; else echo refused; fi > "$out/userns"
echo '{}'`, nil)
	outDir := filepath.Join(t.TempDir(), "out")
	res := e.run(t, e.executor(t, e.runner(t, nil)), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
	got, _ := os.ReadFile(filepath.Join(outDir, "userns"))
	outside, _ := os.ReadFile(filepath.Join(outDir, "outside"))
	inside, _ := os.ReadFile(filepath.Join(outDir, "inside"))
	errOut, _ := os.ReadFile(filepath.Join(outDir, "err"))
	if len(outside) == 0 {
		t.Fatal("the addon did not run its script")
	}
	if strings.TrimSpace(string(got)) != "refused" {
		t.Errorf("the addon made a user namespace (%s, its own is %s; %s), want it refused", strings.TrimSpace(string(inside)), strings.TrimSpace(string(outside)), strings.TrimSpace(string(errOut)))
	}
}
