package service_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/service"
)

// The test registry: .ci/services-setup.sh starts it with these test-only
// credentials; requireRegistry starts one itself when nothing listens.
const (
	registryAddr     = "127.0.0.1:5000"
	registryUser     = "berth"
	registryPassword = "berth-test-password"
)

func requireRegistry(t *testing.T) {
	t.Helper()
	if conn, err := net.DialTimeout("tcp", registryAddr, time.Second); err == nil {
		conn.Close()
		return
	}
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed and nothing listens on " + registryAddr)
	}
	htpasswd, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Skip("htpasswd (apache2-utils) is not installed")
	}
	dir := t.TempDir()
	hp, err := exec.Command(htpasswd, "-Bbn", registryUser, registryPassword).Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "htpasswd"), hp, 0o644)
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    realm: berth-test\n    path: %s/htpasswd\n", dir, registryAddr, dir)
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644)
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if conn, err := net.DialTimeout("tcp", registryAddr, time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the registry did not start")
}

func TestLoginWithPasswordFileAndOfflineFallback(t *testing.T) {
	requireRegistry(t)
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			base := require(t)
			if name == "podman" {
				if _, err := os.Stat("/etc/containers/registries.conf.d/50-berth-test-registry.conf"); err != nil {
					t.Fatalf("podman needs %s marked insecure: run .ci/services-setup.sh (%v)", registryAddr, err)
				}
			}
			auth := t.TempDir()
			// Keep credentials out of root's own config.
			eng := engine.New(base.Binary, engine.WithGlobalArgs(base.GlobalArgs...),
				engine.WithEnv("DOCKER_CONFIG="+auth, "REGISTRY_AUTH_FILE="+filepath.Join(auth, "auth.json")))
			ctx := context.Background()
			img := enginetest.BusyboxImage(t, eng)
			ref := fmt.Sprintf("%s/berth-test/login-%s:%d", registryAddr, name, os.Getpid())
			run := func(args ...string) {
				t.Helper()
				if _, err := eng.Run(ctx, args, engine.RunOpts{}); err != nil {
					t.Fatal(err)
				}
			}
			run("tag", img, ref)
			if err := eng.Login(ctx, registryAddr, registryUser, strings.NewReader(registryPassword)); err != nil {
				t.Fatal(err)
			}
			run("push", ref)
			run("logout", registryAddr)
			run("rmi", ref)
			t.Cleanup(func() { eng.Run(context.Background(), []string{"rmi", ref}, engine.RunOpts{}) })

			good := filepath.Join(auth, "good")
			bad := filepath.Join(auth, "bad")
			os.WriteFile(good, []byte(registryPassword), 0o600)
			os.WriteFile(bad, []byte("not-the-password"), 0o600)
			stackFor := func(passwordFile string) string {
				return fmt.Sprintf(`
backend: %s
containers:
  {{P}}private:
    image: %s
    login: {registry: "%s", username: %s, passwordFile: "%s"}
    cmd: `+loop+`
    restart: "no"
    stopTimeout: 2s
`, name, ref, registryAddr, registryUser, passwordFile)
			}

			t.Run("a good password logs in and the image is pulled", func(t *testing.T) {
				s := newStack(t, eng, stackFor(good))
				sup, stop := s.up()
				s.waitState(sup, s.p+"private", service.Running)
				if log := s.logOf(s.p + "private"); strings.Contains(log, registryPassword) || !strings.Contains(log, "logging in") {
					t.Errorf("log leaks the password or lacks the login:\n%s", log)
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("a failed login goes on when the image is present", func(t *testing.T) {
				s := newStack(t, eng, stackFor(bad))
				sup, stop := s.up()
				s.waitState(sup, s.p+"private", service.Running)
				if log := s.logOf(s.p + "private"); !strings.Contains(log, "present locally, going on") {
					t.Errorf("log does not say why it went on:\n%s", log)
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("a failed login blocks the start when the image is absent", func(t *testing.T) {
				run("rmi", ref)
				s := newStack(t, eng, stackFor(bad))
				sup, stop := s.up()
				st := s.wait(sup, s.p+"private", "stopped after an error", stoppedWithError)
				if !strings.Contains(st.LastError, "doesn't exist locally and login failed") || strings.Contains(st.LastError, "not-the-password") {
					t.Errorf("LastError = %q", st.LastError)
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
