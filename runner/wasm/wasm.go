package wasm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
)

// Config configures the wasm runner.
type Config struct {
	// CacheDir holds wazero's compilation cache, shared by every berth
	// process using it; "" keeps compiled code in memory only.
	CacheDir string
	// MemoryBytes bounds a module's linear memory; 0 leaves wasm's own
	// limit of 4 GiB.
	MemoryBytes int64
	Logger      *slog.Logger
}

// errOverCap is what a module's write past the output cap gets.
var errOverCap = proc.ErrOutputTooLarge

// maxCompiled bounds how many compiled modules a Runner keeps in memory;
// the compilation cache on disk keeps the rest.
const maxCompiled = 16

// Runner runs runner.wasm.module with wazero. A Runner holds one wazero
// runtime for all its runs; Close releases it.
type Runner struct {
	cfg Config

	once    sync.Once
	rt      wazero.Runtime
	initErr error

	mu       sync.Mutex
	compiled map[[32]byte]*compiledEntry
	tick     uint64
	// compiles counts real compilations (not cache hits), for tests.
	compiles int
}

type compiledEntry struct {
	// ready is closed once mod or err is set.
	ready    chan struct{}
	mod      wazero.CompiledModule
	err      error
	users    int
	lastUsed uint64
}

// New returns a wasm runner.
func New(cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{cfg: cfg, compiled: map[[32]byte]*compiledEntry{}}
}

// Name implements runner.Runner.
func (r *Runner) Name() string { return addon.RunnerWasm }

// runtime builds the wazero runtime once: compiled code cached under
// CacheDir, every module closed as soon as its context is done, WASI
// preview1 as the only host module.
func (r *Runner) runtime() (wazero.Runtime, error) {
	r.once.Do(func() {
		cache := wazero.NewCompilationCache()
		if r.cfg.CacheDir != "" {
			if err := os.MkdirAll(r.cfg.CacheDir, 0o700); err != nil {
				r.initErr = fmt.Errorf("compilation cache: %w", err)
				return
			}
			c, err := wazero.NewCompilationCacheWithDir(r.cfg.CacheDir)
			if err != nil {
				r.initErr = fmt.Errorf("compilation cache %s: %w", r.cfg.CacheDir, err)
				return
			}
			cache = c
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCloseOnContextDone(true).
			WithCompilationCache(cache))
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
			_ = rt.Close(ctx)
			r.initErr = fmt.Errorf("instantiating WASI: %w", err)
			return
		}
		r.rt = rt
	})
	return r.rt, r.initErr
}

// Close releases the runtime and every compiled module; the runner
// cannot be used afterwards.
func (r *Runner) Close(ctx context.Context) error {
	r.once.Do(func() { r.initErr = errors.New("the wasm runner was closed") })
	if r.rt == nil {
		return nil
	}
	return r.rt.Close(ctx)
}

// Available implements runner.Runner: wazero is pure Go and built in, so
// only an unusable compilation cache directory stops it.
func (r *Runner) Available(context.Context) error {
	_, err := r.runtime()
	return err
}

// Version names the WebAssembly runtime, for berth doctor.
func (r *Runner) Version(context.Context) (string, error) { return "wazero " + wazeroVersion(), nil }

// Prepare implements runner.Runner: it compiles the module, or finds it
// compiled in memory or in the compilation cache (Cached).
func (r *Runner) Prepare(ctx context.Context, a *addon.Addon) (runner.Prepared, error) {
	if !slices.Contains(a.Runners(), addon.RunnerWasm) {
		return runner.Prepared{}, fmt.Errorf("%s does not enable the wasm runner", a.ID())
	}
	module := path.Clean(a.Runner.Wasm.Module)
	data, err := readModule(a.Dir, module)
	if err != nil {
		return runner.Prepared{}, fmt.Errorf("%s: runner.wasm.module: %w", a.File, err)
	}
	_, cached, release, err := r.compile(ctx, module, data)
	if err != nil {
		return runner.Prepared{}, err
	}
	release()
	return runner.Prepared{Program: module, Cached: cached}, nil
}

// readModule reads module through an os.Root of dir, so that a symlink
// cannot lead out of the addon.
func readModule(dir, module string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(module))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%q does not exist in the addon; build it first (for Go: GOOS=wasip1 GOARCH=wasm go build -o %s)", module, module)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", module)
	}
	tooLarge := fmt.Errorf("%q is larger than %d MiB, more than berth compiles", module, MaxModuleBytes>>20)
	if fi.Size() > MaxModuleBytes {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxModuleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxModuleBytes {
		return nil, tooLarge // it grew while read
	}
	return data, nil
}

// MaxModuleBytes bounds the size of a module berth reads and compiles
// (Go's own modules are a few MiB).
const MaxModuleBytes = 256 << 20

// compile returns the compiled module for data, compiling it (or loading
// it from the compilation cache) if this runner has not yet. cached is
// true when no compilation happened. release must be called when the
// module is no longer used. Modules compile one at a time each but side
// by side: a long compilation holds up only the runs of that module,
// and those stop waiting when their context is done.
func (r *Runner) compile(ctx context.Context, module string, data []byte) (wazero.CompiledModule, bool, func(), error) {
	rt, err := r.runtime()
	if err != nil {
		return nil, false, nil, err
	}
	key := sha256.Sum256(data)
	for {
		r.mu.Lock()
		r.tick++
		e, found := r.compiled[key]
		if !found {
			e = &compiledEntry{ready: make(chan struct{})}
			r.compiled[key] = e
		}
		// A user already: evict leaves the entry alone while it compiles.
		e.users++
		e.lastUsed = r.tick
		r.mu.Unlock()
		var once sync.Once
		release := func() {
			once.Do(func() {
				r.mu.Lock()
				defer r.mu.Unlock()
				e.users--
			})
		}
		if !found {
			var fresh bool
			e.mod, fresh, e.err = r.build(ctx, rt, module, data)
			r.mu.Lock()
			if e.err != nil {
				delete(r.compiled, key)
			} else {
				if fresh {
					r.compiles++
				}
				r.evict(ctx)
			}
			r.mu.Unlock()
			close(e.ready)
			if e.err != nil {
				release()
				return nil, false, nil, e.err
			}
			return e.mod, !fresh, release, nil
		}
		select {
		case <-e.ready:
		case <-ctx.Done():
			release()
			return nil, false, nil, ctx.Err()
		}
		if e.err == nil {
			return e.mod, true, release, nil
		}
		release()
		// The compilation was cut short by its own run's context: this
		// run compiles again.
		if (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return nil, false, nil, e.err
	}
}

// build compiles data, from the compilation cache when it has it; fresh
// is true when it did not.
func (r *Runner) build(ctx context.Context, rt wazero.Runtime, module string, data []byte) (cm wazero.CompiledModule, fresh bool, err error) {
	limit := uint64(r.cfg.MemoryBytes)
	if limit == 0 {
		limit = 4 << 30
	}
	bounded, err := limitTables(module, data, limit)
	if err != nil {
		return nil, false, &runner.BuildError{Runner: addon.RunnerWasm, Err: err}
	}
	before := cacheEntries(r.cfg.CacheDir)
	cm, err = rt.CompileModule(ctx, bounded)
	if err != nil && r.cfg.CacheDir != "" && strings.HasPrefix(err.Error(), "compilationcache:") {
		// wazero checks what it reads from the cache (a header and a
		// checksum) but reports a bad entry rather than compiling
		// again; its file names are its own, so drop every entry.
		r.cfg.Logger.Warn("dropping a corrupt wasm compilation cache", "dir", r.cfg.CacheDir, "module", module, "err", err)
		dropCache(r.cfg.CacheDir)
		before = 0
		cm, err = rt.CompileModule(ctx, bounded)
	}
	if err != nil {
		return nil, false, &runner.BuildError{Runner: addon.RunnerWasm, Err: fmt.Errorf("compiling %s: %w", module, err)}
	}
	if err := checkCommand(cm, module, r.cfg.MemoryBytes); err != nil {
		_ = cm.Close(ctx)
		return nil, false, &runner.BuildError{Runner: addon.RunnerWasm, Err: err}
	}
	// The compilation cache wrote an entry unless it had one: with a
	// cache that already holds entries, no new one means a hit (another
	// module compiling at the same time can blur this; it is only
	// reported).
	after := cacheEntries(r.cfg.CacheDir)
	return cm, !(after > 0 && after == before), nil
}

// evict closes the least recently used compiled modules no run is using
// beyond maxCompiled; r.mu is held.
func (r *Runner) evict(ctx context.Context) {
	for len(r.compiled) > maxCompiled {
		var oldest [32]byte
		var found *compiledEntry
		for k, e := range r.compiled {
			if e.users == 0 && (found == nil || e.lastUsed < found.lastUsed) {
				oldest, found = k, e
			}
		}
		if found == nil {
			return
		}
		_ = found.mod.Close(ctx)
		delete(r.compiled, oldest)
	}
}

// dropCache removes the files of the compilation cache, keeping its
// directories (wazero creates only its files).
func dropCache(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_ = os.Remove(p)
		}
		return nil
	})
}

// cacheEntries counts the files in the compilation cache.
func cacheEntries(dir string) int {
	if dir == "" {
		return 0
	}
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// checkCommand refuses what cannot run as a WASI command within the
// memory limit, before any run starts.
func checkCommand(cm wazero.CompiledModule, module string, memLimit int64) error {
	if _, ok := cm.ExportedFunctions()["_start"]; !ok {
		return fmt.Errorf("%s exports no _start function: build it as a WASI preview1 command (for Go: GOOS=wasip1 GOARCH=wasm go build), not a library or reactor", module)
	}
	for _, imp := range cm.ImportedFunctions() {
		if mod, name, _ := imp.Import(); mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("%s imports %s from module %q: only WASI preview1 (%s) is provided", module, name, mod, wasi_snapshot_preview1.ModuleName)
		}
	}
	var mems []api.MemoryDefinition
	for _, m := range cm.ExportedMemories() {
		mems = append(mems, m)
	}
	mems = append(mems, cm.ImportedMemories()...)
	for _, m := range mems {
		if min := int64(m.Min()) * 65536; memLimit > 0 && min > memLimit {
			return fmt.Errorf("%s needs %d bytes of memory to start, over the limit of %d (sandbox-limits.memory)", module, min, memLimit)
		}
	}
	return nil
}

// Run implements runner.Runner. The module runs with WORK, OUTPUT_DIR
// and CACHE_DIR at runner.ContainerPaths and nothing else of the host; it
// is stopped as soon as ctx is done or its stdout passes the cap.
func (r *Runner) Run(ctx context.Context, p runner.Prepared, inv runner.Invocation) (runner.Exit, error) {
	exit := runner.Exit{Isolated: true}
	log := inv.Logger
	if log == nil {
		log = r.cfg.Logger
	}
	log = log.With("addon", inv.Addon.ID(), "run", inv.RunID, "runner", addon.RunnerWasm)

	// Run what the executor copied into WORK, as the other runners do.
	data, err := readModule(inv.AddonDir, p.Program)
	if err != nil {
		return exit, fmt.Errorf("runner.wasm.module: %w", err)
	}
	cm, _, release, err := r.compile(ctx, p.Program, data)
	if err != nil {
		return exit, err
	}
	defer release()

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stdout := &cappedStdout{cap: inv.StdoutCap, over: func() { stop(proc.ErrOutputTooLarge) }}
	stderr := &stderrLines{keep: proc.DefaultStderrTail, onLine: func(l string) {
		log.Debug("stderr", "line", l)
		if inv.Stderr != nil {
			fmt.Fprintf(inv.Stderr, "[%s] %s\n", inv.Addon.Meta.Name, l)
		}
	}}

	view := runner.ContainerPaths
	fsc := wazero.NewFSConfig()
	for _, m := range []struct{ host, guest string }{
		// WORK first: a module that ignores PWD starts there.
		{inv.WorkDir, view.Work}, {inv.OutputDir, view.Output}, {inv.CacheDir, view.Cache},
	} {
		cfs, err := newConfinedFS(m.host)
		if err != nil {
			return exit, fmt.Errorf("mounting %s at %s: %w", m.host, m.guest, err)
		}
		defer cfs.close()
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(cfs, m.guest)
	}

	argv := append([]string{path.Join(view.Work, "addons", inv.Addon.ID(), p.Program)}, runner.Args(inv.Addon, view.Work)...)
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: several runs of one module at once
		WithArgs(argv...).
		WithStdout(stdout).
		WithStderr(stderr).
		WithFSConfig(fsc).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sleeper(runCtx)).
		WithRandSource(rand.Reader)
	// WASI has no working directory; Go's wasip1 port and shells take PWD.
	// HOME is the run's TMPDIR, as without a sandbox, and USER/LOGNAME name
	// berth's user: a WASI module has no passwd to read them from.
	name := runner.HostUser()
	env := runner.DefaultEnv(append(runner.ContractEnv(inv, view), "PWD="+view.Work),
		"HOME="+path.Join(view.Work, "temp"), "USER="+name, "LOGNAME="+name)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}

	var mem *memoryLimit
	instCtx := runCtx
	if r.cfg.MemoryBytes > 0 {
		mem = &memoryLimit{limit: uint64(r.cfg.MemoryBytes)}
		instCtx = experimental.WithMemoryAllocator(runCtx, mem)
	}
	log.Debug("starting module", "module", p.Program)
	mod, err := r.rt.InstantiateModule(instCtx, cm, mc)
	if mod != nil {
		_ = mod.Close(context.Background())
	}
	exit.Stdout = stdout.bytes()
	oom := mem != nil && mem.refused.Load()

	var ee *sys.ExitError
	switch {
	case context.Cause(runCtx) == proc.ErrOutputTooLarge:
		exit.StderrTail = stderr.finish()
		return exit, fmt.Errorf("wasm module: %w", proc.ErrOutputTooLarge)
	case ctx.Err() != nil:
		exit.StderrTail = stderr.finish()
		return exit, fmt.Errorf("wasm module stopped: %w", ctx.Err())
	case err == nil:
		exit.Code = 0
	case errors.As(err, &ee):
		exit.Code = int(ee.ExitCode())
		exit.OutOfMemory = oom && exit.Code != 0
	default:
		// A trap (unreachable, out-of-bounds access, stack overflow …):
		// the message and wasm stack trace go to the stderr tail.
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		stderr.add(lines...)
		exit.StderrTail = stderr.finish()
		if oom {
			exit.OutOfMemory, exit.Code = true, 1
			return exit, nil
		}
		return exit, fmt.Errorf("wasm module trapped: %s", lines[0])
	}
	exit.StderrTail = stderr.finish()
	return exit, nil
}

// wazeroVersion is the wazero module version berth was built with.
func wazeroVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
