package nixflake_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/internal/golden"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/nixflake"
	"github.com/berth-dev/berth/runner/runnertest"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/nspawn"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// TestMain lets the test binary be the builtin sandbox's init.
func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	flag.Parse()
	os.Exit(sandboxtest.RunKeepingMountTable(m))
}

func requireNix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		t.Skip("nix is not installed (CI installs nix-bin)")
	}
}

// Build scripts for the derivation in testdata/flake.nix.tmpl.
const (
	buildRun    = `PATH=/usr/bin:/bin; mkdir -p $out/bin && cp $script $out/bin/run && chmod 0555 $out/bin/run`
	buildBroken = `echo 'building berth-test-addon' >&2; echo 'error: missing semicolon on line 3' >&2; exit 1`
	buildNoBin  = `PATH=/usr/bin:/bin; mkdir -p $out/share && echo doc > $out/share/README`
)

// offline is the configuration of these tests: the test machine has no
// network, so nix must not wait on binary caches (the default uses the
// host's nix settings).
func offline() nixflake.Config {
	c := nixflake.DefaultConfig()
	c.ExtraFlags = []string{"--option", "substituters", ""}
	return c
}

func nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// packageFlake makes a nix-flake addon whose program runs script with
// /bin/sh; build is the derivation's builder script.
func packageFlake(t *testing.T, descriptor, script, build string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	tmpl, err := os.ReadFile("testdata/flake.nix.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	flake := strings.NewReplacer("@NONCE@", nonce(), "@BUILD@", build).Replace(string(tmpl))
	files := map[string]string{
		"docspell-addon.yaml": descriptor + "runner:\n  nix:\n    enable: true\n",
		"flake.nix":           flake,
		"run.sh":              "#!/bin/sh\n" + script,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const pureDescriptor = "meta:\n  name: flaky\n  version: \"1.0\"\noptions:\n  networking: false\n  collectOutput: true\n"

func TestBuildArgs(t *testing.T) {
	cases := []struct {
		name string
		cfg  nixflake.Config
	}{
		{"build-default", nixflake.DefaultConfig()},
		{"build-offline", offline()},
		{"build-extra-flags", nixflake.Config{ExtraFlags: []string{"--option", "sandbox", "false", "-L"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := nixflake.BuildArgs(c.cfg, nixflake.FlakeRef("/var/lib/berth/addons/hello-1.0"))
			golden.Lines(t, filepath.Join("testdata", c.name+".golden"), args)
		})
	}
}

func TestPrepareBuildsOnceThenHitsTheCache(t *testing.T) {
	requireNix(t)
	r := nixflake.New(offline(), nil)
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildRun)
	first, err := r.Prepare(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached {
		t.Error("the first build of a new flake was reported cached")
	}
	if !strings.HasPrefix(first.Program, "/nix/store/") || !strings.HasSuffix(first.Program, "/bin/run") {
		t.Errorf("program = %q, want /nix/store/…/bin/run", first.Program)
	}
	second, err := r.Prepare(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached {
		t.Error("the second build of an unchanged flake was not a cache hit")
	}
	if second.Program != first.Program {
		t.Errorf("the program moved: %s, then %s", first.Program, second.Program)
	}
}

func TestPrepareReportsABrokenBuildWithItsLastLines(t *testing.T) {
	requireNix(t)
	r := nixflake.New(offline(), nil)
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildBroken)
	_, err := r.Prepare(context.Background(), a)
	var be *runner.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *runner.BuildError", err)
	}
	if !strings.Contains(strings.Join(be.Tail, "\n"), "missing semicolon") {
		t.Errorf("the build's last lines lack its error: %q", be.Tail)
	}
}

func TestPrepareRefusesAnOutputWithoutExecutable(t *testing.T) {
	requireNix(t)
	r := nixflake.New(offline(), nil)
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildNoBin)
	_, err := r.Prepare(context.Background(), a)
	if !errors.Is(err, nixflake.ErrNoExecutable) {
		t.Fatalf("err = %v, want ErrNoExecutable", err)
	}
}

func TestAvailableNamesAMissingBinary(t *testing.T) {
	r := nixflake.New(nixflake.Config{Binary: "/nonexistent/nix"}, nil)
	err := r.Available(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nix-bin") {
		t.Fatalf("Available = %v, want an error naming the fix", err)
	}
}

func TestNixFlakeRunnerMeetsTheContract(t *testing.T) {
	requireNix(t)
	sandboxes := []struct {
		name     string
		sb       runner.Sandbox
		isolated bool
	}{
		{"without a sandbox", runner.NoSandbox{}, false},
		{"in the builtin sandbox", builtin.New(builtin.Config{Limits: builtin.DefaultLimits()}), true},
	}
	if _, err := exec.LookPath("systemd-nspawn"); err == nil {
		sandboxes = append(sandboxes, struct {
			name     string
			sb       runner.Sandbox
			isolated bool
		}{"in nspawn", nspawn.New(nspawn.Config{Limits: builtin.DefaultLimits()}), true})
	}
	for _, s := range sandboxes {
		t.Run(s.name, func(t *testing.T) {
			if err := s.sb.Available(context.Background()); err != nil {
				t.Fatalf("sandbox %s: %v", s.sb.Name(), err)
			}
			runnertest.Run(t, runnertest.Harness{
				Runner:   nixflake.New(offline(), s.sb),
				Isolated: s.isolated,
				Package: func(t *testing.T, descriptor, script string) *addon.Addon {
					return packageFlake(t, descriptor, script, buildRun)
				},
			})
		})
	}
}

func TestTheNixHelloExampleRunsInTheBuiltinSandbox(t *testing.T) {
	requireNix(t)
	a, err := addon.Load("../../examples/nix-hello")
	if err != nil {
		t.Fatal(err)
	}
	sb := builtin.New(builtin.Config{Limits: builtin.DefaultLimits()})
	if err := sb.Available(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex := &executor.Executor{
		Runners:    map[string]runner.Runner{addon.RunnerNixFlake: nixflake.New(offline(), sb)},
		Preference: []string{addon.RunnerNixFlake},
		WorkRoot:   t.TempDir(),
		CacheRoot:  t.TempDir(),
		Timeout:    time.Minute,
		PathEnv:    []string{"PATH=/usr/bin:/bin"},
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := ex.Run(context.Background(), executor.Request{
		Steps:     []executor.Step{{Addon: a, UserInput: "Hi from the test"}},
		Item:      &executor.Item{Data: []byte(`{"id":"item42"}`)},
		OutputDir: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success || !res.Isolated {
		t.Fatalf("result %s (isolated %v): %s %q", res.Kind, res.Isolated, res.Error, res.StderrTail)
	}
	if res.Output == nil || len(res.Output.Commands) != 1 {
		t.Fatalf("output = %+v, want one item-update command", res.Output)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "greeting.txt")); strings.TrimSpace(string(b)) != "Hi from the test" {
		t.Errorf("greeting.txt = %q", b)
	}
}

// TestAFlakeLinkedToAHostFileIsRefusedWithoutShowingIt is issue 18's
// first bullet for flake.nix: a flake.nix (or flake.lock) that links to a
// host file is refused by berth before nix reads it, and nothing of the
// file's content reaches the error. (nix 2.8 refuses such a flake.nix
// too, saying it escapes the source; berth does not rely on it.)
func TestAFlakeLinkedToAHostFileIsRefusedWithoutShowingIt(t *testing.T) {
	requireNix(t)
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:$y$SECRET-HASH:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flake.nix", "flake.lock"} {
		t.Run(name, func(t *testing.T) {
			a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildRun)
			p := filepath.Join(a.Dir, name)
			_ = os.Remove(p)
			if err := os.Symlink(secret, p); err != nil {
				t.Fatal(err)
			}
			_, err := nixflake.New(nixflake.DefaultConfig(), nil).Prepare(context.Background(), a)
			if !errors.Is(err, runner.ErrOutsideAddon) {
				t.Errorf("Prepare: %v, want an error saying %s resolves outside the addon", err, name)
			}
			var be *runner.BuildError
			if errors.As(err, &be) || err != nil && strings.Contains(err.Error(), "SECRET-HASH") {
				t.Errorf("nix read the host file, or its content is in the error: %v", err)
			}
		})
	}
}
