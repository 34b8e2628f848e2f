package runner

import (
	"context"

	"github.com/berth-dev/berth/proc"
)

// Sandbox isolates the process of a process-based runner (trivial,
// nix-flake). Implementations live in sandbox/...; NoSandbox runs the
// program on the host.
type Sandbox interface {
	// Name is the sandbox kind: none, nspawn, builtin.
	Name() string
	// Available reports why the sandbox cannot be used here, or nil.
	Available(ctx context.Context) error
	// View is how the run's directories appear inside the sandbox.
	View(inv Invocation) Paths
	// Wrap turns spec (paths already translated with View) into the
	// isolated command.
	Wrap(ctx context.Context, spec proc.Spec, inv Invocation) (Wrapped, error)
}

// Wrapped is a command made ready to run inside a sandbox.
type Wrapped struct {
	Spec proc.Spec
	// Isolated tells whether a pure addon is kept from changing anything
	// but its output (no network, no host writes).
	Isolated bool
	// Finish, if set, is called once after the program ended, whatever
	// happened; it removes what Wrap set up and reports whether the
	// program was killed for running out of memory.
	Finish func(res proc.Result) (outOfMemory bool)
	// Limits, if set, says after Finish how the run was bounded.
	Limits func() *Enforcement
}

// NoSandbox runs programs directly on the host, with the host's view of
// the run's directories. It cannot keep a pure addon from doing harm,
// and says so: Isolated is false.
type NoSandbox struct{}

// Name implements Sandbox.
func (NoSandbox) Name() string { return "none" }

// Available implements Sandbox.
func (NoSandbox) Available(context.Context) error { return nil }

// View implements Sandbox.
func (NoSandbox) View(inv Invocation) Paths {
	return Paths{Work: inv.WorkDir, Output: inv.OutputDir, Cache: inv.CacheDir}
}

// Wrap implements Sandbox.
func (NoSandbox) Wrap(_ context.Context, spec proc.Spec, _ Invocation) (Wrapped, error) {
	return Wrapped{Spec: spec}, nil
}
