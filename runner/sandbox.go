package runner

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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

// Wrap implements Sandbox. The program gets a HOME of its own, the run's
// TMPDIR (on the host it runs as berth's user, whose real HOME every run
// would share), and USER and LOGNAME naming berth's user, as an addon
// Docspell runs on the host has them; the operator's variables win.
func (NoSandbox) Wrap(_ context.Context, spec proc.Spec, inv Invocation) (Wrapped, error) {
	name := HostUser()
	spec.Env = DefaultEnv(spec.Env, "HOME="+filepath.Join(inv.WorkDir, "temp"), "USER="+name, "LOGNAME="+name)
	return Wrapped{Spec: spec}, nil
}

// HostUser names berth's user, or its uid when it has no passwd entry:
// the USER and LOGNAME of a program that runs as berth's user.
func HostUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// DefaultEnv returns env with each KEY=VALUE of defaults appended whose
// KEY env does not set.
func DefaultEnv(env []string, defaults ...string) []string {
	out := slices.Clone(env)
	for _, kv := range defaults {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
			out = append(out, kv)
		}
	}
	return out
}
