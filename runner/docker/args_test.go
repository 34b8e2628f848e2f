package docker

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	goldenfile "github.com/berth-dev/berth/internal/golden"
)

// golden compares args, one per line, with testdata/NAME.golden.
func golden(t *testing.T, name string, args []string) {
	t.Helper()
	goldenfile.Lines(t, filepath.Join("testdata", name+".golden"), args)
}

func baseSpec() RunSpec {
	return RunSpec{
		Name:  "berth-hello-1.0-0a1b2c3d",
		Image: "berth-addon/hello:1.0-0123456789ab",
		RunID: "run-42", Addon: "hello", Version: "1.0",
		Network: "none", User: "1000:1000",
		CapDropAll: true, NoNewPrivileges: true, ReadOnlyRoot: true,
		Limits:    Limits{Memory: "1g", CPUs: "1", Pids: 512},
		WorkDir:   "/var/lib/berth/work/run-42",
		OutputDir: "/var/lib/berth/work/run-42-output",
		CacheDir:  "/var/cache/berth/hello",
		Env: []string{
			"LANG=C.UTF-8",
			"ADDON_DIR=addons/hello-1.0",
			"TMPDIR=temp", "TMP_DIR=temp",
			"OUTPUT_DIR=/mnt/output", "CACHE_DIR=/mnt/cache",
		},
		Args: []string{"arguments/user-input"},
	}
}

func TestRunArgsMatchGoldenFiles(t *testing.T) {
	cases := []struct {
		name string
		edit func(*RunSpec)
	}{
		{"run-pure-default", func(*RunSpec) {}},
		{"run-impure-host-network", func(s *RunSpec) { s.Network = "host" }},
		{"run-descriptor-args-and-env-file", func(s *RunSpec) {
			s.Args = []string{"--verbose", "two words", "arguments/user-input"}
			s.EnvFile = "/tmp/berth-env-123"
		}},
		{"run-hardening-off-image-user-no-limits", func(s *RunSpec) {
			s.User = ""
			s.CapDropAll, s.NoNewPrivileges, s.ReadOnlyRoot = false, false, false
			s.Limits = Limits{Memory: "0", CPUs: "", Pids: -1}
		}},
		{"run-paths-with-comma-and-quote", func(s *RunSpec) {
			s.WorkDir = "/srv/berth,work/run-42"
			s.OutputDir = `/srv/"quoted"/out`
		}},
		{"run-with-deadline", func(s *RunSpec) {
			s.Deadline = time.Date(2026, 11, 25, 14, 0, 30, 0, time.FixedZone("CET", 3600))
		}},
		{"run-podman-seccomp", func(s *RunSpec) { s.SeccompProfile = "/tmp/berth-docker-1/seccomp.json" }},
		{"run-item-env", func(s *RunSpec) {
			s.Env = append(s.Env, "ITEM_DIR=item", "ITEM_DATA_JSON=item/item-data.json")
		}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, "-", " "), func(t *testing.T) {
			s := baseSpec()
			c.edit(&s)
			args, err := RunArgs(s)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, args)
		})
	}
}

func TestRunArgsRefuseMountSourcesThatCannotBeExpressed(t *testing.T) {
	for _, dir := range []string{"", "/a\nb", "/a\rb"} {
		s := baseSpec()
		s.WorkDir = dir
		if _, err := RunArgs(s); err == nil {
			t.Errorf("RunArgs accepted work dir %q", dir)
		}
	}
}

func TestBuildAndProbeArgsMatchGoldenFiles(t *testing.T) {
	golden(t, "build", BuildArgs("-", "berth-addon/hello:1.0-0123456789ab",
		map[string]string{LabelVersion: "1.0", LabelAddon: "hello", LabelHash: "0123456789abcdef"}, "", "/addons/hello"))
	golden(t, "build-network-none", BuildArgs("-", "berth-addon/hello:1.0-0123456789ab",
		map[string]string{LabelVersion: "1.0", LabelAddon: "hello", LabelHash: "0123456789abcdef"}, "none", "/addons/hello"))
	args, err := ProbeArgs("berth-probe-0a1b2c3d", ProbeImage, "/var/lib/berth/work/berth-doctor-1")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "probe", args)
}

var validRef = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*:[a-z0-9_][a-z0-9_.-]{0,127}$`)

func TestImageTagIsValidLowerCaseAndKeyedByHash(t *testing.T) {
	hash := "0123456789abcdef0123"
	cases := []struct{ name, version, want string }{
		{"hello", "1.0", "berth-addon/hello:1.0-0123456789ab"},
		{"Hello_World", "1.0-RC1", "berth-addon/hello-world:1.0-rc1-0123456789ab"},
		{"a..b--c", "2+build.5", "berth-addon/a-b-c:2_build.5-0123456789ab"},
		{"x", strings.Repeat("9", 200), "berth-addon/x:" + strings.Repeat("9", 115) + "-0123456789ab"},
	}
	for _, c := range cases {
		got := ImageTag(c.name, c.version, hash)
		if got != c.want {
			t.Errorf("ImageTag(%q, %q) = %q, want %q", c.name, c.version, got, c.want)
		}
		if !validRef.MatchString(got) {
			t.Errorf("ImageTag(%q, %q) = %q is not a valid image reference", c.name, c.version, got)
		}
	}
}

func TestContainerNamesAreValidAndUnique(t *testing.T) {
	valid := regexp.MustCompile(`^berth-[a-zA-Z0-9_.-]+-[0-9a-f]{8}$`)
	a, b := ContainerName("My+Addon", "1.0+x"), ContainerName("My+Addon", "1.0+x")
	if !valid.MatchString(a) || !strings.HasPrefix(a, "berth-My_Addon-1.0_x-") {
		t.Errorf("ContainerName = %q", a)
	}
	if a == b {
		t.Errorf("two container names are equal: %q", a)
	}
}

func TestDaemonPathUsesTheLongestMatchingPrefix(t *testing.T) {
	cfg := Config{PathMap: map[string]string{
		"/data":       "/srv/berth",
		"/data/cache": "/mnt/fast/cache",
		"/tmp/berth/": "/var/tmp/host-berth",
	}}
	cases := map[string]string{
		"/data/work/run-1":  "/srv/berth/work/run-1",
		"/data":             "/srv/berth",
		"/data/cache/hello": "/mnt/fast/cache/hello",
		"/database/x":       "/database/x", // not at an element boundary
		"/tmp/berth/work/":  "/var/tmp/host-berth/work",
		"/elsewhere":        "/elsewhere",
	}
	for in, want := range cases {
		if got := cfg.DaemonPath(in); got != want {
			t.Errorf("DaemonPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigDecodesFromBerthYAMLOverTheDefaults(t *testing.T) {
	src := `
binary: podman
global-args: ["--runtime", "runc"]
pull: never
build-timeout: 5m
memory: 256m
per-addon:
  ocr:
    memory: 4g
    pids: -1
path-map:
  /data: /srv/berth
`
	cfg := DefaultConfig()
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.DisallowUnknownField()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Binary, want.GlobalArgs, want.Pull, want.BuildTimeout, want.Memory = "podman", []string{"--runtime", "runc"}, PullNever, 5*time.Minute, "256m"
	want.PerAddon = map[string]Limits{"ocr": {Memory: "4g", Pids: -1}}
	want.PathMap = map[string]string{"/data": "/srv/berth"}
	if !reflect.DeepEqual(want, cfg) {
		t.Errorf("decoded config:\n got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.limitsFor("ocr"); got != (Limits{Memory: "4g", CPUs: DefaultCPUs, Pids: -1}) {
		t.Errorf("limits for ocr = %+v", got)
	}
	if got := cfg.limitsFor("other"); got != (Limits{Memory: "256m", CPUs: DefaultCPUs, Pids: DefaultPids}) {
		t.Errorf("limits for another addon = %+v", got)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	cases := map[string]func(*Config){
		"docker.pull":                 func(c *Config) { c.Pull = "sometimes" },
		"docker.cpus":                 func(c *Config) { c.CPUs = "many" },
		"docker.per-addon.ocr.memory": func(c *Config) { c.PerAddon = map[string]Limits{"ocr": {Memory: "4 g"}} },
		"docker.path-map":             func(c *Config) { c.PathMap = map[string]string{"data": "/srv"} },
		"docker.build-timeout":        func(c *Config) { c.BuildTimeout = -time.Second },
		"docker.build-network":        func(c *Config) { c.BuildNetwork = "--privileged" },
	}
	for field, edit := range cases {
		cfg := DefaultConfig()
		edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("bad %s: Validate() = %v, want an error naming it", field, err)
		}
	}
}

// Docspell passes no --user (DockerRunner.scala:51-62): the image's USER
// is the default; docker.user: "" is berth's own uid:gid.
func TestTheDefaultUserIsTheImagesOwn(t *testing.T) {
	if got := DefaultConfig().user(); got != "" {
		t.Errorf("default --user = %q, want none (the image's USER)", got)
	}
	want := strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid())
	if got := (Config{User: UserBerth}).user(); got != want {
		t.Errorf(`user: "" gives --user %q, want berth's %q`, got, want)
	}
}

func TestReaperArgsMatchGoldenFile(t *testing.T) {
	golden(t, "reaper", ReaperArgs("berth-hello-1.0-0a1b2c3d", "/usr/bin/podman", []string{"--runtime", "runc"}))
}
