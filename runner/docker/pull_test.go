package docker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner/docker"
)

// startRegistry runs a throw-away registry (the docker-registry package)
// on a free loopback port, which docker trusts over plain HTTP, and
// returns its host:port and a function that stops it early.
func startRegistry(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skipf("docker-registry is not installed (%v); CI installs it", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("the registry at %s does not answer: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, stop
}

// TestPullPolicies exercises missing, always and never against a local
// registry. Docker trusts a loopback registry over plain HTTP; podman is
// told so by a registries.conf of the test's own (CONTAINERS_REGISTRIES_CONF,
// hence no t.Parallel).
func TestPullPolicies(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			c := eng.require(t)
			enginetest.BusyboxImage(t, c)
			testPullPolicies(t, env{name: eng.name, c: c})
		})
	}
}

func testPullPolicies(t *testing.T, e env) {
	c := e.c
	addr, stopRegistry := startRegistry(t)
	ctx := context.Background()
	if e.name == "podman" {
		conf := filepath.Join(t.TempDir(), "registries.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", addr)), 0o644)
		t.Setenv("CONTAINERS_REGISTRIES_CONF", conf)
	}

	// An image with an entrypoint, pushed to the registry, then removed
	// locally.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "run.sh"), []byte(echoScript), 0o644)
	os.WriteFile(filepath.Join(src, "Dockerfile"), []byte("FROM "+enginetest.BusyboxRef+"\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n"), 0o644)
	ref := addr + "/berth-test/pulled:" + nonce()
	e.removeImage(t, ref)
	for _, args := range [][]string{{"build", "-t", ref, src}, {"push", ref}, {"rmi", ref}} {
		if _, err := c.Run(ctx, args, engine.RunOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	a := writeAddon(t, map[string]string{"docspell-addon.yaml": pure("pulled") + "runner:\n  docker:\n    image: " + ref + "\n"})
	policy := func(p docker.PullPolicy) *docker.Runner {
		return e.runner(t, func(cfg *docker.Config) { cfg.Pull = p })
	}

	t.Run("never does not pull a missing image", func(t *testing.T) {
		_, err := policy(docker.PullNever).Prepare(ctx, a)
		var ie *docker.ImageError
		if !errors.As(err, &ie) || ie.Image != ref {
			t.Errorf("Prepare err = %v, want *ImageError for %s", err, ref)
		}
	})
	t.Run("missing pulls once, then finds the image", func(t *testing.T) {
		r := policy(docker.PullMissing)
		p, err := r.Prepare(ctx, a)
		if err != nil || p.Cached || p.Image != ref {
			t.Fatalf("first Prepare = %+v, %v; want a pull", p, err)
		}
		if ok, _ := c.ImageExists(ctx, ref); !ok {
			t.Fatal("the image is not there after the pull")
		}
		if p, err := policy(docker.PullMissing).Prepare(ctx, a); err != nil || !p.Cached {
			t.Errorf("second Prepare = %+v, %v; want the present image", p, err)
		}
	})
	t.Run("always pulls even a present image, and the run uses it", func(t *testing.T) {
		var progress bytesBuffer
		r := policy(docker.PullAlways)
		p, err := r.Build(ctx, a, &progress)
		if err != nil || p.Cached || !progress.contains("pulling "+ref) {
			t.Fatalf("Build = %+v, %v, progress %q; want a pull", p, err, progress.String())
		}
		res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
		if res.Kind != executor.Success {
			t.Errorf("run: %s %s", res.Kind, res.Error)
		}
	})
	t.Run("always fails with the image named when the registry is gone", func(t *testing.T) {
		stopRegistry()
		_, err := policy(docker.PullAlways).Prepare(ctx, a)
		var ie *docker.ImageError
		if !errors.As(err, &ie) || ie.Image != ref {
			t.Errorf("Prepare err = %v, want *ImageError for %s", err, ref)
		}
	})
}

// bytesBuffer is a strings.Builder with the helpers the test needs.
type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bytesBuffer) String() string              { return string(w.b) }
func (w *bytesBuffer) contains(s string) bool      { return strings.Contains(string(w.b), s) }
