package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/berth-dev/berth/internal/lazyregexp"
	"github.com/berth-dev/berth/internal/yamlsafe"
)

// Backends berth can drive.
const (
	BackendDocker = "docker"
	BackendPodman = "podman"
)

// File is a parsed, defaulted and validated services file.
type File struct {
	// Path is where the file was read from ("" when parsed from bytes).
	Path string `json:"-"`
	// Backend is "docker" or "podman"; default "podman", as in NixOS for
	// stateVersion >= 22.05.
	Backend string `json:"backend"`
	// Project, when set, is the project berth uses for this file when
	// neither --project nor $BERTH_SERVICES_PROJECT names one (a berth
	// addition: NixOS has no such option).
	Project    string                `json:"project,omitempty"`
	Containers map[string]*Container `json:"containers"`
	// Networks and Volumes are declared engine networks and named volumes
	// (Compose's top-level keys, Quadlet's .network/.volume units): a
	// container's pre-start creates the ones it uses when missing.
	Networks map[string]*Network `json:"networks,omitempty"`
	Volumes  map[string]*Volume  `json:"volumes,omitempty"`

	// projectSet: the file has a project: key (an empty one is refused).
	projectSet bool
}

// Network is a declared network: `network create [--driver D]
// [--internal] [--label K=V] [--opt K=V] NAME`.
type Network struct {
	Driver   string            `json:"driver,omitempty" yaml:"driver"`
	Internal bool              `json:"internal,omitempty" yaml:"internal"`
	Labels   map[string]string `json:"labels,omitempty" yaml:"labels"`
	Options  map[string]string `json:"options,omitempty" yaml:"options"`
}

// Volume is a declared named volume: `volume create [--driver D]
// [--label K=V] [--opt K=V] NAME`.
type Volume struct {
	Driver  string            `json:"driver,omitempty" yaml:"driver"`
	Labels  map[string]string `json:"labels,omitempty" yaml:"labels"`
	Options map[string]string `json:"options,omitempty" yaml:"options"`
}

// UsedNetworks returns the declared networks container name joins, in
// its order.
func (f *File) UsedNetworks(name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range f.Containers[name].Networks {
		if _, ok := f.Networks[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// UsedVolumes returns the declared volumes container name mounts (a
// volumes entry VOLUME:PATH[:OPTS]), in its order.
func (f *File) UsedVolumes(name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range f.Containers[name].Volumes {
		src, _, _ := strings.Cut(v, ":")
		if _, ok := f.Volumes[src]; ok && !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
	}
	return out
}

// Names returns the container names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Containers))
	for n := range f.Containers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Login is a registry login done before the image is pulled.
type Login struct {
	Registry     *string `json:"registry"`
	Username     *string `json:"username"`
	PasswordFile *string `json:"passwordFile"`
}

// Complete reports whether all three fields are set (NixOS's isValidLogin).
func (l Login) Complete() bool {
	return l.Registry != nil && l.Username != nil && l.PasswordFile != nil
}

// Podman holds the podman-only settings; it must be nil with docker.
type Podman struct {
	// Sdnotify is conmon (default), healthy or container.
	Sdnotify string `json:"sdnotify"`
	// User runs the container (default root).
	User string `json:"user"`
}

// Backoff is the delay between restarts: Initial, doubled after each
// failure up to Max, back to Initial once a run lasted ResetAfter.
type Backoff struct {
	Initial    Duration `json:"initial"`
	Max        Duration `json:"max"`
	ResetAfter Duration `json:"resetAfter"`
}

// StartLimit: Burst unplanned exits within Interval make the service
// `failed` (no more restarts until `berth services restart NAME`).
type StartLimit struct {
	Burst    int      `json:"burst"`
	Interval Duration `json:"interval"`
}

// Container is one declared container. Field names and JSON keys are
// NixOS's; nullable NixOS options are pointers.
type Container struct {
	Image              string            `json:"image"`
	ImageFile          *string           `json:"imageFile"`
	ImageStream        *string           `json:"imageStream"`
	Login              Login             `json:"login"`
	Cmd                []string          `json:"cmd"`
	Entrypoint         *string           `json:"entrypoint"`
	Environment        map[string]string `json:"environment"`
	EnvironmentFiles   []string          `json:"environmentFiles"`
	LogDriver          string            `json:"log-driver"`
	Ports              []string          `json:"ports"`
	User               *string           `json:"user"`
	Volumes            []string          `json:"volumes"`
	Workdir            *string           `json:"workdir"`
	DependsOn          []Dependency      `json:"dependsOn"`
	Hostname           *string           `json:"hostname"`
	Labels             map[string]string `json:"labels"`
	Networks           []string          `json:"networks"`
	Capabilities       map[string]*bool  `json:"capabilities"`
	Devices            []string          `json:"devices"`
	Privileged         bool              `json:"privileged"`
	Pull               string            `json:"pull"`
	AutoRemoveOnStop   bool              `json:"autoRemoveOnStop"`
	PreRunExtraOptions []string          `json:"preRunExtraOptions"`
	ExtraOptions       []string          `json:"extraOptions"`
	AutoStart          bool              `json:"autoStart"`
	ServiceName        string            `json:"serviceName"`
	Podman             *Podman           `json:"podman"`

	// berth additions

	// PreStart commands run in order after the built-in pre-start steps;
	// one failing blocks the start.
	PreStart []Command `json:"preStart"`
	Restart  string    `json:"restart"`
	// Replace lets berth remove a container of this name that it did not
	// create (another project's, or one started by hand); without it
	// such a container blocks the start (Compose refuses too).
	Replace bool `json:"replace"`
	// StopTimeout, when set, is the container's grace between SIGTERM and
	// SIGKILL, given to the engine as `run --stop-timeout`; nil leaves it
	// to the engine (its default of 10 s, or a --stop-timeout in
	// extraOptions), as NixOS's plain `docker stop NAME` does.
	StopTimeout    *Duration  `json:"stopTimeout"`
	RestartBackoff Backoff    `json:"restartBackoff"`
	StartLimit     StartLimit `json:"startLimit"`
	// Healthcheck, when set, replaces the image's HEALTHCHECK (Compose's
	// healthcheck); nil keeps the image's own.
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	// OnUnhealthy is what happens once the check says unhealthy: none,
	// restart or stop (Quadlet's HealthOnFailure=).
	OnUnhealthy string `json:"onUnhealthy"`

	// Limits and process settings (issue 14 section 6), each one engine
	// flag; unset leaves the engine's default.
	Memory     *string  `json:"memory,omitempty"`     // --memory, e.g. 512m, 1g
	CPUs       *float64 `json:"cpus,omitempty"`       // --cpus
	Pids       *int     `json:"pids,omitempty"`       // --pids-limit (-1: unlimited)
	StopSignal *string  `json:"stopSignal,omitempty"` // --stop-signal
	Init       bool     `json:"init,omitempty"`       // --init
	ReadOnly   bool     `json:"readOnly,omitempty"`   // --read-only

	// sdnotifySet: podman.sdnotify was written in the file (not NixOS's
	// default), so berth must not change it for a health condition.
	sdnotifySet bool
}

// DependencyNames returns the names in dependsOn, in file order.
func (c *Container) DependencyNames() []string {
	out := make([]string, len(c.DependsOn))
	for i, d := range c.DependsOn {
		out[i] = d.Name
	}
	return out
}

// Conditions of a dependsOn entry: when the dependency counts as ready
// for its dependent to start (Compose's depends_on condition,
// compose-spec 05-services.md:413-419, without the service_ prefix).
const (
	// ConditionStarted is NixOS's meaning (After= + Requires=): the
	// dependency's container runs.
	ConditionStarted = "started"
	// ConditionHealthy: the dependency's container runs and its health
	// check (healthcheck or the image's HEALTHCHECK) says healthy.
	ConditionHealthy = "healthy"
	// ConditionCompleted: the dependency ran to its end with exit 0.
	ConditionCompleted = "completed-successfully"
)

// Dependency is one dependsOn entry. A plain string is {Name, started}.
type Dependency struct {
	Name      string `json:"name"`
	Condition string `json:"condition"`
}

// UnmarshalYAML accepts NAME or {name: NAME, condition: C}.
func (d *Dependency) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err == nil && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) && !isMapping(b) {
		*d = Dependency{Name: s, Condition: ConditionStarted}
		return nil
	}
	var m struct {
		Name      *string `yaml:"name"`
		Condition *string `yaml:"condition"`
	}
	if err := yaml.UnmarshalWithOptions(b, &m, yaml.DisallowUnknownField()); err != nil {
		return fmt.Errorf("a dependsOn entry is a container name or {name, condition}: %w", err)
	}
	if m.Name == nil || *m.Name == "" {
		return errors.New("dependsOn: an entry written {name, condition} needs a name")
	}
	*d = Dependency{Name: *m.Name, Condition: ConditionStarted}
	set(&d.Condition, m.Condition)
	return nil
}

// MarshalJSON writes a started dependency as its name, as NixOS does.
func (d Dependency) MarshalJSON() ([]byte, error) {
	if d.Condition == ConditionStarted || d.Condition == "" {
		return json.Marshal(d.Name)
	}
	type plain Dependency
	return json.Marshal(plain(d))
}

func isMapping(b []byte) bool {
	var m map[string]any
	return yaml.Unmarshal(b, &m) == nil && m != nil
}

// Healthcheck is Compose's healthcheck (compose-spec 05-services.md:1007-1056),
// given to the engine as its --health-* flags. Unset durations and
// retries are the engine's defaults (30s, 30s, 3, 0s).
type Healthcheck struct {
	// Test is ["CMD", argv...], ["CMD-SHELL", command] or ["NONE"]; a
	// string in the file is CMD-SHELL.
	Test        []string  `json:"test"`
	Interval    *Duration `json:"interval,omitempty"`
	Timeout     *Duration `json:"timeout,omitempty"`
	Retries     *int      `json:"retries,omitempty"`
	StartPeriod *Duration `json:"startPeriod,omitempty"`
}

// Disabled reports whether the check switches the image's HEALTHCHECK
// off (test: [NONE], or disable: true).
func (h *Healthcheck) Disabled() bool { return h != nil && len(h.Test) > 0 && h.Test[0] == "NONE" }

// The engines' defaults for an unset healthcheck field (docker run
// --help; podman run --help).
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
)

// Defaults of berth's additions.
const (
	// DefaultTimeoutStopSec is NixOS's TimeoutStopSec: how long systemd
	// waits for ExecStop before killing the unit's processes.
	DefaultTimeoutStopSec    = 120 * time.Second
	DefaultBackoffInitial    = 1 * time.Second
	DefaultBackoffMax        = 30 * time.Second
	DefaultBackoffResetAfter = 60 * time.Second
	DefaultStartLimitBurst   = 5
	DefaultStartLimitWindow  = 5 * time.Minute
)

// Command is one preStart entry: a string runs with /bin/sh -c (as a
// NixOS script line would), a list is an argv run as is.
type Command []string

// IsShell reports whether c came from a string (run with /bin/sh -c).
func (c Command) IsShell() bool { return len(c) == 3 && c[0] == "/bin/sh" && c[1] == "-c" }

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err == nil && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("-")) {
		*c = Command{"/bin/sh", "-c", s}
		return nil
	}
	var l []string
	if err := yaml.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("a command is a string (run with /bin/sh -c) or a list of strings: %w", err)
	}
	if len(l) == 0 {
		return errors.New("a command list must not be empty")
	}
	*c = l
	return nil
}

// Duration is a time.Duration written as "90s", "2m" or a number of seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds returns d in whole seconds, rounded up (engines take whole
// seconds; 0.5s must not become an immediate kill).
func (d Duration) Seconds() int {
	return int((time.Duration(d) + time.Second - 1) / time.Second)
}

// UnmarshalYAML accepts "1m30s" or seconds (90, 0.5).
func (d *Duration) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a duration is like 90s, 2m or a number of seconds: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// rawFile and rawContainer mirror File with pointers where a default
// applies, so an absent key and an explicit value can be told apart.
type rawFile struct {
	Backend    *string                  `yaml:"backend"`
	Project    *string                  `yaml:"project"`
	Containers map[string]*rawContainer `yaml:"containers"`
	Networks   map[string]*Network      `yaml:"networks"`
	Volumes    map[string]*Volume       `yaml:"volumes"`
}

type rawContainer struct {
	Image              *string           `yaml:"image"`
	ImageFile          *string           `yaml:"imageFile"`
	ImageStream        *string           `yaml:"imageStream"`
	Login              *Login            `yaml:"login"`
	Cmd                []string          `yaml:"cmd"`
	Entrypoint         *string           `yaml:"entrypoint"`
	Environment        map[string]string `yaml:"environment"`
	EnvironmentFiles   []string          `yaml:"environmentFiles"`
	LogDriver          *string           `yaml:"log-driver"`
	Ports              []string          `yaml:"ports"`
	User               *string           `yaml:"user"`
	Volumes            []string          `yaml:"volumes"`
	Workdir            *string           `yaml:"workdir"`
	DependsOn          []Dependency      `yaml:"dependsOn"`
	Hostname           *string           `yaml:"hostname"`
	Labels             map[string]string `yaml:"labels"`
	Networks           []string          `yaml:"networks"`
	Capabilities       map[string]*bool  `yaml:"capabilities"`
	Devices            []string          `yaml:"devices"`
	Privileged         *bool             `yaml:"privileged"`
	Pull               *string           `yaml:"pull"`
	AutoRemoveOnStop   *bool             `yaml:"autoRemoveOnStop"`
	PreRunExtraOptions []string          `yaml:"preRunExtraOptions"`
	ExtraOptions       []string          `yaml:"extraOptions"`
	AutoStart          *bool             `yaml:"autoStart"`
	ServiceName        *string           `yaml:"serviceName"`
	Podman             *struct {
		Sdnotify *string `yaml:"sdnotify"`
		User     *string `yaml:"user"`
	} `yaml:"podman"`

	PreStart       []Command `yaml:"preStart"`
	Restart        *string   `yaml:"restart"`
	Replace        *bool     `yaml:"replace"`
	StopTimeout    *Duration `yaml:"stopTimeout"`
	RestartBackoff *struct {
		Initial    *Duration `yaml:"initial"`
		Max        *Duration `yaml:"max"`
		ResetAfter *Duration `yaml:"resetAfter"`
	} `yaml:"restartBackoff"`
	StartLimit *struct {
		Burst    *int      `yaml:"burst"`
		Interval *Duration `yaml:"interval"`
	} `yaml:"startLimit"`
	Healthcheck *rawHealthcheck `yaml:"healthcheck"`
	OnUnhealthy *string         `yaml:"onUnhealthy"`
	Memory      *string         `yaml:"memory"`
	CPUs        *float64        `yaml:"cpus"`
	Pids        *int            `yaml:"pids"`
	StopSignal  *string         `yaml:"stopSignal"`
	Init        *bool           `yaml:"init"`
	ReadOnly    *bool           `yaml:"readOnly"`
}

type rawHealthcheck struct {
	Test        *healthTest `yaml:"test"`
	Interval    *Duration   `yaml:"interval"`
	Timeout     *Duration   `yaml:"timeout"`
	Retries     *int        `yaml:"retries"`
	StartPeriod *Duration   `yaml:"startPeriod"`
	Disable     *bool       `yaml:"disable"`
}

// healthTest is a healthcheck's test: a string is ["CMD-SHELL", s].
type healthTest []string

// UnmarshalYAML accepts a string or a list of strings.
func (t *healthTest) UnmarshalYAML(b []byte) error {
	var l []string
	if err := yaml.Unmarshal(b, &l); err == nil && l != nil {
		*t = l
		return nil
	}
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a healthcheck test is a string (run with the container's shell) or a list [CMD, ...], [CMD-SHELL, command] or [NONE]: %w", err)
	}
	*t = healthTest{"CMD-SHELL", s}
	return nil
}

// resolve turns the file's healthcheck into the engine's shape: a string
// test is CMD-SHELL, disable: true is [NONE] (compose-spec
// 05-services.md:1027-1029, 1046-1053).
func (r *rawHealthcheck) resolve() *Healthcheck {
	h := &Healthcheck{Interval: r.Interval, Timeout: r.Timeout, Retries: r.Retries, StartPeriod: r.StartPeriod}
	switch {
	case r.Disable != nil && *r.Disable:
		h.Test = []string{"NONE"}
	case r.Test != nil:
		h.Test = append([]string(nil), (*r.Test)...)
	}
	return h
}

// Load reads, defaults and validates the services file at path (YAML or
// JSON, including the output of
// `nix eval --json .#nixosConfigurations.HOST.config.virtualisation.oci-containers`).
// Relative paths in imageFile, imageStream, login.passwordFile and
// environmentFiles are taken relative to the file's directory.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading services file: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for bytes already read; path names the file in errors and
// anchors relative paths ("" = current directory).
func Parse(path string, data []byte) (*File, error) {
	var raw rawFile
	if err := yamlsafe.Unmarshal(data, &raw, yaml.DisallowUnknownField()); err != nil {
		return nil, &Error{File: path, Reason: yaml.FormatError(err, false, true)}
	}
	f := &File{Path: path, Backend: BackendPodman, Containers: map[string]*Container{}}
	if raw.Backend != nil {
		f.Backend = *raw.Backend
	}
	if raw.Project != nil {
		f.Project = *raw.Project
		f.projectSet = true
	}
	dir := filepath.Dir(path)
	if path == "" {
		dir = "."
	}
	f.Networks, f.Volumes = raw.Networks, raw.Volumes
	for n, v := range f.Networks {
		if v == nil {
			f.Networks[n] = &Network{}
		}
	}
	for n, v := range f.Volumes {
		if v == nil {
			f.Volumes[n] = &Volume{}
		}
	}
	for name, rc := range raw.Containers {
		if rc == nil {
			rc = &rawContainer{}
		}
		f.Containers[name] = rc.resolve(name, f.Backend, dir)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	f.notifyHealthy()
	return f, nil
}

// notifyHealthy gives a podman container that a dependent waits for to
// be healthy podman's --sdnotify=healthy in its unit (Quadlet's
// Notify=healthy, podman-systemd.unit.5.md:808-819), unless the file
// set sdnotify: the dependent's After= then means healthy, not started.
func (f *File) notifyHealthy() {
	for _, n := range f.Names() {
		for _, d := range f.Containers[n].DependsOn {
			dep := f.Containers[d.Name]
			if d.Condition == ConditionHealthy && dep.Podman != nil && !dep.sdnotifySet {
				dep.Podman.Sdnotify = "healthy"
			}
		}
	}
}

// WaitedFor returns how the dependents of name wait for it: whether one
// waits for it to be healthy, and whether one waits for it to complete.
func (f *File) WaitedFor(name string) (healthy, completed bool) {
	for _, n := range f.Names() {
		for _, d := range f.Containers[n].DependsOn {
			if d.Name == name {
				healthy = healthy || d.Condition == ConditionHealthy
				completed = completed || d.Condition == ConditionCompleted
			}
		}
	}
	return healthy, completed
}

func (r *rawContainer) resolve(name, backend, dir string) *Container {
	c := &Container{
		ImageFile: abs(dir, r.ImageFile), ImageStream: abs(dir, r.ImageStream),
		Cmd: r.Cmd, Entrypoint: r.Entrypoint, Environment: r.Environment,
		Ports: r.Ports, User: r.User, Volumes: r.Volumes, Workdir: r.Workdir,
		DependsOn: r.DependsOn, Hostname: r.Hostname, Labels: r.Labels, Networks: r.Networks,
		Capabilities: r.Capabilities, Devices: r.Devices,
		PreRunExtraOptions: r.PreRunExtraOptions, ExtraOptions: r.ExtraOptions,
		PreStart:  r.PreStart,
		LogDriver: "journald", Pull: "missing", AutoRemoveOnStop: true, AutoStart: true,
		ServiceName: backend + "-" + name, StopTimeout: r.StopTimeout,
		RestartBackoff: Backoff{Duration(DefaultBackoffInitial), Duration(DefaultBackoffMax), Duration(DefaultBackoffResetAfter)},
		StartLimit:     StartLimit{DefaultStartLimitBurst, Duration(DefaultStartLimitWindow)},
	}
	set(&c.Image, r.Image)
	set(&c.LogDriver, r.LogDriver)
	set(&c.Privileged, r.Privileged)
	set(&c.Pull, r.Pull)
	set(&c.AutoRemoveOnStop, r.AutoRemoveOnStop)
	set(&c.AutoStart, r.AutoStart)
	set(&c.ServiceName, r.ServiceName)
	set(&c.Replace, r.Replace)
	for _, f := range r.EnvironmentFiles {
		c.EnvironmentFiles = append(c.EnvironmentFiles, *abs(dir, &f))
	}
	if r.Login != nil {
		c.Login = *r.Login
		c.Login.PasswordFile = abs(dir, c.Login.PasswordFile)
	}
	if r.Podman != nil {
		c.Podman = &Podman{Sdnotify: "conmon", User: "root"}
		set(&c.Podman.Sdnotify, r.Podman.Sdnotify)
		set(&c.Podman.User, r.Podman.User)
		c.sdnotifySet = r.Podman.Sdnotify != nil
	} else if backend == BackendPodman {
		// NixOS: podman = mkIf (backend == "podman") {} — defaults apply.
		c.Podman = &Podman{Sdnotify: "conmon", User: "root"}
	}
	c.Restart = "on-failure"
	if c.AutoStart {
		c.Restart = "always"
	}
	set(&c.Restart, r.Restart)
	if b := r.RestartBackoff; b != nil {
		set(&c.RestartBackoff.Initial, b.Initial)
		set(&c.RestartBackoff.Max, b.Max)
		set(&c.RestartBackoff.ResetAfter, b.ResetAfter)
	}
	if l := r.StartLimit; l != nil {
		set(&c.StartLimit.Burst, l.Burst)
		set(&c.StartLimit.Interval, l.Interval)
	}
	if r.Healthcheck != nil {
		c.Healthcheck = r.Healthcheck.resolve()
	}
	c.OnUnhealthy = "none"
	set(&c.OnUnhealthy, r.OnUnhealthy)
	c.Memory, c.CPUs, c.Pids, c.StopSignal = r.Memory, r.CPUs, r.Pids, r.StopSignal
	set(&c.Init, r.Init)
	set(&c.ReadOnly, r.ReadOnly)
	return c
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func abs(dir string, p *string) *string {
	if p == nil || *p == "" || filepath.IsAbs(*p) {
		return p
	}
	v := filepath.Join(dir, *p)
	if a, err := filepath.Abs(v); err == nil {
		v = a
	}
	return &v
}

// Error is a problem in a services file, naming the container and field.
type Error struct {
	File      string
	Container string
	Field     string
	Reason    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Container != "" {
		b.WriteString("containers." + e.Container)
		if e.Field != "" {
			b.WriteString("." + e.Field)
		}
		b.WriteString(": ")
	} else if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

var nameRE = lazyregexp.New(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate checks the whole file and returns every problem found (joined),
// each an *Error naming container and field.
func (f *File) Validate() error {
	var errs []error
	bad := func(container, field, format string, args ...any) {
		errs = append(errs, &Error{File: f.Path, Container: container, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if f.Backend != BackendDocker && f.Backend != BackendPodman {
		bad("", "backend", "must be docker or podman, not %q", f.Backend)
	}
	if (f.projectSet || f.Project != "") && !nameRE().MatchString(f.Project) {
		bad("", "project", "must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (it labels the containers and names the state directory), not %q", f.Project)
	}
	for _, n := range sortedKeys(f.Networks) {
		if !nameRE().MatchString(n) {
			bad("", "networks."+n, "the name must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (it becomes the network name)")
		}
		switch n {
		case "host", "none", "bridge", "podman":
			bad("", "networks."+n, "%s is the engine's own network: use it in a container's networks without declaring it", n)
		}
	}
	for _, n := range sortedKeys(f.Volumes) {
		if !nameRE().MatchString(n) {
			bad("", "volumes."+n, "the name must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (it becomes the volume name)")
		}
	}
	for _, name := range f.Names() {
		c := f.Containers[name]
		if !nameRE().MatchString(name) {
			bad(name, "", "the name must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (it becomes the container name)")
		}
		if c.Image == "" {
			bad(name, "image", "is required")
		}
		if c.ImageFile != nil && c.ImageStream != nil {
			bad(name, "imageStream", "you can only define one of imageFile and imageStream")
		}
		// imageFile, imageStream and login.passwordFile are read when the
		// container starts (its pre-start), not here: secrets may appear
		// only at boot (agenix, sops under /run/secrets) and images be
		// built after the file is written, as on NixOS.
		if f.Backend == BackendDocker && c.Podman != nil {
			bad(name, "podman", "cannot set podman options when the backend is docker")
		}
		if c.Podman != nil && !oneOf(c.Podman.Sdnotify, "conmon", "healthy", "container") {
			bad(name, "podman.sdnotify", "must be conmon, healthy or container, not %q", c.Podman.Sdnotify)
		}
		if !oneOf(c.Pull, "always", "missing", "never", "newer") {
			bad(name, "pull", "must be always, missing, never or newer, not %q", c.Pull)
		} else if c.Pull == "newer" && f.Backend == BackendDocker {
			// docker run refuses it (exit 125) on every start.
			bad(name, "pull", "newer works only with the podman backend; docker knows always, missing and never")
		}
		if !oneOf(c.Restart, "always", "on-failure", "no") {
			bad(name, "restart", "must be always, on-failure or no, not %q", c.Restart)
		}
		l := c.Login
		if l.Registry != nil || l.Username != nil || l.PasswordFile != nil {
			switch {
			case l.Registry == nil:
				bad(name, "login.registry", "is required when login is set")
			case l.Username == nil:
				bad(name, "login.username", "is required when login is set")
			case l.PasswordFile == nil:
				bad(name, "login.passwordFile", "is required when login is set")
			}
		}
		if c.StopTimeout != nil && *c.StopTimeout < 0 {
			bad(name, "stopTimeout", "must not be negative")
		}
		if c.StopTimeout != nil && hasOption(c.ExtraOptions, "--stop-timeout") {
			bad(name, "stopTimeout", "extraOptions already sets --stop-timeout: keep one of them")
		}
		if b := c.RestartBackoff; b.Initial <= 0 || b.Max < b.Initial || b.ResetAfter < 0 {
			bad(name, "restartBackoff", "needs 0 < initial <= max and resetAfter >= 0 (got initial %s, max %s, resetAfter %s)",
				b.Initial.D(), b.Max.D(), b.ResetAfter.D())
		}
		if c.StartLimit.Burst < 1 || c.StartLimit.Interval <= 0 {
			bad(name, "startLimit", "needs burst >= 1 and interval > 0")
		}
		for i, d := range c.DependsOn {
			field := fmt.Sprintf("dependsOn[%d]", i)
			dep, ok := f.Containers[d.Name]
			if !ok {
				bad(name, field, "unknown container %q (declared: %s)", d.Name, strings.Join(f.Names(), ", "))
				continue
			}
			switch d.Condition {
			case ConditionStarted:
			case ConditionHealthy:
				if dep.Healthcheck.Disabled() {
					bad(name, field, "waits for %s to be healthy, but containers.%s.healthcheck disables the check: it would never be", d.Name, d.Name)
				}
				if dep.Podman != nil && dep.sdnotifySet && dep.Podman.Sdnotify != "healthy" {
					bad(name, field, "waits for %s to be healthy, but containers.%s.podman.sdnotify is %s: its unit would be ready before the check passes (use healthy, or leave it unset)",
						d.Name, d.Name, dep.Podman.Sdnotify)
				}
			case ConditionCompleted:
				if dep.Restart == "always" {
					bad(name, field, "waits for %s to complete successfully, but %s has restart: always (the default with autoStart) and so never completes: set its restart to on-failure or no", d.Name, d.Name)
				}
			default:
				bad(name, field+".condition", "must be %s, %s or %s, not %q", ConditionStarted, ConditionHealthy, ConditionCompleted, d.Condition)
			}
		}
		if !oneOf(c.OnUnhealthy, "none", "restart", "stop") {
			bad(name, "onUnhealthy", "must be none, restart or stop, not %q", c.OnUnhealthy)
		} else if c.OnUnhealthy != "none" && c.Healthcheck.Disabled() {
			bad(name, "onUnhealthy", "is %s, but healthcheck disables the check", c.OnUnhealthy)
		}
		if c.Memory != nil && !memoryRE().MatchString(*c.Memory) {
			bad(name, "memory", "must be a size like 512m, 1g or 1048576 (a number with an optional b, k, m or g), not %q", *c.Memory)
		}
		if c.CPUs != nil && !(*c.CPUs > 0) {
			bad(name, "cpus", "must be more than 0 (e.g. 0.5, 2), not %v", *c.CPUs)
		}
		if c.Pids != nil && *c.Pids < 1 && *c.Pids != -1 {
			bad(name, "pids", "must be at least 1, or -1 for no limit, not %d", *c.Pids)
		}
		if c.StopSignal != nil && !signalRE().MatchString(*c.StopSignal) {
			bad(name, "stopSignal", "must be a signal name or number like SIGINT, QUIT or 3, not %q", *c.StopSignal)
		}
		for _, opt := range []struct{ field, flag string }{
			{"memory", "--memory"}, {"cpus", "--cpus"}, {"pids", "--pids-limit"}, {"stopSignal", "--stop-signal"},
			{"init", "--init"}, {"readOnly", "--read-only"},
		} {
			if hasOption(c.ExtraOptions, opt.flag) && c.setField(opt.field) {
				bad(name, opt.field, "extraOptions already sets %s: keep one of them", opt.flag)
			}
		}
		if h := c.Healthcheck; h != nil {
			validateHealthcheck(h, func(field, format string, args ...any) { bad(name, "healthcheck"+field, format, args...) })
		}
	}
	if cycle := f.findCycle(); cycle != nil {
		bad(cycle[0], "dependsOn", "dependency cycle: %s", f.cycleText(cycle))
	}
	return errors.Join(errs...)
}

var (
	memoryRE = lazyregexp.New(`^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$`)
	signalRE = lazyregexp.New(`^(SIG)?[A-Z][A-Z0-9]*([+-][0-9]+)?$|^[0-9]+$`)
)

// setField reports whether one of the limit fields is set.
func (c *Container) setField(field string) bool {
	switch field {
	case "memory":
		return c.Memory != nil
	case "cpus":
		return c.CPUs != nil
	case "pids":
		return c.Pids != nil
	case "stopSignal":
		return c.StopSignal != nil
	case "init":
		return c.Init
	case "readOnly":
		return c.ReadOnly
	}
	return false
}

// validateHealthcheck checks h as the engines would (docker refuses a
// negative retry count, a duration under 1ms; a test must say CMD,
// CMD-SHELL or NONE, compose-spec 05-services.md:1027-1028).
func validateHealthcheck(h *Healthcheck, bad func(field, format string, args ...any)) {
	switch {
	case len(h.Test) == 0:
		bad(".test", "is required (without a healthcheck key the image's own HEALTHCHECK applies; disable: true switches it off)")
	case h.Test[0] == "NONE":
		if len(h.Test) > 1 {
			bad(".test", "[NONE] takes nothing after it")
		}
	case h.Test[0] == "CMD":
		if len(h.Test) < 2 || h.Test[1] == "" {
			bad(".test", "[CMD, ...] needs a program after CMD")
		}
	case h.Test[0] == "CMD-SHELL":
		if len(h.Test) != 2 || strings.TrimSpace(h.Test[1]) == "" {
			bad(".test", "[CMD-SHELL, command] takes exactly one command string")
		}
	default:
		bad(".test", "a list must start with CMD, CMD-SHELL or NONE, not %q (a string is run with the container's shell)", h.Test[0])
	}
	for _, d := range []struct {
		field string
		v     *Duration
	}{{".interval", h.Interval}, {".timeout", h.Timeout}, {".startPeriod", h.StartPeriod}} {
		if d.v != nil && d.v.D() < time.Millisecond && !(d.field == ".startPeriod" && d.v.D() == 0) {
			bad(d.field, "must be at least 1ms (got %s)", d.v.D())
		}
	}
	if h.Retries != nil && *h.Retries < 1 {
		bad(".retries", "must be at least 1 (got %d)", *h.Retries)
	}
}

// hasOption reports whether args hold flag, as "--flag" or "--flag=value".
func hasOption(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// cycleText writes a cycle as "a -> b (healthy) -> a": each arrow's
// condition when it is not started.
func (f *File) cycleText(cycle []string) string {
	var b strings.Builder
	b.WriteString(cycle[0])
	for i := 1; i < len(cycle); i++ {
		b.WriteString(" -> " + cycle[i])
		for _, d := range f.Containers[cycle[i-1]].DependsOn {
			if d.Name == cycle[i] && d.Condition != ConditionStarted {
				b.WriteString(" (" + d.Condition + ")")
				break
			}
		}
	}
	return b.String()
}

// findCycle returns one dependency cycle as a path that starts and ends
// with the same name, or nil.
func (f *File) findCycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		deps := f.Containers[n].DependencyNames()
		sort.Strings(deps)
		for _, d := range deps {
			if _, ok := f.Containers[d]; !ok {
				continue
			}
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						found = append(append([]string(nil), stack[i:]...), d)
						return true
					}
				}
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range f.Names() {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}

// Layers returns the containers grouped by dependency depth: layer 0
// depends on nothing, layer n only on earlier layers. Names are sorted
// within a layer. The file must be valid (no cycles).
func (f *File) Layers() [][]string {
	depth := map[string]int{}
	var get func(n string) int
	get = func(n string) int {
		if d, ok := depth[n]; ok {
			return d
		}
		d := 0
		for _, dep := range f.Containers[n].DependsOn {
			if x := get(dep.Name) + 1; x > d {
				d = x
			}
		}
		depth[n] = d
		return d
	}
	var layers [][]string
	for _, n := range f.Names() {
		d := get(n)
		for len(layers) <= d {
			layers = append(layers, nil)
		}
		layers[d] = append(layers[d], n)
	}
	return layers
}

// Dependents returns the containers that list name in dependsOn, sorted.
func (f *File) Dependents(name string) []string {
	var out []string
	for _, n := range f.Names() {
		for _, d := range f.Containers[n].DependsOn {
			if d.Name == name {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
