package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/internal/lazyregexp"
	"github.com/berth-dev/berth/internal/yamlsafe"
	"github.com/berth-dev/berth/server/settings"
)

// Config is berth.yaml. Every key is listed with its default in
// docs/configuration.md; keep the two in step.
type Config struct {
	// WorkingDir holds each run's WORK and temporary OUTPUT_DIR.
	WorkingDir string `yaml:"working-dir"`
	// CacheDir holds the CACHE_DIR of each addon (or cache key).
	CacheDir string `yaml:"cache-dir"`
	// DataDir holds the daemon's database and installed addons.
	DataDir string `yaml:"data-dir"`
	// Runners is the runner preference list.
	Runners []string `yaml:"runners"`
	// RunTimeout bounds each addon's run.
	RunTimeout Duration `yaml:"run-timeout"`
	// KillGrace is the time between SIGTERM and SIGKILL on timeout.
	KillGrace Duration `yaml:"kill-grace"`
	// OutputCap bounds an addon's stdout.
	OutputCap ByteSize `yaml:"output-cap"`
	// OutputFilesCap bounds the total size of a run's output files.
	OutputFilesCap ByteSize `yaml:"output-files-cap"`
	// CacheCap bounds the disk space of one CACHE_DIR.
	CacheCap ByteSize `yaml:"cache-cap"`
	// RunDiskCap bounds the disk space WORK, OUTPUT_DIR and CACHE_DIR of
	// a run hold together while an addon runs, RunFilesCap their entries.
	RunDiskCap  ByteSize `yaml:"run-disk-cap"`
	RunFilesCap int      `yaml:"run-files-cap"`
	// Unpack bounds what unpacking an addon zip may create.
	Unpack Unpack `yaml:"unpack"`
	// Env holds operator-configured variables per addon name.
	Env map[string]map[string]EnvVar `yaml:"env"`
	// Addons holds per-addon variables in Docspell's joex shape
	// (addons.configs: [{name, enabled, envs: [{name, value, value-from}]}]).
	Addons Addons `yaml:"addons"`
	// Sandbox is how process-based runners isolate: none, nspawn, builtin
	// or auto (builtin where the kernel allows it, else none).
	Sandbox string `yaml:"sandbox"`
	// RequireIsolation refuses to run a pure addon unisolated.
	RequireIsolation bool `yaml:"require-isolation"`
	// SandboxLimits bound each nspawn or builtin run.
	SandboxLimits SandboxLimits `yaml:"sandbox-limits"`
	// Nspawn configures the systemd-nspawn sandbox.
	Nspawn Nspawn `yaml:"nspawn"`
	// Builtin configures berth's own sandbox.
	Builtin Builtin `yaml:"builtin"`
	// Docker configures the docker runner (docker or podman).
	Docker Docker `yaml:"docker"`
	// Nix configures the nix-flake runner.
	Nix Nix `yaml:"nix"`
	// Outbound is the policy for URLs berth fetches or posts to.
	Outbound Outbound `yaml:"outbound"`
	// Serve configures the daemon (berth serve).
	Serve settings.Serve `yaml:"serve"`
	// Log configures berth's own logs.
	Log Log `yaml:"log"`
	// Services are the services files `berth serve` supervises.
	Services []ServicesFile `yaml:"services"`
}

// Unpack bounds zip extraction (zip bombs).
type Unpack struct {
	MaxEntries       int      `yaml:"max-entries"`
	MaxBytes         ByteSize `yaml:"max-bytes"`
	MaxDownloadBytes ByteSize `yaml:"max-download-bytes"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	dirs := DefaultDirs()
	return Config{
		WorkingDir: dirs.Work,
		CacheDir:   dirs.Cache,
		DataDir:    dirs.Data,
		Runners:    slices.Clone(addon.AllRunners),
		RunTimeout: Duration(15 * time.Minute),
		KillGrace:  Duration(3 * time.Second),
		OutputCap:  16 << 20,
		Unpack:     Unpack{MaxEntries: 10000, MaxBytes: 512 << 20, MaxDownloadBytes: 256 << 20},
		Sandbox:    "auto",
		Docker:     defaultDocker(),
		Outbound:   defaultOutbound(),
		Serve:      settings.Default(),
		Nix:        defaultNix(),
		Nspawn:     defaultNspawn(),

		SandboxLimits: defaultSandboxLimits(),
		Log:           Log{Level: "info", Format: "text"},

		OutputFilesCap: 1 << 30,
		CacheCap:       4 << 30,
		// RunDiskCap 0: cache-cap + output-files-cap + runDiskHeadroom,
		// worked out once the file is read (8 GiB with these defaults).
		RunFilesCap: 1_000_000,
	}
}

// runDiskHeadroom is what the default run-disk-cap leaves above
// cache-cap + output-files-cap: the item's files and what an addon
// writes in WORK besides.
const runDiskHeadroom = 3 << 30

// SearchPath lists where Load looks for berth.yaml when no file is given.
func SearchPath() []string {
	paths := []string{"berth.yaml"}
	if d, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(d, "berth", "berth.yaml"))
	}
	return append(paths, "/etc/berth/berth.yaml")
}

// Error names the file and key of a bad setting.
type Error struct {
	File   string // the file, or "environment"
	Key    string
	Reason string
	Err    error // the decoder's error, when there is one
}

// Unwrap returns the decoder's error (a *yamlsafe.Error for input over
// its limits), or nil.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Reason)
}

// Load returns the defaults overlaid with file (or the first file of
// SearchPath that exists, when file is empty) and then with BERTH_*
// variables from environ. It returns the file it read, or "".
func Load(file string, environ []string) (Config, string, error) {
	cfg := Default()
	explicit := file != ""
	if !explicit {
		for _, p := range SearchPath() {
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, "", fmt.Errorf("reading configuration: %w", err)
		}
		// An empty file, or one of comments only, is the defaults: the
		// decoder would zero cfg for its null document.
		if !emptyYAML(data) {
			if err := yamlsafe.Unmarshal(data, &cfg, yaml.DisallowUnknownField()); err != nil {
				return cfg, file, &Error{File: file, Reason: firstLine(yaml.FormatError(err, false, false)), Err: err}
			}
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, file, err
	}
	if file != "" {
		cfg.resolveServices(filepath.Dir(file))
	}
	if cfg.RunDiskCap == 0 {
		// The default follows the caps it must hold: a raised cache-cap
		// raises it, rather than make berth refuse its configuration.
		cfg.RunDiskCap = cfg.CacheCap + cfg.OutputFilesCap + runDiskHeadroom
	}
	if err := cfg.Validate(file); err != nil {
		return cfg, file, err
	}
	return cfg, file, nil
}

// emptyYAML reports whether data holds no YAML node: only blank lines,
// comments and document markers.
func emptyYAML(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" && line != "..." {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Validate checks values that the types alone do not.
func (c *Config) Validate(file string) error {
	if file == "" {
		file = "configuration"
	}
	bad := func(key, format string, args ...any) error {
		return &Error{File: file, Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	if len(c.Runners) == 0 {
		return bad("runners", "must name at least one of %s", strings.Join(addon.AllRunners, ", "))
	}
	for i, r := range c.Runners {
		if !slices.Contains(addon.AllRunners, r) {
			return bad(fmt.Sprintf("runners[%d]", i), "unknown runner %q (known: %s)", r, strings.Join(addon.AllRunners, ", "))
		}
	}
	if c.RunTimeout <= 0 {
		return bad("run-timeout", "must be positive")
	}
	if c.OutputCap <= 0 {
		return bad("output-cap", "must be positive")
	}
	if c.OutputFilesCap <= 0 {
		return bad("output-files-cap", "must be positive")
	}
	if c.CacheCap <= 0 {
		return bad("cache-cap", "must be positive")
	}
	if c.RunDiskCap < 0 {
		return bad("run-disk-cap", "must be positive (0 or unset: cache-cap + output-files-cap + 3GiB)")
	}
	// A run may start with a full cache and end with all its output
	// files: a cap below both would stop an addon that keeps to them.
	if need := c.CacheCap + c.OutputFilesCap; c.RunDiskCap != 0 && c.RunDiskCap < need {
		size := func(b ByteSize) string { t, _ := b.MarshalText(); return string(t) }
		return bad("run-disk-cap", "%s is less than cache-cap + output-files-cap (%s): an addon keeping to both could be stopped; raise run-disk-cap or lower them", size(c.RunDiskCap), size(need))
	}
	if c.RunFilesCap <= 0 {
		return bad("run-files-cap", "must be positive")
	}
	if c.KillGrace < 0 {
		return bad("kill-grace", "must not be negative")
	}
	for key, v := range map[string]int64{"unpack.max-entries": int64(c.Unpack.MaxEntries), "unpack.max-bytes": int64(c.Unpack.MaxBytes), "unpack.max-download-bytes": int64(c.Unpack.MaxDownloadBytes)} {
		if v < 0 {
			return bad(key, "must not be negative (0 means the default)")
		}
	}
	switch c.Sandbox {
	case "auto", "none", "nspawn", "builtin":
	default:
		return bad("sandbox", "unknown sandbox %q (known: auto, none, nspawn, builtin)", c.Sandbox)
	}
	switch c.Docker.Pull {
	case "missing", "never", "always":
	default:
		return bad("docker.pull", "%q is not one of missing, never, always", c.Docker.Pull)
	}
	if c.Docker.BuildTimeout < 0 {
		return bad("docker.build-timeout", "must not be negative")
	}
	if c.Docker.Binary == "" {
		return bad("docker.binary", "must name docker, podman or a path to either")
	}
	if err := c.Docker.RunnerConfig().Validate(); err != nil {
		return &Error{File: file, Reason: err.Error()}
	}
	if c.Nix.Binary == "" {
		return bad("nix.binary", "must name nix or a path to it")
	}
	if c.Nix.BuildTimeout < 0 {
		return bad("nix.build-timeout", "must not be negative")
	}
	if c.Nspawn.Binary == "" {
		return bad("nspawn.binary", "must name systemd-nspawn or a path to it")
	}
	if c.Builtin.Init != "" && !filepath.IsAbs(c.Builtin.Init) {
		return bad("builtin.init", "%q must be an absolute path (or empty: berth-sandbox-init next to berth)", c.Builtin.Init)
	}
	if c.SandboxLimits.Memory < 0 || c.SandboxLimits.Pids < 0 || c.SandboxLimits.CPUs < 0 {
		return bad("sandbox-limits", "limits must not be negative (0 means no limit)")
	}
	if c.SandboxLimits.CPUs > 0 && c.SandboxLimits.CPUs < 0.01 {
		// The kernel's smallest CPU quota is 1 ms per 100 ms period.
		return bad("sandbox-limits.cpus", "%g is less than the smallest quota the kernel takes, 0.01 (0 means no limit)", c.SandboxLimits.CPUs)
	}
	if c.SandboxLimits.Cgroup != "" && !filepath.IsAbs(c.SandboxLimits.Cgroup) {
		return bad("sandbox-limits.cgroup", "%q is not an absolute path (write /sys/fs/cgroup/NAME)", c.SandboxLimits.Cgroup)
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.WorkingDir == "" {
		return bad("working-dir", "must not be empty")
	}
	if err := c.Outbound.validate(file); err != nil {
		return err
	}
	if err := c.Addons.validate(bad); err != nil {
		return err
	}
	if err := c.validateServices(bad); err != nil {
		return err
	}
	for name, vars := range c.Env {
		for k, v := range vars {
			if !envVarName().MatchString(k) {
				return bad("env."+name+"."+k, "%q is not a variable name (letters, digits and '_', not starting with a digit)", k)
			}
			if v.Value != "" && v.From != "" {
				return bad("env."+name+"."+k, "set either value or from, not both")
			}
		}
	}
	return nil
}

var envVarName = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvVar is an operator-configured variable: a literal value, or the
// value of a variable of berth's own environment. In YAML a plain string
// is a literal.
type EnvVar struct {
	Value    string `yaml:"value"`
	From     string `yaml:"from"`
	Optional bool   `yaml:"optional"`
}

// UnmarshalYAML accepts a plain string as a literal value.
func (v *EnvVar) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*v = EnvVar{Value: s}
		return nil
	}
	type plain EnvVar
	return unmarshal((*plain)(v))
}

// ErrMissingEnv is wrapped when a required `from` variable is unset.
var ErrMissingEnv = errors.New("required variable is not set")

// AddonEnv resolves the variables configured for an addon name against
// berth's environment (lookup is os.LookupEnv in production): those of
// addons.configs (Docspell's joex shape and meaning), then those of env,
// which win.
func (c *Config) AddonEnv(name string, lookup func(string) (string, bool)) (map[string]string, error) {
	vars := c.Env[name]
	out := c.Addons.env(name, lookup)
	for k, v := range vars {
		if v.From == "" {
			out[k] = v.Value
			continue
		}
		val, ok := lookup(v.From)
		if !ok {
			if v.Optional {
				continue
			}
			return nil, fmt.Errorf("env.%s.%s: %w: $%s", name, k, ErrMissingEnv, v.From)
		}
		out[k] = val
	}
	return out, nil
}
