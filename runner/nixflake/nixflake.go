package nixflake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/internal/lazyregexp"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
)

// Config is the nix-flake runner's part of berth.yaml (under `nix:`).
type Config struct {
	// Binary is the nix CLI, a name on PATH or a path.
	Binary string `yaml:"binary" json:"binary"`
	// ExtraFlags go after `build` on every build. None by default: the
	// host's nix configuration (substituters, trusted keys) applies, as
	// when Docspell runs `nix build`, so nixpkgs-based addons come from
	// the binary cache. An offline machine sets
	// ["--option", "substituters", ""] here or in its nix.conf.
	ExtraFlags []string `yaml:"extraFlags" json:"extraFlags"`
	// BuildTimeout bounds one build; the run timeout does not count it.
	BuildTimeout time.Duration `yaml:"buildTimeout" json:"buildTimeout"`
}

// DefaultConfig is what berth uses without configuration.
func DefaultConfig() Config {
	return Config{
		Binary:       "nix",
		BuildTimeout: 10 * time.Minute,
	}
}

// BuildArgs is the nix command line (without the binary) that builds the
// flake at flakeRef and prints the result as JSON.
func BuildArgs(cfg Config, flakeRef string) []string {
	args := []string{
		"--extra-experimental-features", "nix-command flakes",
		"build", "--json", "--no-link", "--no-write-lock-file",
	}
	args = append(args, cfg.ExtraFlags...)
	return append(args, flakeRef)
}

// FlakeRef is the flake reference of an addon directory. A path: URL
// needs no git repository and is content-addressed: the same files give
// the same store path, wherever they were unpacked.
func FlakeRef(dir string) string { return "path:" + dir }

// Runner builds and runs nix-flake addons.
type Runner struct {
	cfg     Config
	sandbox runner.Sandbox
	log     *slog.Logger
	// setupOK remembers that checkSetup passed once: a nix that builds
	// keeps building, and each run need not ask again.
	setupOK atomic.Bool

	mu sync.Mutex
	// programs remembers the program chosen for a store path: the path
	// never changes, so the flake is evaluated once per build output.
	programs map[string]string
}

// New returns a nix-flake runner; a nil sandbox means runner.NoSandbox.
func New(cfg Config, sb runner.Sandbox) *Runner {
	def := DefaultConfig()
	if cfg.Binary == "" {
		cfg.Binary = def.Binary
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = def.BuildTimeout
	}
	if sb == nil {
		sb = runner.NoSandbox{}
	}
	return &Runner{cfg: cfg, sandbox: sb, log: slog.Default()}
}

// Name implements runner.Runner.
func (r *Runner) Name() string { return addon.RunnerNixFlake }

// ErrNoExecutable is wrapped when a flake's output holds no program.
var ErrNoExecutable = errors.New("the flake's output has no executable")

var versionRE = lazyregexp.New(`(\d+)\.(\d+)`)

// Available implements runner.Runner: the nix binary must answer, be
// recent enough for flakes (2.4) and able to build (checkSetup), and the
// sandbox must be usable.
func (r *Runner) Available(ctx context.Context) error {
	bin, err := exec.LookPath(r.cfg.Binary)
	if err != nil {
		return fmt.Errorf("nix binary %q not found (fix: apt-get install nix-bin, or set nix.binary): %w", r.cfg.Binary, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", bin, err)
	}
	if m := versionRE().FindStringSubmatch(string(out)); m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major < 2 || major == 2 && minor < 4 {
			return fmt.Errorf("%s is %s; flakes need nix 2.4 or later", bin, strings.TrimSpace(string(out)))
		}
	}
	if !r.setupOK.Load() {
		if err := r.checkSetup(ctx, bin); err != nil {
			return err
		}
		r.setupOK.Store(true)
	}
	if err := r.sandbox.Available(ctx); err != nil {
		return fmt.Errorf("sandbox %s: %w", r.sandbox.Name(), err)
	}
	return nil
}

type buildResult struct {
	DrvPath string            `json:"drvPath"`
	Outputs map[string]string `json:"outputs"`
}

// Prepare implements runner.Runner: it builds the flake (a cache hit in
// nix's store when nothing changed) and finds its executable.
func (r *Runner) Prepare(ctx context.Context, a *addon.Addon) (runner.Prepared, error) {
	return r.Build(ctx, a, nil)
}

// Build implements runner.Builder: Prepare, writing nix build's stderr
// (its progress and the builder's log) to progress as it comes.
func (r *Runner) Build(ctx context.Context, a *addon.Addon, progress io.Writer) (runner.Prepared, error) {
	if !slices.Contains(a.Runners(), addon.RunnerNixFlake) {
		return runner.Prepared{}, fmt.Errorf("%s does not enable the nix-flake runner", a.ID())
	}
	// nix refuses a flake.nix that leads out of the flake, but berth
	// does not rely on every nix version to: it hands nix nothing that
	// resolves outside the addon.
	for _, name := range []string{"flake.nix", "flake.lock"} {
		err := runner.InsideAddon(a.Dir, name)
		if name == "flake.lock" && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return runner.Prepared{}, fmt.Errorf("%s: %s of the addon: %w", a.ID(), name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.BuildTimeout)
	defer cancel()
	start := time.Now()
	args := BuildArgs(r.cfg, FlakeRef(a.Dir))
	r.log.Info("building flake", "addon", a.ID(), "runner", r.Name())
	res, err := proc.Run(ctx, proc.Spec{
		Path:       r.binary(),
		Args:       args,
		Dir:        a.Dir,
		Env:        os.Environ(), // berth's own build, not the addon: nix needs HOME, NIX_*, proxies
		StderrTail: 30,
		KillGrace:  5 * time.Second,
		OnStderr: func(l string) {
			if progress != nil {
				fmt.Fprintln(progress, l)
			}
		},
	})
	tail := res.StderrTail
	switch {
	case err != nil && ctx.Err() != nil:
		return runner.Prepared{BuildLog: tail}, &runner.BuildError{Runner: r.Name(), Err: fmt.Errorf("timed out after %s: %w", r.cfg.BuildTimeout, err), Tail: tail}
	case err != nil:
		return runner.Prepared{BuildLog: tail}, &runner.BuildError{Runner: r.Name(), Err: err, Tail: tail}
	case res.ExitCode != 0:
		return runner.Prepared{BuildLog: tail}, &runner.BuildError{Runner: r.Name(), Err: fmt.Errorf("nix build exited with code %d", res.ExitCode), Tail: tail}
	}
	var built []buildResult
	if err := json.Unmarshal(bytes.TrimSpace(res.Stdout), &built); err != nil || len(built) == 0 {
		return runner.Prepared{BuildLog: tail}, &runner.BuildError{Runner: r.Name(), Err: fmt.Errorf("reading nix build --json output %q: %v", truncate(res.Stdout), err), Tail: tail}
	}
	out := built[0].Outputs["out"]
	if out == "" {
		for _, p := range built[0].Outputs {
			out = p
			break
		}
	}
	if out == "" {
		return runner.Prepared{}, &runner.BuildError{Runner: r.Name(), Err: errors.New("nix build reported no output path"), Tail: tail}
	}
	program, err := r.program(ctx, a, out)
	if err != nil {
		return runner.Prepared{BuildLog: tail}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	cached := !builtSince(out, start)
	r.log.Info("flake ready", "addon", a.ID(), "runner", r.Name(), "program", program, "cached", cached)
	prep := runner.Prepared{Program: program, Cached: cached, BuildLog: tail}
	if d := docspellProgram(out); d != "" && d != program {
		prep.Notes = append(prep.Notes, fmt.Sprintf("nix-flake runs %s, what nix run would; Docspell would run %s, the first file of result/bin", strings.TrimPrefix(program, out+"/"), strings.TrimPrefix(d, out+"/")))
	}
	return prep, nil
}

func (r *Runner) binary() string {
	if p, err := exec.LookPath(r.cfg.Binary); err == nil {
		return p
	}
	return r.cfg.Binary
}

// builtSince tells whether nix registered the store path after start:
// registering a path canonicalises it (permissions, timestamps), which
// sets its inode change time, while a cache hit leaves it alone. The
// kernel's timestamps lag by up to a clock tick, far less than any
// build takes, and a path registered just before start (the previous
// build) must count as cached: no slack either way.
func builtSince(path string, start time.Time) bool {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return true
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec).After(start)
}

// program chooses what to run of the built output out, as nixpkgs'
// lib.getExe and `nix run` do: the flake's default app when its program
// lies in out, else out/bin/<meta.mainProgram>, else out/bin/<pname>,
// else the first executable that is not hidden (makeWrapper leaves the
// real program as bin/.x-wrapped beside the wrapper bin/x, which sets its
// environment: the wrapper is what must run).
func (r *Runner) program(ctx context.Context, a *addon.Addon, out string) (string, error) {
	r.mu.Lock()
	p, ok := r.programs[out]
	r.mu.Unlock()
	if ok {
		return p, nil
	}
	hints, err := r.evalHints(ctx, a)
	if err != nil {
		// An evaluation problem must not stop an addon that ran before:
		// the build succeeded, so fall back to looking at the files.
		r.log.Warn("reading the flake's app and meta.mainProgram", "addon", a.ID(), "runner", r.Name(), "err", err)
	}
	p, err = chooseProgram(out, hints)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	if r.programs == nil {
		r.programs = map[string]string{}
	}
	r.programs[out] = p
	r.mu.Unlock()
	return p, nil
}

// programHints are what a flake says about its program.
type programHints struct {
	App         string `json:"app"`         // apps.<system>.default.program
	MainProgram string `json:"mainProgram"` // meta.mainProgram of the default package
	Pname       string `json:"pname"`
}

// hintsExpr evaluates programHints of the flake at its argument; every
// attribute may be missing. `or` keeps a flake without apps or meta
// from failing the evaluation.
const hintsExpr = `flakeRef: let
  f = builtins.getFlake flakeRef;
  s = builtins.currentSystem;
  pkg = f.packages.${s}.default or f.defaultPackage.${s} or {};
  app = f.apps.${s}.default or f.defaultApp.${s} or {};
  str = v: if builtins.isString v then builtins.unsafeDiscardStringContext v else "";
in {
  app = str (app.program or null);
  mainProgram = str (pkg.meta.mainProgram or null);
  pname = str (pkg.pname or null);
}`

func (r *Runner) evalHints(ctx context.Context, a *addon.Addon) (programHints, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := []string{
		"--extra-experimental-features", "nix-command flakes",
		"eval", "--json", "--impure", "--expr",
		"(" + hintsExpr + ") " + strconv.Quote(FlakeRef(a.Dir)),
	}
	res, err := proc.Run(ctx, proc.Spec{
		Path: r.binary(), Args: args, Dir: a.Dir, Env: os.Environ(),
		StderrTail: 10, KillGrace: 2 * time.Second,
	})
	var h programHints
	if err != nil {
		return h, err
	}
	if res.ExitCode != 0 {
		return h, fmt.Errorf("nix eval exited with code %d: %s", res.ExitCode, strings.Join(res.StderrTail, "; "))
	}
	if err := json.Unmarshal(bytes.TrimSpace(res.Stdout), &h); err != nil {
		return h, fmt.Errorf("reading nix eval output %q: %w", truncate(res.Stdout), err)
	}
	return h, nil
}

// chooseProgram applies the order of Runner.program to the files of out.
func chooseProgram(out string, h programHints) (string, error) {
	isExec := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
	}
	if h.App != "" && (h.App == out || strings.HasPrefix(h.App, out+"/")) && isExec(h.App) {
		return h.App, nil
	}
	for _, name := range []string{h.MainProgram, h.Pname} {
		if name != "" && !strings.ContainsAny(name, "/\x00") {
			if p := filepath.Join(out, "bin", name); isExec(p) {
				return p, nil
			}
		}
	}
	return executable(out)
}

// docspellProgram is what Docspell's nix runner would run of out: the
// first entry of result/bin, else of result, that is not a directory,
// hidden ones included (NixFlakeRunner.scala:44, 82-103; Docspell lists
// in the file system's order, berth by name), "" when there is none.
func docspellProgram(out string) string {
	for _, dir := range []string{filepath.Join(out, "bin"), out} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && !fi.IsDir() {
				return filepath.Join(dir, e.Name())
			}
		}
	}
	return ""
}

// executable picks the first executable file (by name) in out/bin, else
// in out, else out itself when it is a file. Hidden files (".x-wrapped")
// are never picked.
func executable(out string) (string, error) {
	fi, err := os.Stat(out)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		if fi.Mode()&0o111 != 0 {
			return out, nil
		}
		return "", fmt.Errorf("%w: %s is a file that is not executable", ErrNoExecutable, out)
	}
	for _, dir := range []string{filepath.Join(out, "bin"), out} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries { // ReadDir sorts by name
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
				continue
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: nothing executable in %s/bin or %s", ErrNoExecutable, out, out)
}

func truncate(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// Run implements runner.Runner: the program is a /nix/store path, which
// every sandbox shows at the same place.
func (r *Runner) Run(ctx context.Context, p runner.Prepared, inv runner.Invocation) (runner.Exit, error) {
	return runner.RunProcess(ctx, r.sandbox, p.Program, inv)
}

var _ runner.Builder = (*Runner)(nil)
