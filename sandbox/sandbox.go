package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/nspawn"
)

// The sandbox kinds.
const (
	// KindAuto is builtin where the kernel allows it, else none.
	KindAuto    = "auto"
	KindNone    = "none"
	KindNspawn  = "nspawn"
	KindBuiltin = "builtin"
)

// Kinds lists every kind, for help texts and validation.
var Kinds = []string{KindAuto, KindNone, KindNspawn, KindBuiltin}

// Limits bound one sandboxed run (memory and pids through cgroups, or
// rlimits where berth may not create cgroups); zero means no limit.
type Limits struct {
	// MemoryBytes is the memory limit; over it the run is killed and the
	// result says it ran out of memory.
	MemoryBytes int64 `yaml:"memory" json:"memory"`
	// Pids bounds the processes (and threads) of a run: a fork bomb stops there.
	Pids int64 `yaml:"pids" json:"pids"`
	// CPUs is CPU time per period in CPUs (0.5 = half a core).
	CPUs float64 `yaml:"cpus" json:"cpus"`
	// Cgroup is a cgroup v2 group prepared for the runs' groups; empty:
	// below berth's own cgroup.
	Cgroup string `yaml:"cgroup" json:"cgroup"`
}

// Config selects and configures the sandbox.
type Config struct {
	// Kind is auto, none, nspawn or builtin.
	Kind string `yaml:"sandbox" json:"sandbox"`
	// RequireIsolation refuses to run a pure addon unisolated: the
	// unisolated sandboxes (none, auto's fallback) do not start it (the
	// executor also refuses the output of any unisolated pure run).
	RequireIsolation bool `yaml:"requireIsolation" json:"requireIsolation"`
	// Limits apply to nspawn and builtin runs.
	Limits Limits `yaml:"limits" json:"limits"`
	// Nspawn configures the nspawn sandbox.
	Nspawn nspawn.Config `yaml:"nspawn" json:"nspawn"`
	// ReadOnly are further host paths the builtin sandbox binds read-only.
	ReadOnly []string `yaml:"readOnly" json:"readOnly"`

	// ProbeCache is a file where the builtin sandbox remembers that it
	// works here, so short-lived processes skip the probe; empty: none.
	ProbeCache string `yaml:"-" json:"-"`
	// InitPath is the builtin sandbox's init binary (and nspawn's cgroup
	// helper); empty: berth-sandbox-init next to this binary, else this
	// binary, whose main must then call builtin.Init.
	InitPath string       `yaml:"-" json:"-"`
	Logger   *slog.Logger `yaml:"-" json:"-"`
}

// DefaultLimits suit document-processing addons and stop runaway ones.
func DefaultLimits() Limits {
	return Limits{MemoryBytes: 2 << 30, Pids: 1024}
}

// DefaultConfig is what berth uses without configuration.
func DefaultConfig() Config {
	return Config{Kind: KindAuto, Limits: DefaultLimits(), Nspawn: nspawn.DefaultConfig()}
}

// New builds the sandbox cfg.Kind names. It does not check that the
// sandbox works here: Available does (berth doctor shows it). KindAuto
// needs a probe, so New resolves it with context.Background; call
// Default to pass a context.
func New(cfg Config) (runner.Sandbox, error) {
	switch cfg.Kind {
	case KindNone:
		if cfg.RequireIsolation {
			return &Unisolated{Reason: noneWarning, RequireIsolation: true}, nil
		}
		return runner.NoSandbox{}, nil
	case KindNspawn:
		n := cfg.Nspawn
		n.Limits = cfg.Limits.internal()
		n.InitPath = cfg.InitPath
		n.Logger = cfg.Logger
		return nspawn.New(n), nil
	case KindBuiltin:
		return builtin.New(builtin.Config{
			Limits:     cfg.Limits.internal(),
			ReadOnly:   cfg.ReadOnly,
			InitPath:   cfg.InitPath,
			Logger:     cfg.Logger,
			ProbeCache: cfg.ProbeCache,
		}), nil
	case KindAuto, "":
		return Default(context.Background(), cfg), nil
	}
	return nil, fmt.Errorf("sandbox: unknown kind %q (known: auto, none, nspawn, builtin)", cfg.Kind)
}

func (l Limits) internal() builtin.Limits {
	return builtin.Limits{MemoryBytes: l.MemoryBytes, Pids: l.Pids, CPUs: l.CPUs, Parent: l.Cgroup}
}

// Unisolated is the sandbox Default falls back to: it runs on the host
// (as runner.NoSandbox) and says why the builtin sandbox could not be
// used, for the run result's warning.
type Unisolated struct {
	runner.NoSandbox
	// Reason is why berth runs addons unisolated here.
	Reason string
	// RequireIsolation makes Wrap refuse pure addons, so that they never
	// start on the host (impure ones still run).
	RequireIsolation bool
}

// ErrIsolationRequired is wrapped when require-isolation keeps a pure
// addon from running unisolated.
var ErrIsolationRequired = errors.New("require-isolation is set and no sandbox isolates here: the pure addon was not started")

// Wrap implements runner.Sandbox.
func (u *Unisolated) Wrap(ctx context.Context, spec proc.Spec, inv runner.Invocation) (runner.Wrapped, error) {
	if u.RequireIsolation && inv.Addon != nil && inv.Addon.Pure() {
		return runner.Wrapped{}, fmt.Errorf("%w (%s)", ErrIsolationRequired, u.Reason)
	}
	return u.NoSandbox.Wrap(ctx, spec, inv)
}

// Default returns the builtin sandbox when it works on this machine
// (one probe of a few milliseconds), else an Unisolated sandbox with
// the reason. It never fails.
func Default(ctx context.Context, cfg Config) runner.Sandbox {
	cfg.Kind = KindBuiltin
	sb, _ := New(cfg)
	if err := sb.Available(ctx); err != nil {
		return &Unisolated{Reason: fmt.Sprintf("the builtin sandbox is not usable here, addons run unisolated: %v", err), RequireIsolation: cfg.RequireIsolation}
	}
	return sb
}

// Warning returns why sb does not isolate, for the run result: the
// reason of an Unisolated fallback, a note for "none", or "".
func Warning(sb runner.Sandbox) string {
	switch s := sb.(type) {
	case *Unisolated:
		return s.Reason
	case runner.NoSandbox:
		return noneWarning
	}
	return ""
}

const noneWarning = "sandbox: none: addons run directly on the host, unisolated"

// initDetail says which init the builtin sandbox starts.
func initDetail(path string) string {
	if path == builtin.SelfInit {
		return "init: berth itself (install " + builtin.InitName + " next to berth for faster sandboxed runs)"
	}
	return "init: " + path
}

// Status is whether one sandbox kind works here, for berth doctor.
type Status struct {
	Kind string
	// Err says why the kind cannot be used, with the fix; nil if usable.
	Err error
	// Detail says more about a usable one (the builtin sandbox's init).
	Detail string
}

// Check tries every real sandbox kind (builtin, nspawn) with cfg's
// settings and reports which work here and why the others do not.
func Check(ctx context.Context, cfg Config) []Status {
	var out []Status
	for _, kind := range []string{KindBuiltin, KindNspawn} {
		c := cfg
		c.Kind = kind
		sb, err := New(c)
		if err == nil {
			err = sb.Available(ctx)
		}
		st := Status{Kind: kind, Err: err}
		if b, ok := sb.(*builtin.Sandbox); ok && err == nil {
			st.Detail = initDetail(b.InitPath())
		}
		out = append(out, st)
	}
	return out
}
