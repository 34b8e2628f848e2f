package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/addon"
)

// Runner prepares and runs addons one way (Nomad's task drivers are the
// model: a few methods, small structs across the boundary).
type Runner interface {
	// Name is the runner kind, one of addon.AllRunners.
	Name() string
	// Available reports why the runner cannot be used on this machine
	// (binary missing, daemon down …), or nil. berth doctor prints it.
	Available(ctx context.Context) error
	// Prepare builds what the addon needs or finds it in a cache.
	Prepare(ctx context.Context, a *addon.Addon) (Prepared, error)
	// Run starts the prepared addon under the contract described by inv
	// and waits for it. A non-nil error means the program could not be
	// run to its end (execution-failed): start failure, timeout or
	// cancel (wrapping ctx.Err()), output cap (proc.ErrOutputTooLarge).
	// A program that ran and exited non-zero is Exit.Code, not an error.
	Run(ctx context.Context, p Prepared, inv Invocation) (Exit, error)
}

// Builder is a Runner whose Prepare can show its build's output as
// it is written (docker build or pull, nix build): the executor calls
// Build instead of Prepare when it has somewhere to send it.
type Builder interface {
	// Build is Prepare writing the build's output to progress.
	Build(ctx context.Context, a *addon.Addon, progress io.Writer) (Prepared, error)
}

// Prepared is what Prepare produced.
type Prepared struct {
	// Program is the executable: relative to ADDON_DIR for trivial, an
	// absolute (e.g. nix store) path for nix-flake.
	Program string
	// Image is the container image for docker.
	Image string
	// Cached is true when nothing had to be built.
	Cached bool
	// BuildLog holds the last lines of a build's output.
	BuildLog []string
	// Notes say where this preparation differs from what Docspell's
	// runner would do (the program a nix build's output runs); the
	// executor puts them in the run's warnings.
	Notes []string
}

// Invocation is one run of one addon: the host directories of the run
// and how to treat its output. Runners translate the paths to what the
// addon sees (host paths, or /mnt/... inside a container or sandbox).
type Invocation struct {
	RunID string
	Addon *addon.Addon

	// Host paths. AddonDir is WORK/addons/<name>-<version>, a copy of
	// the addon's files.
	WorkDir   string
	AddonDir  string
	OutputDir string
	CacheDir  string
	// HasItem tells whether WORK/item holds item data.
	HasItem bool

	// Env holds operator-configured variables for this addon (already
	// resolved); the contract variables win over them.
	Env map[string]string
	// PathEnv is the PATH (and locale) the addon inherits.
	PathEnv []string

	// StdoutCap bounds captured stdout; 0 means no limit.
	StdoutCap int64
	// KillGrace is the time between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// Stderr, when set, receives the addon's stderr live (berth -v).
	Stderr io.Writer
	Logger *slog.Logger
}

// Exit is how a program ended.
type Exit struct {
	Code       int
	Stdout     []byte
	StderrTail []string
	// Isolated is true when the run was sandboxed so that a pure addon
	// could not change anything but its output.
	Isolated bool
	// OutOfMemory is true when the program was killed for its memory limit.
	OutOfMemory bool
	// Limits says how the sandbox bounded the run; nil when it says
	// nothing (no sandbox, or one without limits).
	Limits *Enforcement
}

// BuildError is returned by Prepare when a build failed; Tail holds its
// last output lines.
type BuildError struct {
	Runner string
	Err    error
	Tail   []string
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("%s build failed: %v", e.Runner, e.Err)
	if len(e.Tail) > 0 {
		msg += "\n  " + strings.Join(e.Tail, "\n  ")
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

// UserInputFile is the path of the user-input file relative to WORK.
const UserInputFile = "arguments/user-input"

// Paths are the run's directories as the addon sees them.
type Paths struct {
	Work, Output, Cache string
	// Relative makes ADDON_DIR, TMPDIR and TMP_DIR relative to Work, as
	// Docspell's docker runner does.
	Relative bool
}

// ContainerPaths is the view inside docker, nspawn and the builtin sandbox.
var ContainerPaths = Paths{Work: "/mnt/work", Output: "/mnt/output", Cache: "/mnt/cache"}

// ContractEnv returns the contract variables for inv as seen through p.
// Operator variables come first so the contract ones override them.
func ContractEnv(inv Invocation, p Paths) []string {
	var env []string
	keys := make([]string, 0, len(inv.Env))
	for k := range inv.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+inv.Env[k])
	}
	env = append(env, inv.PathEnv...)
	addonDir, temp := "addons/"+inv.Addon.ID(), "temp"
	if !p.Relative {
		addonDir, temp = path.Join(p.Work, addonDir), path.Join(p.Work, temp)
	}
	env = append(env,
		"ADDON_DIR="+addonDir,
		"TMPDIR="+temp,
		"TMP_DIR="+temp,
		"OUTPUT_DIR="+p.Output,
		"CACHE_DIR="+p.Cache,
	)
	if inv.HasItem {
		// Relative to WORK, as Docspell passes them.
		env = append(env,
			"ITEM_DIR=item",
			"ITEM_DATA_JSON=item/item-data.json",
			"ITEM_ARGS_JSON=item/given-data.json",
			"ITEM_PDF_DIR=item/pdfs",
			"ITEM_ORIGINAL_DIR=item/originals",
			"ITEM_PDF_JSON=item/pdf-files.json",
			"ITEM_ORIGINAL_JSON=item/source-files.json",
		)
	}
	return env
}

// Args returns the program arguments: the descriptor's args, then the
// path of the user-input file under work.
func Args(a *addon.Addon, work string) []string {
	return append(slices.Clone(a.Args), path.Join(work, UserInputFile))
}

// ErrNoRunner is wrapped by NoRunnerError.
var ErrNoRunner = errors.New("no usable runner")

// NoRunnerError explains why no runner fits an addon.
type NoRunnerError struct {
	Addon       string
	Offered     []string          // what the addon enables
	Configured  []string          // the preference list
	Unavailable map[string]string // runner → why it cannot be used here
}

func (e *NoRunnerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v: the addon offers [%s], berth is configured for [%s]",
		e.Addon, ErrNoRunner, strings.Join(e.Offered, ", "), strings.Join(e.Configured, ", "))
	keys := make([]string, 0, len(e.Unavailable))
	for k := range e.Unavailable {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s is not usable here: %s", k, e.Unavailable[k])
	}
	return b.String()
}

func (e *NoRunnerError) Unwrap() error { return ErrNoRunner }

// Select returns, in preference order, the runners that the addon
// enables and that are available on this machine.
func Select(ctx context.Context, a *addon.Addon, preference []string, runners map[string]Runner) ([]Runner, error) {
	offered := a.Runners()
	var out []Runner
	unavailable := map[string]string{}
	for _, name := range preference {
		if !slices.Contains(offered, name) {
			continue
		}
		r, ok := runners[name]
		if !ok {
			unavailable[name] = "not built into this berth"
			continue
		}
		if err := r.Available(ctx); err != nil {
			unavailable[name] = err.Error()
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, &NoRunnerError{Addon: a.ID(), Offered: offered, Configured: preference, Unavailable: unavailable}
	}
	return out, nil
}
