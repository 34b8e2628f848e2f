package config

import (
	"path/filepath"

	"github.com/berth-dev/berth/runner/nixflake"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/sandbox/nspawn"
)

// SandboxLimits bound each run in the nspawn and builtin sandboxes.
type SandboxLimits struct {
	Memory ByteSize `yaml:"memory"`
	Pids   int64    `yaml:"pids"`
	CPUs   float64  `yaml:"cpus"`
	// Cgroup is a cgroup v2 group prepared for berth's runs (writable by
	// berth's user, controllers enabled in its parent); empty: below
	// berth's own cgroup.
	Cgroup string `yaml:"cgroup"`
}

// Nspawn is the systemd-nspawn sandbox's section (`nspawn:`).
type Nspawn struct {
	Binary    string   `yaml:"binary"`
	Sudo      string   `yaml:"sudo"`
	ExtraArgs []string `yaml:"extra-args"`
	Wait      Duration `yaml:"wait"`
	ReadOnly  []string `yaml:"read-only"`
}

// Builtin is berth's own sandbox's section (`builtin:`).
type Builtin struct {
	// ReadOnly are further host paths bound read-only.
	ReadOnly []string `yaml:"read-only"`
	// Init is the sandbox's init binary; empty: berth-sandbox-init next
	// to berth, else berth itself.
	Init string `yaml:"init"`
}

// Nix is the nix-flake runner's section (`nix:`).
type Nix struct {
	Binary       string   `yaml:"binary"`
	ExtraFlags   []string `yaml:"extra-flags"`
	BuildTimeout Duration `yaml:"build-timeout"`
}

func defaultSandboxLimits() SandboxLimits {
	l := sandbox.DefaultLimits()
	return SandboxLimits{Memory: ByteSize(l.MemoryBytes), Pids: l.Pids, CPUs: l.CPUs}
}

func defaultNspawn() Nspawn {
	n := nspawn.DefaultConfig()
	return Nspawn{Binary: n.Binary, Sudo: n.Sudo, ExtraArgs: n.ExtraArgs, Wait: Duration(n.Wait), ReadOnly: n.ReadOnly}
}

func defaultNix() Nix {
	n := nixflake.DefaultConfig()
	return Nix{Binary: n.Binary, ExtraFlags: n.ExtraFlags, BuildTimeout: Duration(n.BuildTimeout)}
}

// ProbeCacheFile is the file under cache-dir that remembers the sandbox
// probe. It starts with a dot: an addon's CACHE_DIR beside it is named
// after addons or a cache key, and neither can start with one (addon
// names begin with a letter or digit, the executor trims dots off keys),
// so an addon called sandbox-probe no longer shares the probe's name.
const ProbeCacheFile = ".sandbox-probe"

// SandboxConfig returns the configuration of the sandbox of the given
// kind (auto, none, nspawn, builtin).
func (c *Config) SandboxConfig(kind string) sandbox.Config {
	sc := sandbox.DefaultConfig()
	sc.Kind = kind
	sc.RequireIsolation = c.RequireIsolation
	sc.Limits = sandbox.Limits{MemoryBytes: int64(c.SandboxLimits.Memory), Pids: c.SandboxLimits.Pids, CPUs: c.SandboxLimits.CPUs, Cgroup: c.SandboxLimits.Cgroup}
	sc.Nspawn.Binary, sc.Nspawn.Sudo, sc.Nspawn.ExtraArgs = c.Nspawn.Binary, c.Nspawn.Sudo, c.Nspawn.ExtraArgs
	sc.Nspawn.Wait, sc.Nspawn.ReadOnly = c.Nspawn.Wait.Std(), c.Nspawn.ReadOnly
	sc.ReadOnly = c.Builtin.ReadOnly
	sc.InitPath = c.Builtin.Init
	sc.ProbeCache = filepath.Join(c.CacheDir, ProbeCacheFile)
	return sc
}

// NixConfig returns the nix-flake runner's configuration.
func (c *Config) NixConfig() nixflake.Config {
	return nixflake.Config{Binary: c.Nix.Binary, ExtraFlags: c.Nix.ExtraFlags, BuildTimeout: c.Nix.BuildTimeout.Std()}
}
