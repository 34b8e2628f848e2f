package spec_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/golden"
	"github.com/berth-dev/berth/service/spec"
)

func TestRunArgsMatchGoldenFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/runargs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, mode := range []struct {
				name string
				m    spec.Mode
			}{{"supervised", spec.Supervised}, {"systemd", spec.Systemd}} {
				for _, name := range f.Names() {
					fmt.Fprintf(&b, "# %s %s\n", name, mode.name)
					_, completed := f.WaitedFor(name)
					ro := spec.RunOptions{Backend: f.Backend, Mode: mode.m, Oneshot: completed && mode.m == spec.Systemd}
					for _, a := range spec.RunArgs(name, f.Containers[name], ro) {
						fmt.Fprintf(&b, "%s\n", a)
					}
				}
			}
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".golden", []byte(b.String()))
		})
	}
}

func TestRunArgsOptions(t *testing.T) {
	f, err := spec.Load("testdata/runargs/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := f.Containers["hello"]
	t.Run("journald is dropped when the host has no journald", func(t *testing.T) {
		got := strings.Join(spec.RunArgs("hello", c, spec.RunOptions{Backend: "docker", NoJournald: true}), " ")
		if strings.Contains(got, "--log-driver") {
			t.Errorf("args = %s", got)
		}
	})
	t.Run("berth labels follow the container's labels", func(t *testing.T) {
		got := strings.Join(spec.RunArgs("hello", c, spec.RunOptions{Backend: "docker", Labels: map[string]string{"berth.hash": "x"}}), " ")
		if !strings.Contains(got, "-l berth.hash=x --rm") {
			t.Errorf("args = %s", got)
		}
	})
}

func TestDefaultsAreNixOSDefaults(t *testing.T) {
	f, err := spec.Load("testdata/runargs/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := f.Containers["hello"]
	checks := []struct {
		field     string
		got, want any
	}{
		{"log-driver", c.LogDriver, "journald"},
		{"pull", c.Pull, "missing"},
		{"autoRemoveOnStop", c.AutoRemoveOnStop, true},
		{"autoStart", c.AutoStart, true},
		{"serviceName", c.ServiceName, "docker-hello"},
		{"privileged", c.Privileged, false},
		{"podman", c.Podman == nil, true},
		{"restart", c.Restart, "always"},
		// NixOS's ExecStop is `docker stop NAME`: the engine's own grace
		// (nixos/modules/virtualisation/oci-containers.nix, preStop).
		{"stopTimeout (unset: the engine's grace)", c.StopTimeout == nil, true},
		{"startLimit.burst", c.StartLimit.Burst, spec.DefaultStartLimitBurst},
	}
	for _, ch := range checks {
		t.Run(ch.field+" defaults like NixOS", func(t *testing.T) {
			if ch.got != ch.want {
				t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
			}
		})
	}
	t.Run("the backend defaults to podman, with podman settings defaulted", func(t *testing.T) {
		f, err := spec.Parse("", []byte("containers: {x: {image: i, autoStart: false}}"))
		if err != nil {
			t.Fatal(err)
		}
		x := f.Containers["x"]
		if f.Backend != "podman" || x.Podman == nil || x.Podman.Sdnotify != "conmon" || x.Podman.User != "root" || x.ServiceName != "podman-x" {
			t.Errorf("backend %s, podman %+v, serviceName %s", f.Backend, x.Podman, x.ServiceName)
		}
		if x.Restart != "on-failure" {
			t.Errorf("restart without autoStart = %s, want on-failure", x.Restart)
		}
		if f.Project != "" {
			t.Errorf("project without the key = %q, want none", f.Project)
		}
	})
	t.Run("project: names the file's project", func(t *testing.T) {
		f, err := spec.Parse("", []byte("project: web-1\ncontainers: {x: {image: i}}"))
		if err != nil || f.Project != "web-1" {
			t.Fatalf("project %q, %v", f.Project, err)
		}
	})
}

func TestNixEvalJSONIsAcceptedAsIs(t *testing.T) {
	f, err := spec.Load("testdata/nixos-eval.json")
	if err != nil {
		t.Fatal(err)
	}
	web := f.Containers["web"]
	if web.ServiceName != "web-custom" || web.AutoStart || *web.Entrypoint != "/bin/web" || web.Podman != nil {
		t.Errorf("web = %+v", web)
	}
	if got := f.Layers(); fmt.Sprint(got) != "[[db] [web]]" {
		t.Errorf("Layers() = %v", got)
	}
	if c := web.Capabilities["SYS_TIME"]; c != nil {
		t.Errorf("a null capability must stay null, got %v", *c)
	}
}

func TestPreStartAcceptsStringsAndLists(t *testing.T) {
	f, err := spec.Parse("", []byte(`
backend: docker
containers:
  a:
    image: i
    preStart:
      - "echo one: two"
      - [/bin/touch, /tmp/x]
    restartBackoff: {initial: 0.5, max: 2s}
    stopTimeout: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	a := f.Containers["a"]
	if got := fmt.Sprintf("%q", a.PreStart); got != `[["/bin/sh" "-c" "echo one: two"] ["/bin/touch" "/tmp/x"]]` {
		t.Errorf("preStart = %s", got)
	}
	if a.RestartBackoff.Initial.D() != 500*time.Millisecond || a.RestartBackoff.Max.D() != 2*time.Second || a.StopTimeout.D() != 3*time.Second {
		t.Errorf("durations = %+v, %v", a.RestartBackoff, a.StopTimeout.D())
	}
}

func TestValidationNamesContainerAndField(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown-dependency", []string{"containers.app.dependsOn", `unknown container "dbb"`}},
		{"cycle", []string{"containers.a.dependsOn", "dependency cycle: a -> b -> c -> a"}},
		{"self-cycle", []string{"dependency cycle: a -> a"}},
		{"image-file-and-stream", []string{"containers.app.imageStream", "only define one of imageFile and imageStream"}},
		{"podman-with-docker", []string{"containers.app.podman", "backend is docker"}},
		{"pull-newer-with-docker", []string{"containers.app.pull", "newer", "podman"}},
		{"incomplete-login", []string{"containers.app.login.passwordFile", "required"}},
		{"unknown-field", []string{"dependOn"}},
		{"bad-enums", []string{"containers.app.pull", "sometimes", "containers.app.restart", "maybe"}},
		{"no-image", []string{"containers.app.image", "required"}},
		{"bad-backend", []string{"backend: must be docker or podman"}},
		{"bad-project", []string{"project: must match", `"../etc"`}},
		{"empty-project", []string{"project: must match", `""`}},
		{"stop-timeout-twice", []string{"containers.app.stopTimeout", "extraOptions already sets --stop-timeout"}},
		// Compose's conditions are service_started, service_healthy,
		// service_completed_successfully (compose-spec 05-services.md:413-419);
		// berth's drop the prefix and say so.
		{"unknown-condition", []string{"containers.app.dependsOn[0].condition", "started, healthy or completed-successfully", "service_healthy"}},
		{"health-cycle", []string{"containers.a.dependsOn", "dependency cycle: a -> b (healthy) -> c -> a (healthy)"}},
		{"healthy-but-disabled", []string{"containers.app.dependsOn[0]", "db to be healthy", "disables the check"}},
		{"completed-but-always", []string{"containers.app.dependsOn[0]", "restart: always", "never completes"}},
		{"bad-healthcheck", []string{"containers.app.healthcheck.test", "must start with CMD, CMD-SHELL or NONE",
			"containers.app.healthcheck.interval", "at least 1ms", "containers.app.healthcheck.retries",
			"containers.app.onUnhealthy", "reboot", "containers.b.healthcheck.test", "is required"}},
		{"sdnotify-not-healthy", []string{"containers.app.dependsOn[0]", "podman.sdnotify is conmon"}},
		{"dependency-without-name", []string{"needs a name"}},
		{"bad-limits", []string{"networks.-bad", "networks.host: host is the engine's own network", "containers.app.memory", `"lots"`,
			"containers.app.cpus", "containers.app.pids", "containers.app.stopSignal", "containers.twice.memory: extraOptions already sets --memory"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+" is refused with a clear message", func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file+".yaml")
			_, err := spec.Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestHashChangesWithTheRunConfigurationOnly(t *testing.T) {
	load := func(extra string) string {
		f, err := spec.Parse("", []byte("backend: docker\ncontainers:\n  a:\n    image: i\n"+extra))
		if err != nil {
			t.Fatal(err)
		}
		return spec.Hash(f.Backend, "a", f.Containers["a"])
	}
	base := load("")
	if load("    cmd: [x]\n") == base {
		t.Error("changing cmd must change the hash")
	}
	if load("    restart: \"no\"\n    restartBackoff: {initial: 2s}\n") != base {
		t.Error("changing supervision settings must not change the hash")
	}
	if load("    stopTimeout: 5s\n") == base {
		t.Error("stopTimeout is the container's --stop-timeout: changing it must change the hash")
	}
}

// Issue 14 point 7: files a container reads when it starts may not exist
// yet when the services file is loaded (secrets that appear at boot,
// images nix has not built yet): they are checked in that container's
// pre-start, not by Load.
func TestFilesReadAtStartMayBeMissingAtLoad(t *testing.T) {
	f, err := spec.Parse("", []byte(`
backend: docker
containers:
  app:
    image: 127.0.0.1:5000/app:1
    login: {registry: 127.0.0.1:5000, username: berth, passwordFile: /run/secrets/not-yet}
  built:
    image: berth/built:1
    imageFile: /nix/store/not-built-yet.tar.gz
  streamed:
    image: berth/streamed:1
    imageStream: /nix/store/not-built-yet-stream
`))
	if err != nil {
		t.Fatalf("Load refused files that are only read at start: %v", err)
	}
	if *f.Containers["app"].Login.PasswordFile != "/run/secrets/not-yet" {
		t.Errorf("passwordFile = %s", *f.Containers["app"].Login.PasswordFile)
	}
}

func TestDependsOnTakesNamesAndConditions(t *testing.T) {
	f, err := spec.Parse("", []byte(`
backend: podman
containers:
  app:
    image: a
    dependsOn: [cache, {name: db, condition: healthy}, {name: migrate, condition: completed-successfully}, {name: log}]
  cache: {image: c}
  db: {image: d, healthcheck: {test: [CMD, pg_isready]}}
  log: {image: l}
  migrate: {image: m, restart: "no"}
`))
	if err != nil {
		t.Fatal(err)
	}
	app := f.Containers["app"]
	got := fmt.Sprint(app.DependsOn)
	if want := "[{cache started} {db healthy} {migrate completed-successfully} {log started}]"; got != want {
		t.Errorf("dependsOn = %s, want %s", got, want)
	}
	t.Run("a plain name keeps NixOS's meaning and its JSON shape", func(t *testing.T) {
		b, _ := json.Marshal(app.DependsOn)
		if want := `["cache",{"name":"db","condition":"healthy"},{"name":"migrate","condition":"completed-successfully"},"log"]`; string(b) != want {
			t.Errorf("JSON = %s, want %s", b, want)
		}
	})
	t.Run("a podman dependency waited for healthy notifies when healthy", func(t *testing.T) {
		if sd := f.Containers["db"].Podman.Sdnotify; sd != "healthy" {
			t.Errorf("db sdnotify = %s, want healthy (Quadlet Notify=healthy)", sd)
		}
		if sd := f.Containers["cache"].Podman.Sdnotify; sd != "conmon" {
			t.Errorf("cache sdnotify = %s, want NixOS's conmon", sd)
		}
	})
	t.Run("the layers follow conditioned entries too", func(t *testing.T) {
		if got := fmt.Sprint(f.Layers()); got != "[[cache db log migrate] [app]]" {
			t.Errorf("Layers() = %s", got)
		}
	})
	t.Run("a string test is CMD-SHELL, disable is NONE, onUnhealthy defaults to none", func(t *testing.T) {
		f, err := spec.Parse("", []byte("backend: docker\ncontainers:\n  a: {image: i, healthcheck: {test: \"curl -f x\"}}\n  b: {image: i, healthcheck: {disable: true}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%q", f.Containers["a"].Healthcheck.Test); got != `["CMD-SHELL" "curl -f x"]` {
			t.Errorf("test = %s", got)
		}
		if !f.Containers["b"].Healthcheck.Disabled() || f.Containers["a"].OnUnhealthy != "none" {
			t.Errorf("b disabled = %v, onUnhealthy = %q", f.Containers["b"].Healthcheck.Disabled(), f.Containers["a"].OnUnhealthy)
		}
	})
}

func TestDeclaredNetworksAndVolumesAreTheOnesContainersUse(t *testing.T) {
	f, err := spec.Load("testdata/runargs/limits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.UsedNetworks("app")); got != "[front back]" {
		t.Errorf("UsedNetworks(app) = %s: host-net is not declared, so it is only passed on", got)
	}
	if got := fmt.Sprint(f.UsedVolumes("app")); got != "[data]" {
		t.Errorf("UsedVolumes(app) = %s: a bind mount is no volume", got)
	}
	if n := f.Networks["back"]; n == nil || !n.Internal || f.Networks["front"].Labels["tier"] != "front" || f.Volumes["data"] == nil {
		t.Errorf("networks = %+v, volumes = %+v", f.Networks, f.Volumes)
	}
	if len(f.UsedNetworks("unlimited")) != 0 || len(f.UsedVolumes("unlimited")) != 0 {
		t.Error("unlimited uses no declared network or volume")
	}
}
