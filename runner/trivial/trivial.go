package trivial

import (
	"context"
	"fmt"
	"path"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/runner"
)

// Runner runs runner.trivial.exec inside a sandbox.
type Runner struct {
	sandbox runner.Sandbox
}

// New returns a trivial runner; a nil sandbox means runner.NoSandbox.
func New(sb runner.Sandbox) *Runner {
	if sb == nil {
		sb = runner.NoSandbox{}
	}
	return &Runner{sandbox: sb}
}

// Name implements runner.Runner.
func (r *Runner) Name() string { return addon.RunnerTrivial }

// Available implements runner.Runner: the trivial runner needs only its
// sandbox.
func (r *Runner) Available(ctx context.Context) error {
	if err := r.sandbox.Available(ctx); err != nil {
		return fmt.Errorf("sandbox %s: %w", r.sandbox.Name(), err)
	}
	return nil
}

// Prepare implements runner.Runner; there is nothing to build.
func (r *Runner) Prepare(_ context.Context, a *addon.Addon) (runner.Prepared, error) {
	if !a.Runner.Trivial.Enable {
		return runner.Prepared{}, fmt.Errorf("%s does not enable the trivial runner", a.ID())
	}
	if err := runner.InsideAddon(a.Dir, a.Runner.Trivial.Exec); err != nil {
		return runner.Prepared{}, fmt.Errorf("%s: runner.trivial.exec: %w", a.File, err)
	}
	return runner.Prepared{Program: path.Clean(a.Runner.Trivial.Exec), Cached: true}, nil
}

// Run implements runner.Runner.
func (r *Runner) Run(ctx context.Context, p runner.Prepared, inv runner.Invocation) (runner.Exit, error) {
	view := r.sandbox.View(inv)
	program := path.Join(view.Work, "addons", inv.Addon.ID(), p.Program)
	return runner.RunProcess(ctx, r.sandbox, program, inv)
}
