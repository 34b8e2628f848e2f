package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/output"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
)

// Defaults for zero Executor fields.
const (
	DefaultTimeout        = 15 * time.Minute
	DefaultStdoutCap      = 16 << 20
	DefaultOutputFilesCap = 1 << 30
	DefaultCacheCap       = 4 << 30
	DefaultRunDiskCap     = 8 << 30
	DefaultRunFilesCap    = 1_000_000
)

// DefaultPreference is the runner preference list when none is configured.
var DefaultPreference = []string{addon.RunnerWasm, addon.RunnerNixFlake, addon.RunnerDocker, addon.RunnerTrivial}

// Executor runs chains of addons. The zero value is not usable: Runners
// and WorkRoot must be set. An Executor may run several chains at once.
type Executor struct {
	// Runners maps a runner kind to its implementation.
	Runners map[string]runner.Runner
	// Preference is the admin's runner order; nil means DefaultPreference.
	Preference []string
	// WorkRoot holds each run's WORK and (unless a request names one)
	// OUTPUT_DIR; CacheRoot holds the cache dirs that survive runs.
	WorkRoot, CacheRoot string
	// Timeout bounds each addon's run; zero means DefaultTimeout.
	Timeout time.Duration
	// StdoutCap bounds each addon's stdout; zero means DefaultStdoutCap.
	StdoutCap int64
	// OutputFilesCap bounds the total size of a chain's output files,
	// counted as the bytes berth copies (a sparse file counts its full
	// length, since a copy of it would); over it the run fails and no
	// file is kept. Zero means DefaultOutputFilesCap.
	OutputFilesCap int64
	// CacheCap bounds the disk space (allocated blocks) one CACHE_DIR may
	// use; a cache over it after a run is emptied, with a warning in the
	// result. Zero means DefaultCacheCap.
	CacheCap int64
	// RunDiskCap bounds the disk space (allocated blocks, each inode
	// once) that WORK, OUTPUT_DIR and CACHE_DIR may hold together while
	// an addon runs, and RunFilesCap the entries they may hold: a
	// watchdog stops an addon over either, and the attempt fails. It
	// should leave room for a full cache and the output files
	// (CacheCap + OutputFilesCap) besides the item. Zero means
	// DefaultRunDiskCap and DefaultRunFilesCap.
	RunDiskCap, RunFilesCap int64
	// KillGrace is the time between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// Env returns the operator-configured variables for an addon name.
	Env func(addonName string) (map[string]string, error)
	// PathEnv is what the addon inherits from berth: PATH and locale.
	PathEnv []string
	// RequireIsolation refuses to count a pure addon's unisolated run as
	// a success: the run fails with execution-failed instead.
	RequireIsolation bool
	// UnisolatedWarning, when set, explains why process-based runs are
	// not isolated here; it is added to the warnings of every result with
	// an unisolated pure addon.
	UnisolatedWarning string
	// Stderr, when set, receives every addon's stderr live.
	Stderr io.Writer
	// BuildOutput, when set, receives the output of the builds a run
	// needs (docker build or pull, nix build) live, each line prefixed
	// with "[addon-name] " as stderr's are; runners that are not a
	// runner.Builder write none.
	BuildOutput io.Writer
	Logger      *slog.Logger
}

// Step is one addon of a chain with its user-input string.
type Step struct {
	Addon     *addon.Addon
	UserInput string
}

// Item is the item data a host passes to a run; every field is optional.
type Item struct {
	// Data is item-data.json, Args is given-data.json (raw JSON).
	Data, Args []byte
	// Pdfs and Originals are the attachments, copied into item/pdfs/<id>
	// and item/originals/<id> and listed, in this order, in
	// pdf-files.json and source-files.json.
	Pdfs, Originals []ItemFile
	// PdfsDir and OriginalsDir add every regular file of a directory,
	// sorted by name, after Pdfs and Originals, each with an id derived
	// from its name (DeriveItemID).
	OriginalsDir, PdfsDir string
}

// Request is one run configuration to execute.
type Request struct {
	// RunID identifies the run in logs, container labels and results;
	// empty means a random one.
	RunID string
	Steps []Step
	Item  *Item
	// CacheKey names the CACHE_DIR under CacheRoot; empty means the names
	// of the chain's addons.
	CacheKey string
	// OutputDir keeps the output files; empty means a directory under
	// WorkRoot that is removed after the run.
	OutputDir string
	// NoFailFast runs every addon even after one failed (the result is
	// still a failure without output).
	NoFailFast bool
	// Timeout overrides Executor.Timeout for this request.
	Timeout time.Duration
	// Env is the run's own variables, supplied by the host with the event
	// (DSC_SESSION, DSC_DOCSPELL_URL): they win over the operator's, lose
	// to the contract's, and go the way the operator's do (a private env
	// file for containers, the process environment otherwise), never into
	// argv, logs or the Result.
	Env map[string]string
}

// descriptorWarnings are the warnings of loading each addon of the chain
// (what berth accepts and Docspell would refuse, a runner not offered),
// once per addon: a difference from Docspell is said at run time too,
// not only by berth addon check.
func descriptorWarnings(steps []Step) []string {
	var out []string
	seen := map[*addon.Addon]bool{}
	for _, s := range steps {
		if seen[s.Addon] {
			continue
		}
		seen[s.Addon] = true
		for _, w := range s.Addon.Warnings {
			out = append(out, s.Addon.ID()+": "+w)
		}
	}
	return out
}

// ErrBadRequest is wrapped by errors about the request itself.
var ErrBadRequest = errors.New("bad run request")

// Run executes req. The error is non-nil only when the run could not be
// set up at all (bad request, directories not writable); every failure of
// an addon is reported in the Result.
func (e *Executor) Run(ctx context.Context, req Request) (res *Result, err error) {
	if len(req.Steps) == 0 {
		return nil, fmt.Errorf("%w: no addons to run", ErrBadRequest)
	}
	if req.RunID == "" {
		req.RunID = NewRunID()
	}
	log := e.logger().With("run", req.RunID)
	start := time.Now()

	work, lerr := e.layout(req)
	if lerr != nil {
		err = lerr
		return nil, err
	}
	defer work.cleanup(log)
	defer func() {
		if res != nil {
			res.Warnings = append(res.Warnings, e.boundCache(log, work)...)
		}
	}()

	res = &Result{RunID: req.RunID, Pure: true, Isolated: true}
	res.Warnings = append(res.Warnings, descriptorWarnings(req.Steps)...)
	res.Warnings = append(res.Warnings, work.warnings...)
	unisolated := false
	var failed *AddonResult
	for _, step := range req.Steps {
		if failed != nil && !req.NoFailFast {
			break
		}
		if err := ctx.Err(); err != nil {
			ar := AddonResult{Addon: step.Addon.ID(), Kind: ExecutionFailed, Error: "cancelled before it started: " + err.Error(), Pure: step.Addon.Pure()}
			res.Addons = append(res.Addons, ar)
			if failed == nil {
				failed = &res.Addons[len(res.Addons)-1]
			}
			break
		}
		ar := e.runStep(ctx, log, req, work, step)
		for _, at := range ar.Attempts {
			if at.Kind == Success {
				for _, w := range at.Warnings {
					res.Warnings = append(res.Warnings, ar.Addon+": output "+w)
				}
			}
		}
		for _, n := range ar.notes {
			res.Warnings = append(res.Warnings, ar.Addon+": "+n)
		}
		res.Warnings = append(res.Warnings, scrub(log, work, step.Addon.ID())...)
		res.Addons = append(res.Addons, ar)
		if ar.Kind != Success && failed == nil {
			failed = &res.Addons[len(res.Addons)-1]
		}
	}
	for _, ar := range res.Addons {
		res.Pure = res.Pure && ar.Pure
		res.Isolated = res.Isolated && ar.Isolated
		if ar.Pure && !ar.Isolated && ar.Kind != ExecutionFailed {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is pure but ran without isolation (runner %s): it could have changed the host", ar.Addon, ar.Runner))
			unisolated = true
		}
	}
	for _, ar := range res.Addons {
		if l := ar.Limits; l != nil && l.Why != "" {
			w := fmt.Sprintf("%s: limits by %s", ar.Addon, l.By)
			if len(l.Missing) > 0 {
				w += ", without " + strings.Join(l.Missing, ", ")
			}
			if !l.OOMReported {
				w += ", no OOM report"
			}
			res.Warnings = append(res.Warnings, w+": "+l.Why)
		}
	}
	if unisolated && e.UnisolatedWarning != "" {
		res.Warnings = append(res.Warnings, e.UnisolatedWarning)
	}
	res.Duration = Duration(time.Since(start))
	names, runners := make([]string, len(res.Addons)), make([]string, len(res.Addons))
	for i, ar := range res.Addons {
		names[i], runners[i] = ar.Addon, ar.Runner
	}
	res.Addon, res.Runner = strings.Join(names, ","), strings.Join(runners, ",")
	if failed != nil {
		res.Kind = failed.Kind
		res.Error = failed.Addon + ": " + strings.TrimPrefix(failed.Error, failed.Addon+": ")
		res.ExitCode, res.StderrTail = failed.ExitCode, failed.StderrTail
		// A failed chain has no effect: its output files are not kept,
		// and not even the addons that succeeded return their output.
		for i := range res.Addons {
			res.Addons[i].Output = nil
		}
		return res, nil
	}
	res.Kind = Success
	outs := make([]output.Output, 0, len(res.Addons))
	for _, ar := range res.Addons {
		if ar.Output != nil {
			outs = append(outs, *ar.Output)
		}
	}
	merged := output.Merge(outs...)
	res.Output = &merged
	files, err := listFiles(work.output)
	if err != nil {
		return nil, fmt.Errorf("listing output files: %w", err)
	}
	limit := e.OutputFilesCap
	if limit <= 0 {
		limit = DefaultOutputFilesCap
	}
	size, err := filesSize(work.output, files)
	if err == nil && size > limit {
		err = &FilesTooLargeError{Limit: limit, Size: size}
	}
	if err == nil && req.OutputDir != "" {
		// Only a successful chain hands its files over.
		err = keepOutputFiles(work.output, req.OutputDir, files, limit)
		if err != nil && !errors.As(err, new(*FilesTooLargeError)) {
			return nil, fmt.Errorf("keeping output files in %s: %w", req.OutputDir, err)
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*FilesTooLargeError](err); !ok {
			return nil, fmt.Errorf("output files: %w", err)
		}
		res.Kind, res.Error, res.Output = ExecutionFailed, err.Error(), nil
		for i := range res.Addons {
			res.Addons[i].Output = nil
		}
		return res, nil
	}
	res.OutputFiles = files
	if req.OutputDir != "" {
		res.OutputDir = req.OutputDir
	}
	return res, nil
}

// runStep runs one addon, falling back through the usable runners as the
// rules allow.
func (e *Executor) runStep(ctx context.Context, log *slog.Logger, req Request, work *workspace, step Step) (ar AddonResult) {
	a := step.Addon
	ar = AddonResult{Addon: a.ID(), Pure: a.Pure(), Attempts: []Attempt{}}
	log = log.With("addon", a.ID())
	stepStart := time.Now()
	defer func() {
		ar.Duration = Duration(time.Since(stepStart))
		if ar.Kind == Success {
			ar.StderrTail = nil // kept only to explain failures
		}
	}()

	fail := func(kind Kind, err error) AddonResult {
		ar.Kind, ar.Error = kind, err.Error()
		return ar
	}
	inv, err := e.invocation(req, work, step)
	if err != nil {
		return fail(ExecutionFailed, err)
	}
	candidates, err := runner.Select(ctx, a, e.preference(), e.Runners)
	if err != nil {
		ar.Kind, ar.Error = ExecutionFailed, err.Error()
		if nr, ok := errors.AsType[*runner.NoRunnerError](err); ok {
			// The result names the addon already.
			ar.Error = strings.TrimPrefix(ar.Error, nr.Addon+": ")
		}
		return ar
	}
	for i, r := range candidates {
		att, exit, out, prepared := e.attempt(ctx, log, req, r, inv)
		ar.Attempts = append(ar.Attempts, att)
		ar.Runner, ar.Kind, ar.Error, ar.ExitCode = att.Runner, att.Kind, att.Error, att.ExitCode
		ar.StderrTail, ar.Isolated, ar.OutOfMemory, ar.Cached = exit.StderrTail, exit.Isolated, exit.OutOfMemory, prepared.Cached
		ar.notes = prepared.Notes
		ar.Limits = exit.Limits
		if att.Kind == ExecutionFailed && len(prepared.BuildLog) > 0 && len(exit.StderrTail) == 0 {
			ar.StderrTail = prepared.BuildLog
		}
		if att.Kind == Success {
			ar.Output = out
			if e.RequireIsolation && a.Pure() && !exit.Isolated {
				return fail(ExecutionFailed, fmt.Errorf("require-isolation is set and runner %s did not isolate this pure addon; its output was discarded", r.Name()))
			}
			return ar
		}
		// An addon stopped for the disk it used would use it again under
		// another runner.
		if ctx.Err() != nil || !a.Pure() || att.Kind == DecodingError || att.overDisk || i == len(candidates)-1 {
			break
		}
		log.Info("falling back to the next runner", "runner", r.Name(), "result", att.Kind, "err", att.Error)
		// The next runner starts from the same inputs.
		if err := emptyDir(work.output); err != nil {
			return fail(ExecutionFailed, err)
		}
	}
	if len(ar.Attempts) > 1 {
		var parts []string
		for _, at := range ar.Attempts {
			parts = append(parts, fmt.Sprintf("%s: %s: %s", at.Runner, at.Kind, at.Error))
		}
		ar.Error = strings.Join(parts, "; ")
	}
	return ar
}

// attempt prepares and runs the addon with one runner.
func (e *Executor) attempt(ctx context.Context, log *slog.Logger, req Request, r runner.Runner, inv runner.Invocation) (Attempt, runner.Exit, *output.Output, runner.Prepared) {
	start := time.Now()
	att := Attempt{Runner: r.Name()}
	done := func(kind Kind, err error) {
		att.Kind = kind
		if err != nil {
			att.Error = err.Error()
		}
		att.Duration = Duration(time.Since(start))
	}
	log = log.With("runner", r.Name())

	timeout := e.Timeout
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The time limit covers the run, not the build: builds have their own.
	prepared, err := e.prepare(ctx, r, inv.Addon)
	if err != nil {
		var be *runner.BuildError
		if errors.As(err, &be) {
			prepared.BuildLog = be.Tail
		}
		done(ExecutionFailed, fmt.Errorf("preparing: %w", err))
		log.Warn("prepare failed", "err", err)
		return att, runner.Exit{}, nil, prepared
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	runCtx, watch := e.watchDisk(runCtx, log, inv.WorkDir, inv.OutputDir, inv.CacheDir)
	log.Info("running", "cached", prepared.Cached)
	exit, err := r.Run(runCtx, prepared, inv)
	overDisk := watch.stop(ctx)
	att.ExitCode = exit.Code
	switch {
	case overDisk != nil:
		// Whatever else happened, the addon wrote too much (and was
		// stopped for it, unless it ended first).
		att.overDisk = true
		done(ExecutionFailed, overDisk)
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		done(ExecutionFailed, fmt.Errorf("timed out after %s; the process tree was killed", timeout))
	case err != nil && ctx.Err() != nil:
		done(ExecutionFailed, fmt.Errorf("cancelled: %w", ctx.Err()))
	case err != nil && errors.Is(err, proc.ErrOutputTooLarge):
		done(ExecutionFailed, fmt.Errorf("stdout exceeded the cap of %d bytes; raise output-cap or write large results to OUTPUT_DIR", inv.StdoutCap))
	case err != nil:
		done(ExecutionFailed, err)
	case exit.OutOfMemory:
		done(ExecutionFailed, fmt.Errorf("killed: out of memory (exit code %d)", exit.Code))
	case exit.Code != 0:
		done(ExecutionError, fmt.Errorf("exited with code %d", exit.Code))
	default:
		if !inv.Addon.Options.CollectOutput {
			done(Success, nil)
			return att, exit, nil, prepared
		}
		out, err := output.Decode(exit.Stdout)
		if err == nil {
			att.Warnings, err = resolveOutputFiles(&out, inv.OutputDir, []string{inv.OutputDir, runner.ContainerPaths.Output})
		}
		if err != nil {
			att.Warnings = nil
			done(DecodingError, err)
			return att, exit, nil, prepared
		}
		done(Success, nil)
		log.Info("finished", "result", att.Kind, "duration", time.Duration(att.Duration))
		return att, exit, &out, prepared
	}
	log.Info("finished", "result", att.Kind, "exit", exit.Code, "err", att.Error)
	return att, exit, nil, prepared
}

func (e *Executor) invocation(req Request, work *workspace, step Step) (runner.Invocation, error) {
	a := step.Addon
	addonDir := filepath.Join(work.dir, "addons", a.ID())
	if err := placeInputs(work.dir, step); err != nil {
		return runner.Invocation{}, err
	}
	var env map[string]string
	if e.Env != nil {
		var err error
		if env, err = e.Env(a.Meta.Name); err != nil {
			return runner.Invocation{}, fmt.Errorf("environment for %s: %w", a.Meta.Name, err)
		}
	}
	if len(req.Env) > 0 {
		merged := make(map[string]string, len(env)+len(req.Env))
		maps.Copy(merged, env)
		maps.Copy(merged, req.Env)
		env = merged
	}
	cap := e.StdoutCap
	if cap <= 0 {
		cap = DefaultStdoutCap
	}
	return runner.Invocation{
		RunID:     req.RunID,
		Addon:     a,
		WorkDir:   work.dir,
		AddonDir:  addonDir,
		OutputDir: work.output,
		CacheDir:  work.cache,
		HasItem:   req.Item != nil,
		Env:       env,
		PathEnv:   e.pathEnv(),
		StdoutCap: cap,
		KillGrace: e.KillGrace,
		Stderr:    e.Stderr,
		Logger:    e.logger(),
	}, nil
}

func (e *Executor) preference() []string {
	if len(e.Preference) > 0 {
		return e.Preference
	}
	return DefaultPreference
}

func (e *Executor) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Executor) pathEnv() []string {
	if e.PathEnv != nil {
		return e.PathEnv
	}
	return HostPathEnv()
}

// HostPathEnv returns PATH and the locale variables of berth's own
// environment: all an addon inherits from the host.
func HostPathEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	if !slices.ContainsFunc(out, func(s string) bool { return strings.HasPrefix(s, "PATH=") }) {
		out = append(out, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return out
}

// NewRunID returns a random run id.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// prepare builds (or finds) what r needs, sending the build's output to
// BuildOutput when r can show it.
func (e *Executor) prepare(ctx context.Context, r runner.Runner, a *addon.Addon) (runner.Prepared, error) {
	b, ok := r.(runner.Builder)
	if !ok || e.BuildOutput == nil {
		return r.Prepare(ctx, a)
	}
	pw := &prefixWriter{w: e.BuildOutput, prefix: []byte("[" + a.Meta.Name + "] ")}
	p, err := b.Build(ctx, a, pw)
	pw.flush()
	return p, err
}

// prefixWriter writes each line of what it is given to w with prefix in
// front, as one Write per line.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  []byte
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			break
		}
		line := append(append(append([]byte{}, p.prefix...), p.partial...), b[:i+1]...)
		p.partial = p.partial[:0]
		_, _ = p.w.Write(line)
		b = b[i+1:]
	}
	return n, nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		_, _ = p.w.Write(append(append(append([]byte{}, p.prefix...), p.partial...), '\n'))
		p.partial = nil
	}
}
