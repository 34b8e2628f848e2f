package berth

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/docker"
	"github.com/berth-dev/berth/runner/nixflake"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/runner/wasm"
	"github.com/berth-dev/berth/sandbox"
)

// Options adjust an Executor built from configuration.
type Options struct {
	// Stderr receives addons' stderr live (the CLI's -v).
	Stderr io.Writer
	Logger *slog.Logger
}

// Runners builds every runner kind berth has from cfg, keyed by name,
// with the process-based ones in the configured sandbox (wasm needs none:
// a module sees only what the runner gives it). Whether each is
// usable here is for Runner.Available to say.
func Runners(ctx context.Context, cfg config.Config) map[string]runner.Runner {
	return runnersIn(cfg, Sandbox(ctx, cfg, slog.Default()))
}

func runnersIn(cfg config.Config, sb runner.Sandbox) map[string]runner.Runner {
	return map[string]runner.Runner{
		addon.RunnerTrivial:  trivial.New(sb),
		addon.RunnerNixFlake: nixflake.New(cfg.NixConfig(), sb),
		addon.RunnerDocker:   docker.New(cfg.Docker.RunnerConfig()),
		addon.RunnerWasm:     wasm.New(cfg.WasmConfig()),
	}
}

// SandboxKinds lists the sandboxes berth has.
var SandboxKinds = sandbox.Kinds

// Sandbox returns the sandbox that process-based runners use: the
// configured kind, or for "auto" the best one this machine allows (the
// builtin sandbox where the kernel permits, else none, with the reason
// in sandbox.Warning). A sandbox that cannot be built is returned as one
// whose Available says why, so that runners refuse to run rather than
// run unsandboxed.
func Sandbox(ctx context.Context, cfg config.Config, logger *slog.Logger) runner.Sandbox {
	sc := cfg.SandboxConfig(cfg.Sandbox)
	sc.Logger = logger
	if sc.Kind == sandbox.KindAuto {
		return sandbox.Default(ctx, sc)
	}
	sb, err := sandbox.New(sc)
	if err != nil {
		return unusableSandbox{kind: sc.Kind, err: err}
	}
	return sb
}

// unusableSandbox stands in for a configured sandbox that could not be
// built.
type unusableSandbox struct {
	runner.NoSandbox
	kind string
	err  error
}

func (u unusableSandbox) Name() string                    { return u.kind }
func (u unusableSandbox) Available(context.Context) error { return u.err }

// NewExecutor returns an executor for cfg.
func NewExecutor(ctx context.Context, cfg config.Config, opt Options) *executor.Executor {
	logger := opt.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sb := Sandbox(ctx, cfg, logger)
	ex := &executor.Executor{
		Runners:          runnersIn(cfg, sb),
		Preference:       cfg.Runners,
		WorkRoot:         cfg.WorkingDir,
		CacheRoot:        cfg.CacheDir,
		Timeout:          cfg.RunTimeout.Std(),
		StdoutCap:        int64(cfg.OutputCap),
		OutputFilesCap:   int64(cfg.OutputFilesCap),
		CacheCap:         int64(cfg.CacheCap),
		RunDiskCap:       int64(cfg.RunDiskCap),
		RunFilesCap:      int64(cfg.RunFilesCap),
		KillGrace:        cfg.KillGrace.Std(),
		Env:              func(name string) (map[string]string, error) { return cfg.AddonEnv(name, os.LookupEnv) },
		RequireIsolation: cfg.RequireIsolation,
		Stderr:           opt.Stderr,
		Logger:           logger,
	}
	ex.UnisolatedWarning = sandbox.Warning(sb)
	return ex
}

// UnpackLimits returns the zip limits of cfg.
func UnpackLimits(cfg config.Config) addon.Limits {
	return addon.Limits{
		MaxEntries:       cfg.Unpack.MaxEntries,
		MaxBytes:         int64(cfg.Unpack.MaxBytes),
		MaxDownloadBytes: int64(cfg.Unpack.MaxDownloadBytes),
		DownloadTimeout:  cfg.Outbound.DownloadTimeout.Std(),
	}
}
