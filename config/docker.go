package config

import (
	"github.com/berth-dev/berth/runner/docker"
)

// Docker is the docker runner's section (`docker:`), for docker or podman.
type Docker struct {
	// Binary is docker, podman or a path to either.
	Binary string `yaml:"binary"`
	// GlobalArgs go before every subcommand (podman here: [--runtime, runc]).
	GlobalArgs []string `yaml:"global-args"`
	// Pull is the pull policy of runner.docker.image: missing, never, always.
	Pull string `yaml:"pull"`
	// BuildTimeout bounds one image build.
	BuildTimeout Duration `yaml:"build-timeout"`
	// Network is the --network of impure addons; pure ones get none.
	Network string `yaml:"network"`
	// BuildNetwork is the --network of Dockerfile builds: "" (the
	// engine's default, as Docspell), none, or a network name.
	BuildNetwork string `yaml:"build-network"`
	// User is the container user: "image" (the image's USER, the default), "" (berth's uid:gid), or any --user value.
	User string `yaml:"user"`
	// Hardening switches: cap-drop-all and no-new-privileges on by default, read-only-root off.
	CapDropAll      bool `yaml:"cap-drop-all"`
	NoNewPrivileges bool `yaml:"no-new-privileges"`
	ReadOnlyRoot    bool `yaml:"read-only-root"`
	// Default resource limits.
	Memory string `yaml:"memory"`
	CPUs   string `yaml:"cpus"`
	Pids   int    `yaml:"pids"`
	// PathMap maps prefixes of berth's paths to the daemon's view.
	PathMap map[string]string `yaml:"path-map"`
	// PerAddon overrides the limits by addon name.
	PerAddon map[string]DockerLimits `yaml:"per-addon"`
}

// DockerLimits are per-addon resource limits.
type DockerLimits struct {
	Memory string `yaml:"memory"`
	CPUs   string `yaml:"cpus"`
	Pids   int    `yaml:"pids"`
}

func defaultDocker() Docker {
	d := docker.DefaultConfig()
	return Docker{
		Binary: d.Binary, GlobalArgs: d.GlobalArgs, Pull: string(d.Pull), BuildTimeout: Duration(d.BuildTimeout),
		Network: d.Network, User: d.User, CapDropAll: d.CapDropAll, NoNewPrivileges: d.NoNewPrivileges,
		ReadOnlyRoot: d.ReadOnlyRoot, Memory: d.Memory, CPUs: d.CPUs, Pids: d.Pids,
	}
}

// RunnerConfig returns the docker runner's configuration.
func (d Docker) RunnerConfig() docker.Config {
	c := docker.Config{
		Binary: d.Binary, GlobalArgs: d.GlobalArgs, Pull: docker.PullPolicy(d.Pull), BuildTimeout: d.BuildTimeout.Std(),
		Network: d.Network, BuildNetwork: d.BuildNetwork, User: d.User, CapDropAll: d.CapDropAll, NoNewPrivileges: d.NoNewPrivileges,
		ReadOnlyRoot: d.ReadOnlyRoot, Memory: d.Memory, CPUs: d.CPUs, Pids: d.Pids, PathMap: d.PathMap,
	}
	if len(d.PerAddon) > 0 {
		c.PerAddon = map[string]docker.Limits{}
		for name, l := range d.PerAddon {
			c.PerAddon[name] = docker.Limits{Memory: l.Memory, CPUs: l.CPUs, Pids: l.Pids}
		}
	}
	return c
}
