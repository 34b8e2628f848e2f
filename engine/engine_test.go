package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
)

func engines(t *testing.T) map[string]func(testing.TB) *engine.Client {
	return map[string]func(testing.TB) *engine.Client{
		"docker": enginetest.RequireDocker,
		"podman": enginetest.RequirePodman,
	}
}

func TestClientAgainstRealEngines(t *testing.T) {
	for name, require := range engines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := require(t)
			ctx := context.Background()
			if got := c.Flavor(); got != name {
				t.Errorf("Flavor() = %q, want %q", got, name)
			}
			img := enginetest.BusyboxImage(t, c)

			t.Run("version answers", func(t *testing.T) {
				v, err := c.Version(ctx)
				if err != nil || v == "" {
					t.Fatalf("Version() = %q, %v", v, err)
				}
			})
			t.Run("the base image exists and a missing one does not", func(t *testing.T) {
				if ok, err := c.ImageExists(ctx, img); err != nil || !ok {
					t.Errorf("ImageExists(%s) = %v, %v; want true", img, ok, err)
				}
				if ok, err := c.ImageExists(ctx, "berth-test/absent:never"); err != nil || ok {
					t.Errorf("ImageExists(absent) = %v, %v; want false, nil", ok, err)
				}
			})
			t.Run("run captures stdout and reads stdin", func(t *testing.T) {
				out, err := c.Run(ctx, []string{"run", "--rm", "-i", img, "sh", "-c", "echo out; cat"}, engine.RunOpts{Stdin: strings.NewReader("in\n")})
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != "out\nin\n" {
					t.Errorf("stdout = %q", out)
				}
			})
			t.Run("a failing command reports its exit code and stderr tail", func(t *testing.T) {
				_, err := c.Run(ctx, []string{"run", "--rm", "-e", "SECRET=hunter2", img, "sh", "-c", "echo boom >&2; exit 3"}, engine.RunOpts{})
				var ee *engine.Error
				if !errors.As(err, &ee) {
					t.Fatalf("err = %v, want *engine.Error", err)
				}
				if ee.ExitCode != 3 || !strings.Contains(ee.Stderr, "boom") {
					t.Errorf("ExitCode = %d, Stderr = %q; want 3 and boom", ee.ExitCode, ee.Stderr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks an environment value: %v", err)
				}
			})
			t.Run("a missing container is ErrNotFound on inspect and fine on remove", func(t *testing.T) {
				_, err := c.InspectContainer(ctx, "berth-test-no-such-container")
				if !errors.Is(err, engine.ErrNotFound) {
					t.Errorf("InspectContainer err = %v, want ErrNotFound", err)
				}
				if err := c.RemoveContainer(ctx, "berth-test-no-such-container", true); err != nil {
					t.Errorf("RemoveContainer(missing) = %v, want nil", err)
				}
				if err := c.StopContainer(ctx, "berth-test-no-such-container", time.Second); err != nil {
					t.Errorf("StopContainer(missing) = %v, want nil", err)
				}
			})
			t.Run("start keeps a container in the foreground and cancel stops it", func(t *testing.T) {
				cname := enginetest.UniqueName(t, "start")
				t.Cleanup(func() { c.RemoveContainer(context.Background(), cname, true) })
				sctx, cancel := context.WithCancel(ctx)
				var out bytes.Buffer
				p, err := c.Start(sctx, []string{"run", "--rm", "--name", cname, "-l", "berth.test=engine", img, "sh", "-c", "echo ready; trap 'exit 0' TERM; while true; do sleep 0.1; done"}, engine.StartOpts{Stdout: &out})
				if err != nil {
					t.Fatal(err)
				}
				var info engine.ContainerInfo
				for i := 0; i < 200; i++ {
					if info, err = c.InspectContainer(ctx, cname); err == nil && info.Running {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if !info.Running || info.Labels["berth.test"] != "engine" {
					t.Fatalf("container not running with its label: %+v, %v", info, err)
				}
				names, err := c.ListContainers(ctx, "berth.test=engine")
				if err != nil || !contains(names, cname) {
					t.Errorf("ListContainers = %v, %v; want it to hold %s", names, err, cname)
				}
				cancel()
				err = p.Wait()
				if err == nil {
					// the container trapped TERM and exited 0: also fine.
				} else if !errors.Is(err, engine.ErrCanceled) {
					t.Errorf("Wait after cancel = %v, want nil or ErrCanceled", err)
				}
				if !strings.Contains(out.String(), "ready") {
					t.Errorf("stdout = %q, want ready", out.String())
				}
			})
		})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestErrorKinds(t *testing.T) {
	t.Run("a binary that does not exist is ErrBinaryMissing", func(t *testing.T) {
		c := engine.New(filepath.Join(t.TempDir(), "docker"))
		_, err := c.Run(context.Background(), []string{"version"}, engine.RunOpts{})
		if !errors.Is(err, engine.ErrBinaryMissing) {
			t.Errorf("err = %v, want ErrBinaryMissing", err)
		}
	})
	t.Run("a docker daemon that does not answer is ErrDaemonUnreachable", func(t *testing.T) {
		path, err := exec.LookPath("docker")
		if err != nil {
			t.Skip("docker is not installed")
		}
		c := engine.New(path, engine.WithGlobalArgs("-H", "unix://"+filepath.Join(t.TempDir(), "nothing.sock")))
		_, err = c.Version(context.Background())
		if !errors.Is(err, engine.ErrDaemonUnreachable) {
			t.Errorf("err = %v, want ErrDaemonUnreachable", err)
		}
	})
	t.Run("a canceled context is ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := engine.New("sleep").Run(ctx, []string{"5"}, engine.RunOpts{})
		if !errors.Is(err, engine.ErrCanceled) {
			t.Errorf("err = %v, want ErrCanceled", err)
		}
	})
}

func TestFlavor(t *testing.T) {
	t.Run("the base name decides when it says docker or podman", func(t *testing.T) {
		for bin, want := range map[string]string{"docker": "docker", "/usr/bin/podman": "podman", "/opt/podman-remote": "podman"} {
			if got := engine.New(bin).Flavor(); got != want {
				t.Errorf("New(%q).Flavor() = %q, want %q", bin, got, want)
			}
		}
	})
	t.Run("otherwise the version output decides", func(t *testing.T) {
		podman, err := exec.LookPath("podman")
		if err != nil {
			t.Skip("podman is not installed")
		}
		link := filepath.Join(t.TempDir(), "engine")
		if err := os.Symlink(podman, link); err != nil {
			t.Fatal(err)
		}
		if got := engine.New(link).Flavor(); got != "podman" {
			t.Errorf("Flavor() = %q, want podman", got)
		}
	})
	t.Run("the runtime option adds a global flag for podman only", func(t *testing.T) {
		if got := engine.New("podman", engine.WithRuntime("runc")).Args("ps"); strings.Join(got, " ") != "--runtime runc ps" {
			t.Errorf("podman args = %q", got)
		}
		if got := engine.New("docker", engine.WithRuntime("runc")).Args("ps"); strings.Join(got, " ") != "ps" {
			t.Errorf("docker args = %q", got)
		}
	})
}
