package berth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/docker"
	"github.com/berth-dev/berth/runner/trivial"
)

// Options adjust an Executor built from configuration.
type Options struct {
	// Stderr receives addons' stderr live (the CLI's -v).
	Stderr io.Writer
	Logger *slog.Logger
}

// Runners builds every runner kind berth has from cfg, keyed by name.
// Whether each is usable here is for Runner.Available to say.
func Runners(ctx context.Context, cfg config.Config) map[string]runner.Runner {
	sb := Sandbox(ctx, cfg)
	return map[string]runner.Runner{
		addon.RunnerTrivial: trivial.New(sb),
		addon.RunnerDocker:  docker.New(cfg.Docker.RunnerConfig(), docker.WithLogger(slog.Default())),
	}
}

// SandboxKinds lists the sandboxes berth has.
var SandboxKinds = []string{"none"}

// Sandbox returns the sandbox that process-based runners use: the
// configured kind, or for "auto" the best one this machine allows.
func Sandbox(ctx context.Context, cfg config.Config) runner.Sandbox {
	sb, err := NewSandbox(ctx, cfg, cfg.Sandbox)
	if err != nil {
		return unusableSandbox{kind: cfg.Sandbox, err: err}
	}
	return sb
}

// NewSandbox builds the sandbox of the given kind from cfg.
func NewSandbox(_ context.Context, cfg config.Config, kind string) (runner.Sandbox, error) {
	switch kind {
	case "none", "auto":
		return runner.NoSandbox{}, nil
	}
	return nil, fmt.Errorf("sandbox %q is not available in this build", kind)
}

// unusableSandbox stands in for a configured sandbox that could not be
// built, so that runners report why instead of running unsandboxed.
type unusableSandbox struct {
	runner.NoSandbox
	kind string
	err  error
}

func (u unusableSandbox) Name() string                    { return u.kind }
func (u unusableSandbox) Available(context.Context) error { return u.err }

// NewExecutor returns an executor for cfg.
func NewExecutor(ctx context.Context, cfg config.Config, opt Options) *executor.Executor {
	return &executor.Executor{
		Runners:          Runners(ctx, cfg),
		Preference:       cfg.Runners,
		WorkRoot:         cfg.WorkingDir,
		CacheRoot:        cfg.CacheDir,
		Timeout:          cfg.RunTimeout.Std(),
		StdoutCap:        int64(cfg.OutputCap),
		KillGrace:        cfg.KillGrace.Std(),
		Env:              func(name string) (map[string]string, error) { return cfg.AddonEnv(name, os.LookupEnv) },
		RequireIsolation: cfg.RequireIsolation,
		Stderr:           opt.Stderr,
		Logger:           opt.Logger,
	}
}

// UnpackLimits returns the zip limits of cfg.
func UnpackLimits(cfg config.Config) addon.Limits {
	return addon.Limits{
		MaxEntries:       cfg.Unpack.MaxEntries,
		MaxBytes:         int64(cfg.Unpack.MaxBytes),
		MaxDownloadBytes: int64(cfg.Unpack.MaxDownloadBytes),
	}
}
