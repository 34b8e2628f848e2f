package docker_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/docker"

	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
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
			t.Run("a Dockerfile symlinked to a host file is refused and its content never shown", e.testDockerfileSymlink)
			t.Run("docker.build-network none builds without a network, the default with one", e.testBuildNetwork)
			t.Run("an addon that ptrace-stops its container's init fails the run, not at its timeout", e.testInitStopped)
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

// Issue 18: an addon whose Dockerfile (or .dockerignore) is a symlink to
// a host file had the engine read it as root, and the build's parse
// error put its first line (root's hash from /etc/shadow) into the run's
// error, the daemon's API included.
func (e env) testDockerfileSymlink(t *testing.T) {
	secret := "root:$6$berth-test-" + nonce() + ":19000:0:99999:7:::"
	hostFile := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(hostFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, link, field string }{
		{"the Dockerfile", "Dockerfile", "runner.docker.build"},
		{"the .dockerignore", ".dockerignore", ".dockerignore"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := e.dockerfileAddon(t, pure("symlinked"), "echo '{}'", nil)
			if err := os.Remove(filepath.Join(a.Dir, c.link)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if err := os.Symlink(hostFile, filepath.Join(a.Dir, c.link)); err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			_, err := e.runner(t, nil).Build(context.Background(), a, &progress)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			var be *runner.BuildError
			shown := err.Error() + progress.String()
			if errors.As(err, &be) {
				shown += strings.Join(be.Tail, "\n")
			}
			if strings.Contains(shown, "berth-test-") {
				t.Errorf("the host file's content reached the error or the build output: %s", shown)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "outside the addon") {
				t.Errorf("the error %q does not say %s leads outside the addon", err, c.field)
			}
		})
	}
}

// Docspell builds with the engine's default network (its docs:
// "Building addons requires to be connected to the internet",
// website/site/content/docs/addons/control.md:75); docker.build-network
// none must really take it away. The RUN step lists the network
// interfaces the build sees.
func (e env) testBuildNetwork(t *testing.T) {
	for _, c := range []struct {
		network string
		eth     bool
	}{{"", true}, {"none", false}} {
		name := "build-network " + c.network
		if c.network == "" {
			name = "default build network"
		}
		t.Run(name, func(t *testing.T) {
			a := e.dockerfileAddon(t, pure("buildnet"), "echo '{}'", map[string]string{
				"Dockerfile": "FROM " + enginetest.BusyboxRef + "\nRUN echo \"ifaces:$(ls /sys/class/net | tr '\\n' ' ')$(echo " + nonce() + " >/dev/null)\"\nCOPY run.sh /addon/run.sh\nENTRYPOINT [\"/bin/sh\", \"/addon/run.sh\"]\n",
			})
			r := e.runner(t, func(cfg *docker.Config) { cfg.BuildNetwork = c.network })
			var progress bytes.Buffer
			if _, err := r.Build(context.Background(), a, &progress); err != nil {
				t.Fatalf("build: %v\n%s", err, progress.String())
			}
			line := ""
			for _, l := range strings.Split(progress.String(), "\n") {
				if i := strings.Index(l, "ifaces:"); i >= 0 && !strings.Contains(l, "$(") {
					line = l[i:]
				}
			}
			if line == "" {
				t.Fatalf("the RUN step printed no interfaces:\n%s", progress.String())
			}
			others := strings.Fields(strings.TrimPrefix(line, "ifaces:"))
			hasOther := false
			for _, i := range others {
				if i != "lo" {
					hasOther = true
				}
			}
			if hasOther != c.eth {
				t.Errorf("the build saw %q; want a network interface besides lo: %v", line, c.eth)
			}
		})
	}
}

// Issue 18 ("an addon can ptrace-stop its container's pid 1 so the run
// hangs until the timeout (also under docker)"): the engines' default
// seccomp profiles allow ptrace of a process of the same user, so a
// pure addon attaches to its container's init and holds it stopped. The
// run must fail, saying why, long before its timeout.
func (e env) testInitStopped(t *testing.T) {
	bin, err := os.ReadFile(sandboxtest.BuildPtraceStop(t))
	if err != nil {
		t.Fatal(err)
	}
	a := e.dockerfileAddon(t, pure("initstop"), `/addon/ptracestop >&2 &
sleep 2
echo '{}'
# `+nonce(), map[string]string{
		"ptracestop": string(bin),
		"Dockerfile": "FROM " + enginetest.BusyboxRef + "\nCOPY run.sh ptracestop /addon/\nRUN chmod 0755 /addon/ptracestop\nENTRYPOINT [\"/bin/sh\", \"/addon/run.sh\"]\n",
	})
	ex := e.executor(t, e.runner(t, nil))
	ex.Timeout = 30 * time.Second
	res := e.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: filepath.Join(t.TempDir(), "out")})
	t.Logf("result %s: %s", res.Kind, res.Error)
	tail := strings.Join(res.StderrTail, "\n")
	if res.Kind == executor.Success {
		if !strings.Contains(tail, "ptracestop: refused") {
			t.Fatalf("the run succeeded but the attach was neither refused nor made (stderr %q)", tail)
		}
		t.Logf("the engine refused the attach: %s", tail)
		return
	}
	if strings.Contains(res.Error, "timed out") || !strings.Contains(res.Error, "stopped its container's init") {
		t.Errorf("result %s: %s; want a failure naming the stopped init", res.Kind, res.Error)
	}
	e.assertNoContainers(t, res.RunID)
}
