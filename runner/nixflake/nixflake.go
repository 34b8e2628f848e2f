package nixflake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
)

// Config is the nix-flake runner's part of berth.yaml (under `nix:`).
type Config struct {
	// Binary is the nix CLI, a name on PATH or a path.
	Binary string `yaml:"binary" json:"binary"`
	// ExtraFlags go after `build` on every build. The default turns the
	// binary caches off (offline machines would otherwise wait on
	// cache.nixos.org); set it to [] to let nix substitute.
	ExtraFlags []string `yaml:"extraFlags" json:"extraFlags"`
	// BuildTimeout bounds one build; the run timeout does not count it.
	BuildTimeout time.Duration `yaml:"buildTimeout" json:"buildTimeout"`
}

// DefaultConfig is what berth uses without configuration.
func DefaultConfig() Config {
	return Config{
		Binary:       "nix",
		ExtraFlags:   []string{"--option", "substituters", ""},
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

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)`)

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
	if m := versionRE.FindStringSubmatch(string(out)); m != nil {
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
	program, err := executable(out)
	if err != nil {
		return runner.Prepared{BuildLog: tail}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	cached := !builtSince(out, start)
	r.log.Info("flake ready", "addon", a.ID(), "runner", r.Name(), "program", program, "cached", cached)
	return runner.Prepared{Program: program, Cached: cached, BuildLog: tail}, nil
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

// executable picks the first executable file (by name) in out/bin, else
// in out, else out itself when it is a file.
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
