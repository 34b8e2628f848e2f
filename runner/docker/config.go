package docker

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PullPolicy says when an image named by runner.docker.image is pulled.
type PullPolicy string

// The pull policies.
const (
	// PullMissing pulls only when the image is not present locally.
	PullMissing PullPolicy = "missing"
	// PullNever never pulls: the image must have been loaded or built.
	PullNever PullPolicy = "never"
	// PullAlways pulls before every prepare, to pick up a moved tag.
	PullAlways PullPolicy = "always"
)

// Special values of Config.User.
const (
	// UserBerth (the empty string) runs containers as the uid:gid of the
	// berth process, so output files belong to berth, not to root.
	UserBerth = ""
	// UserImage, the default, passes no --user: the image's USER applies,
	// as in Docspell, and berth makes the run's directories writable for
	// that user.
	UserImage = "image"
)

// Config is the docker runner's part of berth.yaml (under `docker:`); its
// keys are spelled as in berth.yaml (docs/configuration.md).
// Start from DefaultConfig and unmarshal over it: the hardening switches
// are plain booleans whose defaults are true, so a zero Config is NOT
// the default one.
type Config struct {
	// Binary is "docker", "podman" or a path to either.
	Binary string `yaml:"binary" json:"binary"`
	// GlobalArgs go before every subcommand. Podman on hosts with hybrid
	// cgroups (v1 + v2) needs ["--runtime", "runc"]: crun refuses them.
	GlobalArgs []string `yaml:"global-args" json:"global-args"`
	// Pull is the pull policy for runner.docker.image.
	Pull PullPolicy `yaml:"pull" json:"pull"`
	// BuildTimeout bounds one image build.
	BuildTimeout time.Duration `yaml:"build-timeout" json:"build-timeout"`
	// Network is the --network of impure addons ("host", as Docspell, so
	// an addon can reach a host application on localhost; or "bridge", or
	// a named network). Pure addons always get "none".
	Network string `yaml:"network" json:"network"`
	// BuildNetwork is the --network of Dockerfile builds: "" is the
	// engine's default (its bridge: builds have the network, as in
	// Docspell, whose docs say building an addon needs the internet),
	// "none" builds without any network (then a Dockerfile that
	// downloads fails), or any network name the engine knows.
	BuildNetwork string `yaml:"build-network" json:"build-network"`
	// User is the container's --user: UserBerth (""), UserImage
	// ("image"), or anything docker accepts ("1234:1234", "nobody").
	User string `yaml:"user" json:"user"`
	// CapDropAll passes --cap-drop ALL.
	CapDropAll bool `yaml:"cap-drop-all" json:"cap-drop-all"`
	// NoNewPrivileges passes --security-opt no-new-privileges.
	NoNewPrivileges bool `yaml:"no-new-privileges" json:"no-new-privileges"`
	// ReadOnlyRoot passes --read-only, a tmpfs on /tmp and one on the
	// image user's HOME.
	ReadOnlyRoot bool `yaml:"read-only-root" json:"read-only-root"`
	// Memory, CPUs and Pids are the default limits ("1g", "1.5", 256).
	// An empty string, "0" or a Pids below 1 sets no limit.
	Memory string `yaml:"memory" json:"memory"`
	CPUs   string `yaml:"cpus" json:"cpus"`
	Pids   int    `yaml:"pids" json:"pids"`
	// PathMap maps a prefix of berth's view of the file system to the
	// daemon's view of the same files, for berth running in a container
	// that talks to the host's daemon: {"/data": "/srv/berth/data"}. The
	// longest matching prefix wins. berth doctor proves the mapping.
	PathMap map[string]string `yaml:"path-map" json:"path-map"`
	// PerAddon overrides the limits for an addon, by meta.name.
	PerAddon map[string]Limits `yaml:"per-addon" json:"per-addon"`
}

// Limits are per-addon overrides of the resource limits. A zero field
// keeps the configured default; "0" (Memory, CPUs) or a negative Pids
// lifts the limit for that addon.
type Limits struct {
	Memory string `yaml:"memory" json:"memory"`
	CPUs   string `yaml:"cpus" json:"cpus"`
	Pids   int    `yaml:"pids" json:"pids"`
}

// Defaults of DefaultConfig.
const (
	DefaultBinary       = "docker"
	DefaultBuildTimeout = 15 * time.Minute
	DefaultNetwork      = "host"
	// DefaultMemory leaves room for OCR and speech-to-text addons, which
	// take several GiB; Docspell sets no limit at all.
	DefaultMemory = "8g"
	// DefaultCPUs sets no CPU limit (as Docspell): a quota only slows an
	// addon down, it protects nothing a pure addon could reach.
	DefaultCPUs = ""
	// DefaultPids stops a fork bomb; a JVM with large thread pools stays
	// far below it.
	DefaultPids = 4096
)

// DefaultConfig is the configuration berth uses when berth.yaml says
// nothing: docker, pull missing images, 15 minute builds, host network for
// impure addons, the image's own USER (as Docspell), no capabilities, no
// privilege gain, a writable root file system (HOME and /tmp work as in
// the image), 8 GiB of memory and 4096 processes per container, no CPU
// quota, no path mapping.
func DefaultConfig() Config {
	return Config{
		Binary:          DefaultBinary,
		Pull:            PullMissing,
		BuildTimeout:    DefaultBuildTimeout,
		Network:         DefaultNetwork,
		User:            UserImage,
		CapDropAll:      true,
		NoNewPrivileges: true,
		ReadOnlyRoot:    false,
		Memory:          DefaultMemory,
		CPUs:            DefaultCPUs,
		Pids:            DefaultPids,
	}
}

// Validate reports the first field that cannot work, naming it as it is
// spelled in berth.yaml.
func (c Config) Validate() error {
	switch c.Pull {
	case PullMissing, PullNever, PullAlways, "":
	default:
		return fmt.Errorf("docker.pull: %q is not one of missing, never, always", c.Pull)
	}
	if c.BuildTimeout < 0 {
		return fmt.Errorf("docker.build-timeout: %v must not be negative", c.BuildTimeout)
	}
	if n := c.BuildNetwork; n != "" && (strings.HasPrefix(n, "-") || strings.ContainsAny(n, " \t\n\r,=")) {
		return fmt.Errorf("docker.build-network: %q is not a network name such as none, host or bridge", n)
	}
	if err := validLimits("docker", Limits{Memory: c.Memory, CPUs: c.CPUs}); err != nil {
		return err
	}
	for name, l := range c.PerAddon {
		if err := validLimits("docker.per-addon."+name, l); err != nil {
			return err
		}
	}
	for from, to := range c.PathMap {
		if !path.IsAbs(from) || !path.IsAbs(to) {
			return fmt.Errorf("docker.path-map: %q: %q: both prefixes must be absolute paths", from, to)
		}
	}
	return nil
}

func validLimits(field string, l Limits) error {
	if l.CPUs != "" {
		if f, err := strconv.ParseFloat(l.CPUs, 64); err != nil || f < 0 {
			return fmt.Errorf("%s.cpus: %q is not a number of CPUs such as 1 or 0.5", field, l.CPUs)
		}
	}
	if l.Memory != "" && strings.ContainsAny(l.Memory, " \t=") {
		return fmt.Errorf("%s.memory: %q is not a size such as 512m or 2g", field, l.Memory)
	}
	return nil
}

// withDefaults fills the fields whose zero value cannot be meant.
func (c Config) withDefaults() Config {
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if c.Pull == "" {
		c.Pull = PullMissing
	}
	if c.BuildTimeout == 0 {
		c.BuildTimeout = DefaultBuildTimeout
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	return c
}

// limitsFor returns the effective limits of an addon.
func (c Config) limitsFor(name string) Limits {
	l := Limits{Memory: c.Memory, CPUs: c.CPUs, Pids: c.Pids}
	if o, ok := c.PerAddon[name]; ok {
		if o.Memory != "" {
			l.Memory = o.Memory
		}
		if o.CPUs != "" {
			l.CPUs = o.CPUs
		}
		if o.Pids != 0 {
			l.Pids = o.Pids
		}
	}
	return l
}

// user returns the --user value, "" for none.
func (c Config) user() string {
	switch c.User {
	case UserBerth:
		return strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid())
	case UserImage:
		return ""
	}
	return c.User
}

// DaemonPath translates a path as berth sees it into the path the engine
// daemon sees, by the longest PathMap prefix that matches at a path
// element boundary; unmatched paths are returned cleaned, unchanged.
func (c Config) DaemonPath(p string) string {
	p = filepath.Clean(p)
	prefixes := make([]string, 0, len(c.PathMap))
	for from := range c.PathMap {
		prefixes = append(prefixes, from)
	}
	// Longest first; ties cannot happen in a map.
	slices.SortFunc(prefixes, func(a, b string) int { return len(b) - len(a) })
	for _, from := range prefixes {
		f := filepath.Clean(from)
		if p == f {
			return filepath.Clean(c.PathMap[from])
		}
		if rest, ok := strings.CutPrefix(p, strings.TrimSuffix(f, "/")+"/"); ok {
			return filepath.Join(c.PathMap[from], rest)
		}
	}
	return p
}
