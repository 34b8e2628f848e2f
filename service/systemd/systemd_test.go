package systemd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/golden"
	"github.com/berth-dev/berth/service/spec"
	"github.com/berth-dev/berth/service/systemd"
)

func render(files []systemd.File) string {
	var b strings.Builder
	for _, u := range files {
		fmt.Fprintf(&b, "### %s (%v)\n%s", u.Name, u.Mode, u.Content)
	}
	return b.String()
}

// testUsers is the user database of the fixtures: unit generation is a
// pure function of it.
func testUsers(name string) (systemd.User, error) {
	switch name {
	case "alice":
		return systemd.User{UID: 1000, Home: "/home/alice"}, nil
	case "bob":
		return systemd.User{UID: 1001, Home: "/home/bob 100%", Linger: true}, nil
	}
	return systemd.User{}, fmt.Errorf("unknown user %s", name)
}

func generate(t *testing.T, f *spec.File, o systemd.Options) []systemd.File {
	t.Helper()
	o.LookupUser = testUsers
	files, err := systemd.Units(f, o)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestUnitsMatchGoldenFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			got := render(generate(t, f, systemd.Options{}))
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".golden", []byte(got))
		})
	}
}

func TestUnitsFollowNixOSRules(t *testing.T) {
	f, err := spec.Load("testdata/docker-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, u := range generate(t, f, systemd.Options{}) {
		units[u.Name] = u.Content
	}
	checks := []struct {
		name, unit, line string
		present          bool
	}{
		{"a dependency is After= and Requires=", "docker-app.service", "Requires=docker-db.service", true},
		{"docker units start after docker", "docker-db.service", "After=docker.service docker.socket network-online.target", true},
		{"a loaded image needs no network", "berth-local.service", "network-online.target", false},
		{"autoStart false is not wanted by multi-user", "berth-local.service", "WantedBy=multi-user.target", false},
		{"autoStart is wanted by multi-user", "docker-db.service", "WantedBy=multi-user.target", true},
		{"start never times out", "docker-db.service", "TimeoutStartSec=0", true},
		{"the pre-start script comes first, then preStart entries", "docker-app.service", "ExecStartPre=/bin/sh -c \"mkdir -p /var/lib/app && echo ready\"", true},
		{"the password goes on stdin", "docker-app.service", "--password-stdin < /etc/passwd", true},
		{"systemd specifiers and variables are escaped", "docker-app.service", `"100%% $$HOME \"quoted\" it's"`, true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Contains(units[c.unit], c.line); got != c.present {
				t.Errorf("%s contains %q = %v, want %v\n%s", c.unit, c.line, got, c.present, units[c.unit])
			}
		})
	}
	t.Run("ExecStartPre order is script then entries", func(t *testing.T) {
		var pre []string
		for _, l := range strings.Split(units["docker-app.service"], "\n") {
			if strings.HasPrefix(l, "ExecStartPre=") {
				pre = append(pre, l)
			}
		}
		if len(pre) != 3 || !strings.Contains(pre[0], "rm -f app") || !strings.Contains(pre[2], "/bin/true --flag") {
			t.Errorf("ExecStartPre lines = %q", pre)
		}
	})
}

func TestGeneratedUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file)+" verifies", func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			// verify checks that executables exist: use this host's engine.
			o := systemd.Options{}
			if p, err := exec.LookPath(f.Backend); err == nil {
				o.EnginePath = p
			} else {
				o.EnginePath = "/bin/true"
			}
			dir := t.TempDir()
			var paths []string
			o.Dir = dir
			for _, u := range generate(t, f, o) {
				p := filepath.Join(dir, u.Name)
				if err := os.WriteFile(p, []byte(u.Content), u.Mode); err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(p, ".service") {
					paths = append(paths, p)
				}
			}
			out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// The rules of nixpkgs 035a24e7, nixos/modules/virtualisation/oci-containers.nix,
// mkService, for podman (serviceConfig's podman attributes, after, wants,
// requires, environment, unitConfig).
func TestPodmanUnitsFollowTheNixOSModule(t *testing.T) {
	units := map[string]string{}
	for _, file := range []string{"testdata/podman-stack.yaml", "testdata/podman-rootless.yaml"} {
		f, err := spec.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range generate(t, f, systemd.Options{}) {
			units[u.Name] = u.Content
		}
	}
	checks := []struct {
		name, unit, line string
		present          bool
	}{
		{"Delegate = mkIf (sdnotify == healthy) true: set with healthy", "podman-web.service", "\nDelegate=true\n", true},
		{"Delegate = mkIf (sdnotify == healthy) true: not with conmon", "podman-worker.service", "Delegate=", false},
		{"User = effectiveUser, root by default", "podman-worker.service", "\nUser=root\n", true},
		{"a root container has no RequiresMountsFor", "podman-worker.service", "RequiresMountsFor=", false},
		{"a root container gets no HOME", "podman-worker.service", "HOME=", false},
		{"rootless: environment.HOME is the user's home", "podman-cache.service", "\nEnvironment=HOME=/home/alice\n", true},
		{"rootless: % in HOME is escaped for systemd", "podman-queue.service", "\nEnvironment=\"HOME=/home/bob 100%%\"\n", true},
		{"rootless: unitConfig.RequiresMountsFor the user's containers dir", "podman-cache.service", "\nRequiresMountsFor=/run/user/1000/containers\n", true},
		{"rootless + healthy: after and requires user@UID.service", "podman-cache.service", "\nAfter=network-online.target user@1000.service\n", true},
		{"rootless + healthy: requires user@UID.service", "podman-cache.service", "\nRequires=user@1000.service\n", true},
		{"rootless without linger: no linger-users.service", "podman-cache.service", "linger-users.service", false},
		{"rootless + linger: after linger-users.service, after dependsOn", "podman-queue.service", "\nAfter=network-online.target podman-cache.service linger-users.service\n", true},
		{"rootless + linger: wants linger-users.service", "podman-queue.service", "\nWants=network-online.target linger-users.service\n", true},
		{"rootless + conmon: no user@UID.service", "podman-queue.service", "user@1001", false},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Contains(units[c.unit], c.line); got != c.present {
				t.Errorf("%s contains %q = %v, want %v\n%s", c.unit, c.line, got, c.present, units[c.unit])
			}
		})
	}
}

func TestARootlessUnitForAnUnknownUserIsRefusedNamingTheField(t *testing.T) {
	f, err := spec.Parse("services.yaml", []byte("backend: podman\ncontainers:\n  c: {image: i, podman: {user: mallory}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = systemd.Units(f, systemd.Options{LookupUser: testUsers})
	if err == nil || !strings.Contains(err.Error(), "containers.c.podman.user") || !strings.Contains(err.Error(), "mallory") {
		t.Errorf("Units = %v, want an error naming containers.c.podman.user and the user", err)
	}
}

// Issue 18 ("secrets in plain view"): a unit is world-readable (0644), so
// the environment's values must be elsewhere: in a 0600 env file that
// systemd hands the service as a credential.
func TestNoEnvironmentValueIsInAWorldReadableFile(t *testing.T) {
	for _, file := range []string{"testdata/docker-stack.yaml", "testdata/podman-rootless.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			files := generate(t, f, systemd.Options{})
			for _, name := range f.Names() {
				c := f.Containers[name]
				for k, v := range c.Environment {
					found := false
					for _, u := range files {
						if !strings.Contains(u.Content, v) {
							continue
						}
						if u.Mode&0o077 != 0 {
							t.Errorf("environment.%s's value is in %s, mode %v", k, u.Name, u.Mode)
						} else {
							found = true
						}
					}
					if !found {
						t.Errorf("environment.%s's value is in no private file", k)
					}
				}
			}
		})
	}
}
