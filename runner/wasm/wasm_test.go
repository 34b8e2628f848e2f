package wasm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/runnertest"
	"github.com/berth-dev/berth/runner/wasm"
)

// sharedCache is the compilation cache of the tests' shared runner: the
// shell is compiled once per test binary, as in a long-running berth.
var (
	sharedRunner *wasm.Runner
)

func newRunner(t testing.TB, cfg wasm.Config) *wasm.Runner {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(fixtureDir, "compilation-cache")
	}
	r := wasm.New(cfg)
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// shared returns one runner for all tests that do not need their own
// configuration, so that each module is compiled once.
func shared(t testing.TB) *wasm.Runner {
	if sharedRunner == nil {
		sharedRunner = wasm.New(wasm.Config{CacheDir: filepath.Join(fixtureDir, "compilation-cache"), MemoryBytes: 512 << 20})
	}
	return sharedRunner
}

func newExecutor(t testing.TB, r runner.Runner) *executor.Executor {
	return &executor.Executor{
		Runners:    map[string]runner.Runner{r.Name(): r},
		Preference: []string{r.Name()},
		WorkRoot:   t.TempDir(),
		CacheRoot:  t.TempDir(),
		Timeout:    time.Minute,
		KillGrace:  100 * time.Millisecond,
		PathEnv:    []string{"PATH=/usr/bin:/bin"},
	}
}

func load(t testing.TB, dir string) *addon.Addon {
	t.Helper()
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func run(t testing.TB, ex *executor.Executor, a *addon.Addon) *executor.Result {
	t.Helper()
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWasmRunnerMeetsTheContract(t *testing.T) {
	wash := fixture(t, "wash")
	runnertest.Run(t, runnertest.Harness{
		Runner:   shared(t),
		Isolated: true,
		Package: func(t *testing.T, descriptor, script string) *addon.Addon {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "docspell-addon.yaml"), []byte(descriptor+"runner:\n  wasm:\n    module: bin/wash.wasm\n"))
			writeFile(t, filepath.Join(dir, "bin", "run.sh"), []byte(script))
			data, err := os.ReadFile(wash)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "bin", "wash.wasm"), data)
			return load(t, dir)
		},
	})
}

func TestAModuleSeesNothingOutsideItsDirectories(t *testing.T) {
	probe := fixture(t, "probe")
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "secret")
	writeFile(t, secret, []byte("host secret"))
	tests := []struct {
		name string
		args []string
		// plant is a symlink the host left in CACHE_DIR before the run
		// (an earlier run of another runner could have).
		plant, plantTarget string
		// mustNotExist is a host path the run must not create.
		mustNotExist string
	}{
		{name: "absolute host paths cannot be read", args: []string{"read", "/etc/passwd", "/proc/self/environ", secret, "--"}},
		{name: "dot-dot cannot climb out of a mount", args: []string{"read", "/mnt/work/../../etc/passwd", "../../../../etc/passwd", "/mnt/cache/../../" + secret, "--"}},
		{name: "a file cannot be written outside the mounts", args: []string{"write", filepath.Join(hostDir, "new"), "/new-file", "/mnt/new-file", "--"}, mustNotExist: filepath.Join(hostDir, "new")},
		{name: "a symlink to the host root cannot be made", args: []string{"symlink", "/", "/mnt/work/hostroot", "/mnt/work/hostroot" + secret}},
		{name: "a relative symlink climbing out cannot be made", args: []string{"symlink", "../../../../../../../../", "/mnt/output/up", "/mnt/output/up" + secret}},
		{name: "a planted absolute symlink is not followed", args: []string{"read", "/mnt/cache/hostroot" + secret, "--"}, plant: "hostroot", plantTarget: "/"},
		{name: "a planted relative symlink climbing out is not followed", args: []string{"read", "/mnt/cache/up/secret", "--"}, plant: "up", plantTarget: "../../../../../../../../../../" + hostDir},
		{name: "a file cannot be created through a planted symlink", args: []string{"write", "/mnt/cache/evil", "--"}, plant: "evil", plantTarget: filepath.Join(hostDir, "created"), mustNotExist: filepath.Join(hostDir, "created")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := load(t, writeAddon(t, "probe", probe, tt.args, nil))
			ex := newExecutor(t, shared(t))
			if tt.plant != "" {
				cache := filepath.Join(ex.CacheRoot, "probe")
				if err := os.MkdirAll(cache, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(tt.plantTarget, filepath.Join(cache, tt.plant)); err != nil {
					t.Fatal(err)
				}
			}
			res := run(t, ex, a)
			if res.Kind != executor.Success {
				t.Fatalf("result %s: %s\n%s", res.Kind, res.Error, strings.Join(res.StderrTail, "\n"))
			}
			if !res.Isolated {
				t.Error("the run was not reported isolated")
			}
			if tt.mustNotExist != "" {
				if _, err := os.Lstat(tt.mustNotExist); err == nil {
					t.Errorf("the module created %s on the host", tt.mustNotExist)
				}
			}
		})
	}
}

func TestASymlinkInsideWorkStillWorks(t *testing.T) {
	a := load(t, writeAddon(t, "inside", fixture(t, "probe"), []string{"inside"}, nil))
	res := run(t, newExecutor(t, shared(t)), a)
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
}

// Hand-written modules (WebAssembly binary format), each exporting
// _start and importing nothing.
var (
	// (module (memory 1) (func (export "_start") unreachable))
	trapModule = module([]byte{0x00, 0x00, 0x0b})
	// (module (memory 1) (func (export "_start") (loop br 0)))
	loopModule = module([]byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b})
	// (module (memory 1) (func (export "_start")
	//   (loop (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable)) br 0)))
	growModule = module([]byte{0x00, 0x03, 0x40, 0x41, 0x01, 0x40, 0x00, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x00, 0x0b, 0x0c, 0x00, 0x0b, 0x0b})
	// A module without _start (a library, not a command).
	libraryModule = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
)

// module wraps one function body (locals and code) into a module with
// one page of memory that exports it as _start.
func module(body []byte) []byte {
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = append(m, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00)                               // type: func() -> ()
	m = append(m, 0x03, 0x02, 0x01, 0x00)                                           // function 0 has type 0
	m = append(m, 0x05, 0x03, 0x01, 0x00, 0x01)                                     // memory: min 1 page
	m = append(m, 0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00) // export _start
	m = append(m, 0x0a, byte(len(body)+2), 0x01, byte(len(body)))                   // code: one body
	return append(m, body...)
}

func moduleFile(t testing.TB, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, data)
	return p
}

func TestAModuleIsStoppedByItsTimeout(t *testing.T) {
	tests := []struct {
		name   string
		module func(t testing.TB) string
		args   []string
	}{
		{"an infinite loop is stopped", func(t testing.TB) string { return moduleFile(t, "loop.wasm", loopModule) }, nil},
		{"a module sleeping for an hour is stopped", func(t testing.TB) string { return fixture(t, "probe") }, []string{"sleep", "1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := load(t, writeAddon(t, "stuck", tt.module(t), tt.args, nil))
			ex := newExecutor(t, shared(t))
			ex.Timeout = 300 * time.Millisecond
			res := run(t, ex, a)
			if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "timed out") {
				t.Fatalf("got %s (%s), want execution-failed after a timeout", res.Kind, res.Error)
			}
		})
	}
}

func TestCancellingTheContextStopsTheModule(t *testing.T) {
	a := load(t, writeAddon(t, "loop", moduleFile(t, "loop.wasm", loopModule), nil, nil))
	ex := newExecutor(t, shared(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := ex.Run(ctx, executor.Request{Steps: []executor.Step{{Addon: a}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "cancel") {
		t.Fatalf("got %s (%s), want execution-failed after a cancel", res.Kind, res.Error)
	}
}

func TestAMemoryHogHitsTheLimitAndFailsCleanly(t *testing.T) {
	tests := []struct {
		name   string
		module func(t testing.TB) string
		args   []string
	}{
		{"a Go program allocating without end", func(t testing.TB) string { return fixture(t, "probe") }, []string{"hog"}},
		{"a module growing its memory until refused", func(t testing.TB) string { return moduleFile(t, "grow.wasm", growModule) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := load(t, writeAddon(t, "hog", tt.module(t), tt.args, nil))
			ex := newExecutor(t, newRunner(t, wasm.Config{MemoryBytes: 64 << 20}))
			res := run(t, ex, a)
			if res.Kind != executor.ExecutionFailed || !res.Addons[0].OutOfMemory || !strings.Contains(res.Error, "out of memory") {
				t.Fatalf("got %s oom=%t (%s), want execution-failed out of memory\n%s", res.Kind, res.Addons[0].OutOfMemory, res.Error, strings.Join(res.StderrTail, "\n"))
			}
		})
	}
}

func TestATrapFailsTheRunWithItsReason(t *testing.T) {
	a := load(t, writeAddon(t, "trap", moduleFile(t, "trap.wasm", trapModule), nil, nil))
	res := run(t, newExecutor(t, shared(t)), a)
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "trapped") || !strings.Contains(res.Error, "unreachable") {
		t.Fatalf("got %s (%s), want execution-failed naming the trap", res.Kind, res.Error)
	}
	if len(res.StderrTail) == 0 || !strings.Contains(strings.Join(res.StderrTail, "\n"), "wasm stack trace") {
		t.Errorf("stderr tail %q does not hold the wasm stack trace", res.StderrTail)
	}
}

func TestTheExitCodePassesThroughAndStderrIsShown(t *testing.T) {
	a := load(t, writeAddon(t, "exit7", fixture(t, "probe"), []string{"exit", "7"}, nil))
	ex := newExecutor(t, shared(t))
	var live bytes.Buffer
	ex.Stderr = &live
	res := run(t, ex, a)
	if res.Kind != executor.ExecutionError || res.ExitCode != 7 {
		t.Fatalf("got %s exit %d (%s), want execution-error exit 7", res.Kind, res.ExitCode, res.Error)
	}
	if got := res.StderrTail; len(got) == 0 || got[len(got)-1] != "exiting with 7" {
		t.Errorf("stderr tail = %q", got)
	}
	if !strings.Contains(live.String(), "[exit7] exiting with 7\n") {
		t.Errorf("live stderr = %q, want the addon's lines prefixed with its name", live.String())
	}
}

func TestASecondRunOfAnUnchangedAddonIsACompileCacheHit(t *testing.T) {
	cacheDir := t.TempDir()
	a := load(t, writeAddon(t, "cached", fixture(t, "probe"), []string{"exit", "0"}, nil))
	entries := func() []string {
		var names []string
		filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				names = append(names, p)
			}
			return nil
		})
		return names
	}

	first := newRunner(t, wasm.Config{CacheDir: cacheDir})
	p, err := first.Prepare(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cached || wasm.Compiles(first) != 1 {
		t.Fatalf("first prepare: cached=%t compiles=%d, want a compilation", p.Cached, wasm.Compiles(first))
	}
	stored := entries()
	if len(stored) == 0 {
		t.Fatalf("the compilation cache %s is empty after compiling", cacheDir)
	}
	if res := run(t, newExecutor(t, first), a); res.Kind != executor.Success || !res.Addons[0].Cached {
		t.Fatalf("run in the same process: %s cached=%t (%s), want a success from the cache", res.Kind, res.Addons[0].Cached, res.Error)
	}

	// Another berth process: a new runner on the same cache directory.
	second := newRunner(t, wasm.Config{CacheDir: cacheDir})
	res := run(t, newExecutor(t, second), a)
	if res.Kind != executor.Success || !res.Addons[0].Cached {
		t.Fatalf("run in a new process: %s cached=%t (%s), want a success from the cache", res.Kind, res.Addons[0].Cached, res.Error)
	}
	if n := wasm.Compiles(second); n != 0 {
		t.Errorf("the new runner compiled %d modules, want 0", n)
	}
	if got := entries(); len(got) != len(stored) {
		t.Errorf("cache entries went from %d to %d, want no new compilation", len(stored), len(got))
	}
}

func TestPrepareExplainsAModuleThatCannotRun(t *testing.T) {
	tests := []struct {
		name, want string
		dir        func(t *testing.T) string
	}{
		{"a module not built yet", `"bin/missing.wasm" does not exist in the addon; build it first`, func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: m, version: '1'}\nrunner: {wasm: {enable: true, module: bin/missing.wasm}}\n"))
			return dir
		}},
		{"a library without _start", "exports no _start function", func(t *testing.T) string {
			return writeAddon(t, "lib", moduleFile(t, "lib.wasm", libraryModule), nil, nil)
		}},
		{"bytes that are not wasm", "compiling bin/junk.wasm", func(t *testing.T) string {
			return writeAddon(t, "junk", moduleFile(t, "junk.wasm", []byte("#!/bin/sh\necho hi\n")), nil, nil)
		}},
		{"a module too large to compile", "larger than 256 MiB", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: big, version: '1'}\nrunner: {wasm: {enable: true, module: big.wasm}}\n"))
			// Sparse: no disk space; berth looks at the size first.
			f, err := os.Create(filepath.Join(dir, "big.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(wasm.MaxModuleBytes + 1); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := load(t, tt.dir(t))
			_, err := shared(t).Prepare(context.Background(), a)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(tt.name, "a module not built yet") && !strings.Contains(tt.want, "larger than") {
				var be *runner.BuildError
				if !errors.As(err, &be) {
					t.Errorf("err is %T, want a *runner.BuildError", err)
				}
			}
			res := run(t, newExecutor(t, shared(t)), a)
			if res.Kind != executor.ExecutionFailed {
				t.Errorf("run: %s, want execution-failed", res.Kind)
			}
		})
	}
}

// withTable inserts a table section (one funcref table, min 1, no
// maximum) into a module made by module.
func withTable(m []byte) []byte {
	typeAndFunc := 8 + 6 + 4 // header, type section, function section
	out := append([]byte{}, m[:typeAndFunc]...)
	out = append(out, 0x04, 0x04, 0x01, 0x70, 0x00, 0x01)
	return append(out, m[typeAndFunc:]...)
}

// (module (table 1 funcref) (memory 1) (func (export "_start")
//
//	(if (i32.eq (table.grow (ref.null func) (i32.const 0x1000000)) (i32.const -1)) (then return))
//	unreachable))
var tableGrowModule = withTable(module([]byte{0x00, 0xd0, 0x70, 0x41, 0x80, 0x80, 0x80, 0x08, 0xfc, 0x0f, 0x00, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x0f, 0x0b, 0x00, 0x0b}))

// A table lives outside linear memory, in berth's own heap: a module
// growing one without a declared maximum (Go's linker declares none)
// could take all of berth's memory, 8 bytes an entry, up to 32 GiB.
func TestATableCannotGrowPastTheMemoryLimit(t *testing.T) {
	a := load(t, writeAddon(t, "tables", moduleFile(t, "tables.wasm", tableGrowModule), nil, nil))
	ex := newExecutor(t, newRunner(t, wasm.Config{MemoryBytes: 64 << 20}))
	res := run(t, ex, a)
	if res.Kind != executor.Success {
		t.Fatalf("got %s (%s), want the grow of 16M entries (128 MiB) refused and the module to return\n%s", res.Kind, res.Error, strings.Join(res.StderrTail, "\n"))
	}
}

// A compilation cache entry cut short (a full disk, a crash while another
// tool copied the cache) must cost a compilation, not every later run of
// the module.
func TestACorruptCompilationCacheIsRecompiled(t *testing.T) {
	cacheDir := t.TempDir()
	a := load(t, writeAddon(t, "cached", fixture(t, "probe"), []string{"exit", "0"}, nil))
	if _, err := newRunner(t, wasm.Config{CacheDir: cacheDir}).Prepare(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, 10, 1000} {
		filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				os.Truncate(p, size)
			}
			return nil
		})
		r := newRunner(t, wasm.Config{CacheDir: cacheDir})
		res := run(t, newExecutor(t, r), a)
		if res.Kind != executor.Success || wasm.Compiles(r) != 1 {
			t.Fatalf("with cache entries cut to %d bytes: %s (%s), %d compilations; want a success after one", size, res.Kind, res.Error, wasm.Compiles(r))
		}
		if res := run(t, newExecutor(t, newRunner(t, wasm.Config{CacheDir: cacheDir})), a); !res.Addons[0].Cached {
			t.Fatalf("with cache entries cut to %d bytes: the recompiled module was not cached again", size)
		}
	}
}

func TestConcurrentRunsOfOneModuleShareOneCompilation(t *testing.T) {
	a := load(t, writeAddon(t, "shared", fixture(t, "probe"), []string{"exit", "0"}, nil))
	r := newRunner(t, wasm.Config{CacheDir: t.TempDir()})
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Prepare(context.Background(), a)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("prepare %d: %v", i, err)
		}
	}
	if n := wasm.Compiles(r); n != 1 {
		t.Errorf("%d compilations for six concurrent runs of one module, want 1", n)
	}
}

// TestAModuleLinkedOutOfTheAddonIsRefused is issue 18's first bullet for
// the wasm runner: runner.wasm.module naming a link to a host file (here
// a real module, which would run) is refused, and a host file's content
// never reaches the error.
func TestAModuleLinkedOutOfTheAddonIsRefused(t *testing.T) {
	probe := fixture(t, "probe")
	host := t.TempDir()
	hostModule := filepath.Join(host, "probe.wasm")
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, hostModule, data)
	secret := filepath.Join(host, "shadow")
	writeFile(t, secret, []byte("root:$y$SECRET-HASH:19000::::::\n"))
	for _, target := range []string{hostModule, secret} {
		t.Run(filepath.Base(target), func(t *testing.T) {
			dir := writeAddon(t, "linked", probe, []string{"exit", "0"}, nil)
			a := load(t, dir)
			p := filepath.Join(dir, "bin", filepath.Base(probe))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			_, err := shared(t).Prepare(context.Background(), a)
			if err == nil {
				t.Fatal("Prepare accepted a module that links out of the addon")
			}
			if strings.Contains(err.Error(), "SECRET-HASH") {
				t.Errorf("the error shows the host file: %v", err)
			}
		})
	}
}
