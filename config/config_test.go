package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadWithoutFileGivesDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, file, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if file != "" && !strings.HasPrefix(file, "/etc/") {
		t.Errorf("read %s, want no file", file)
	}
	if file == "" {
		d := Default()
		if !slices.Equal(cfg.Runners, []string{"wasm", "nix-flake", "docker", "trivial"}) || cfg.RunTimeout.Std() != 15*time.Minute || cfg.OutputCap != 16<<20 || cfg.Docker.Binary != "docker" || !cfg.Docker.CapDropAll {
			t.Errorf("defaults = %+v", cfg)
		}
		if cfg.WorkingDir != d.WorkingDir || cfg.Sandbox != "auto" {
			t.Errorf("defaults = %+v", cfg)
		}
	}
}

// An empty berth.yaml, or one of comments only (as a package's default
// file may be), is the defaults; it was read as a config without runners.
func TestAnEmptyOrCommentOnlyFileGivesDefaults(t *testing.T) {
	for name, body := range map[string]string{
		"empty":         "",
		"comments only": "# berth.yaml: see docs/configuration.md\n\n#runners: [docker]\n",
		"a bare marker": "---\n# nothing\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "berth.yaml")
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := Load(file, nil)
			if err != nil {
				t.Fatalf("Load = %v, want the defaults", err)
			}
			if d := Default(); !slices.Equal(cfg.Runners, d.Runners) || cfg.RunTimeout != d.RunTimeout || cfg.Sandbox != d.Sandbox {
				t.Errorf("Load = %+v, want the defaults", cfg)
			}
		})
	}
}

// The default run-disk-cap follows cache-cap and output-files-cap, so
// that raising one of them does not make berth refuse its file.
func TestTheDefaultRunDiskCapFollowsTheCaps(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want int64
	}{
		{nil, 8 << 30},
		{[]string{"BERTH_CACHE_CAP=10GiB"}, 14 << 30},
		{[]string{"BERTH_RUN_DISK_CAP=0", "BERTH_OUTPUT_FILES_CAP=2GiB"}, 9 << 30},
		{[]string{"BERTH_RUN_DISK_CAP=6GiB"}, 6 << 30},
	} {
		cfg, _, err := Load("testdata/full.yaml", c.env)
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if int64(cfg.RunDiskCap) != c.want {
			t.Errorf("%v: run-disk-cap %d, want %d", c.env, cfg.RunDiskCap, c.want)
		}
	}
}

func TestLoadFileThenEnvironment(t *testing.T) {
	cfg, _, err := Load("testdata/full.yaml", []string{"BERTH_RUN_TIMEOUT=90s", "BERTH_DOCKER_PULL=always", "BERTH_RUNNERS=trivial", "BERTH_UNPACK_MAX_BYTES=1MiB", "BERTH_BUILTIN_INIT=/opt/berth/libexec/berth-sandbox-init", "OTHER=x"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"working-dir from the file", cfg.WorkingDir, "/srv/berth/work"},
		{"run-timeout from the environment", cfg.RunTimeout.Std(), 90 * time.Second},
		{"runners from the environment", strings.Join(cfg.Runners, ","), "trivial"},
		{"output-cap with a unit", int64(cfg.OutputCap), int64(4 << 20)},
		{"unpack.max-entries from the file", cfg.Unpack.MaxEntries, 100},
		{"unpack.max-bytes from the environment", int64(cfg.Unpack.MaxBytes), int64(1 << 20)},
		{"unpack.max-download-bytes keeps its default", int64(cfg.Unpack.MaxDownloadBytes), int64(256 << 20)},
		{"run-disk-cap keeps its default", int64(cfg.RunDiskCap), int64(8 << 30)},
		{"run-files-cap keeps its default", cfg.RunFilesCap, 1_000_000},
		{"docker.binary from the file", cfg.Docker.Binary, "podman"},
		{"docker.pull from the environment", cfg.Docker.Pull, "always"},
		{"docker hardening keeps its default", cfg.Docker.CapDropAll && cfg.Docker.NoNewPrivileges && !cfg.Docker.ReadOnlyRoot, true},
		{"docker keeps the image user by default", cfg.Docker.User, "image"},
		{"docker per-addon limits", cfg.Docker.RunnerConfig().PerAddon["big"].Memory, "4g"},
		{"require-isolation", cfg.RequireIsolation, true},
		{"builtin.init from the environment reaches the sandbox", cfg.SandboxConfig("builtin").InitPath, "/opt/berth/libexec/berth-sandbox-init"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    string
	}{
		{"a misspelt key names the file and key", "testdata/typo.yaml", nil, "run-timout"},
		{"a bad duration says how to write one", "testdata/bad-duration.yaml", nil, "not a duration"},
		{"an unknown runner lists the known ones", "testdata/bad-runner.yaml", nil, `runners[1]: unknown runner "teleport"`},
		{"a bad pull policy names the key", "testdata/bad-pull.yaml", nil, "docker.pull"},
		{"a bad environment value names the variable", "testdata/full.yaml", []string{"BERTH_RUN_TIMEOUT=later"}, "BERTH_RUN_TIMEOUT (run-timeout)"},
		{"a bad boolean", "testdata/full.yaml", []string{"BERTH_REQUIRE_ISOLATION=perhaps"}, "not a boolean"},
		{"an unknown sandbox", "testdata/full.yaml", []string{"BERTH_SANDBOX=jail"}, `unknown sandbox "jail"`},
		{"a missing file", "testdata/nope.yaml", nil, "nope.yaml"},
		{"an unknown log level lists the known ones", "testdata/full.yaml", []string{"BERTH_LOG_LEVEL=verbose"}, `log.level: "verbose" is not one of debug, info, warn, error`},
		{"an unknown log format", "testdata/full.yaml", []string{"BERTH_LOG_FORMAT=xml"}, `log.format: "xml" is not one of text, json`},
		{"a negative kill-grace", "testdata/full.yaml", []string{"BERTH_KILL_GRACE=-1s"}, "kill-grace: must not be negative"},
		{"a CPU limit below the kernel's smallest quota", "testdata/full.yaml", []string{"BERTH_SANDBOX_LIMITS_CPUS=0.001"}, "sandbox-limits.cpus: 0.001 is less than the smallest quota"},
		{"a relative cgroup for the runs", "testdata/full.yaml", []string{"BERTH_SANDBOX_LIMITS_CGROUP=berth-runs"}, "sandbox-limits.cgroup: \"berth-runs\" is not an absolute path"},
		{"a relative sandbox init", "testdata/full.yaml", []string{"BERTH_BUILTIN_INIT=bin/berth-sandbox-init"}, "builtin.init: \"bin/berth-sandbox-init\" must be an absolute path"},
		{"a negative unpack limit", "testdata/full.yaml", []string{"BERTH_UNPACK_MAX_ENTRIES=-5"}, "unpack.max-entries: must not be negative"},
		{"an allow-nets entry that is not a network names the key", "testdata/full.yaml", []string{"BERTH_OUTBOUND_ALLOW_NETS=10.0.0.0/8,192.168.1.300/32"}, `outbound.allow-nets[1]: "192.168.1.300/32" is not a network in CIDR form`},
		{"a zero idle timeout", "testdata/full.yaml", []string{"BERTH_OUTBOUND_IDLE_TIMEOUT=0s"}, "outbound.idle-timeout: must be positive"},
		{"a negative run-disk-cap", "testdata/full.yaml", []string{"BERTH_RUN_DISK_CAP=-1"}, "run-disk-cap"},
		{"a run-disk-cap below a full cache and the output files", "testdata/full.yaml", []string{"BERTH_RUN_DISK_CAP=4GiB"}, "run-disk-cap: 4GiB is less than cache-cap + output-files-cap (5GiB)"},
		{"a raised cache-cap with an explicit run-disk-cap below it", "testdata/full.yaml", []string{"BERTH_CACHE_CAP=10GiB", "BERTH_RUN_DISK_CAP=8GiB"}, "run-disk-cap: 8GiB is less than cache-cap + output-files-cap (11GiB)"},
		{"a zero run-files-cap", "testdata/full.yaml", []string{"BERTH_RUN_FILES_CAP=0"}, "run-files-cap: must be positive"},
		{"an environment variable name with '=' names the key", "testdata/bad-env-name.yaml", nil, `env.rename.TOKEN=x: "TOKEN=x" is not a variable name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.file, tt.environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			var ce *Error
			if tt.file != "testdata/nope.yaml" && !errors.As(err, &ce) {
				t.Errorf("err is %T, want *config.Error", err)
			}
			if ce != nil && ce.File != "environment" && ce.File != tt.file {
				t.Errorf("error names file %q, want %q", ce.File, tt.file)
			}
		})
	}
}

func TestAddonEnv(t *testing.T) {
	cfg, _, err := Load(filepath.Join("testdata", "full.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	env, err := cfg.AddonEnv("rename", lookup(map[string]string{"RENAME_TOKEN": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if env["URL"] != "http://localhost:7880" || env["TOKEN"] != "s3cret" {
		t.Errorf("env = %v", env)
	}
	if _, ok := env["PROXY"]; ok {
		t.Error("an optional unset variable was set")
	}
	_, err = cfg.AddonEnv("rename", lookup(nil))
	if !errors.Is(err, ErrMissingEnv) || !strings.Contains(err.Error(), "env.rename.TOKEN") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v, want ErrMissingEnv naming env.rename.TOKEN", err)
	}
	if env, err := cfg.AddonEnv("other", lookup(nil)); err != nil || len(env) != 0 {
		t.Errorf("an addon without configuration got %v, %v", env, err)
	}
}

func TestEveryEnvNameIsDocumented(t *testing.T) {
	names := EnvNames()
	for _, want := range []string{"BERTH_WORKING_DIR", "BERTH_RUN_TIMEOUT", "BERTH_UNPACK_MAX_BYTES", "BERTH_DOCKER_BINARY", "BERTH_REQUIRE_ISOLATION"} {
		if _, ok := names[want]; !ok {
			t.Errorf("%s is not an environment override (have %v)", want, names)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"16MiB": 16 << 20, "1000": 1000, "2G": 2 << 30, "512 KiB": 512 << 10, "1MB": 1000000} {
		got, err := ParseByteSize(in)
		if err != nil || int64(got) != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "1.5MiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
}
