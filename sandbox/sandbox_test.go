package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	os.Exit(sandboxtest.RunKeepingMountTable(m))
}

func TestNewBuildsEachKind(t *testing.T) {
	for _, c := range []struct{ kind, name string }{
		{sandbox.KindNone, "none"},
		{sandbox.KindNspawn, "nspawn"},
		{sandbox.KindBuiltin, "builtin"},
	} {
		t.Run(c.kind+" gives the "+c.name+" sandbox", func(t *testing.T) {
			cfg := sandbox.DefaultConfig()
			cfg.Kind = c.kind
			sb, err := sandbox.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sb.Name() != c.name {
				t.Errorf("Name = %q, want %q", sb.Name(), c.name)
			}
		})
	}
	t.Run("an unknown kind is an error naming the known ones", func(t *testing.T) {
		_, err := sandbox.New(sandbox.Config{Kind: "chroot"})
		if err == nil || !strings.Contains(err.Error(), "builtin") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDefaultIsBuiltinWhereTheKernelAllowsIt(t *testing.T) {
	sb := sandbox.Default(context.Background(), sandbox.DefaultConfig())
	if sb.Name() != "builtin" {
		t.Fatalf("Default = %s (%s), want builtin on this machine (user namespaces work here)", sb.Name(), sandbox.Warning(sb))
	}
	if w := sandbox.Warning(sb); w != "" {
		t.Errorf("Warning = %q for the builtin sandbox", w)
	}
}

func TestDefaultFallsBackWithAReason(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.InitPath = "/bin/false" // a binary that does not run the init
	sb := sandbox.Default(context.Background(), cfg)
	if _, ok := sb.(*sandbox.Unisolated); !ok {
		t.Fatalf("Default = %T, want *sandbox.Unisolated", sb)
	}
	if sb.Name() != "none" {
		t.Errorf("Name = %q, want none", sb.Name())
	}
	if w := sandbox.Warning(sb); !strings.Contains(w, "builtin.Init") {
		t.Errorf("Warning = %q, want the reason", w)
	}
	var _ runner.Sandbox = sb
}

func TestCheckReportsEveryRealKind(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.Nspawn.Binary = "/nonexistent/systemd-nspawn"
	got := sandbox.Check(context.Background(), cfg)
	if len(got) != 2 || got[0].Kind != "builtin" || got[1].Kind != "nspawn" {
		t.Fatalf("Check = %+v, want builtin then nspawn", got)
	}
	if got[0].Err != nil {
		t.Errorf("builtin: %v, want usable here", got[0].Err)
	}
	if got[1].Err == nil || !strings.Contains(got[1].Err.Error(), "systemd-container") {
		t.Errorf("nspawn: %v, want the missing binary and its package", got[1].Err)
	}
}

// TestRequireIsolationKeepsAPureAddonOffTheHost runs a hostile pure
// addon (it writes into a host directory) with require-isolation where
// no sandbox isolates: it must not start at all, since discarding its
// output afterwards leaves the harm done.
func TestRequireIsolationKeepsAPureAddonOffTheHost(t *testing.T) {
	for _, c := range []struct {
		name    string
		sandbox func(cfg sandbox.Config) runner.Sandbox
	}{
		{"with sandbox: none", func(cfg sandbox.Config) runner.Sandbox {
			cfg.Kind = sandbox.KindNone
			sb, err := sandbox.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return sb
		}},
		{"when auto falls back to running unisolated", func(cfg sandbox.Config) runner.Sandbox {
			cfg.InitPath = "/bin/false" // a binary that does not run the init
			return sandbox.Default(context.Background(), cfg)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := sandbox.DefaultConfig()
			cfg.RequireIsolation = true
			sb := c.sandbox(cfg)
			if sb.Name() != "none" {
				t.Fatalf("sandbox %s, want none", sb.Name())
			}
			hostDir := t.TempDir()
			// Without the policy the fixture writes here and in / (berth
			// runs as root in CI): clean up whatever it managed.
			t.Cleanup(func() {
				for _, d := range []string{"/tmp", "/", "/usr", "/etc", "/mnt", "/var/tmp", "/dev/shm"} {
					os.Remove(filepath.Join(d, "pwned-require-isolation"))
				}
			})
			a, err := addon.Load(sandboxtest.FixtureDir("write-outside"))
			if err != nil {
				t.Fatal(err)
			}
			if !a.Pure() {
				t.Fatal("the fixture is not a pure addon")
			}
			ex := &executor.Executor{
				Runners:          map[string]runner.Runner{addon.RunnerTrivial: trivial.New(sb)},
				Preference:       []string{addon.RunnerTrivial},
				WorkRoot:         t.TempDir(),
				CacheRoot:        t.TempDir(),
				Timeout:          time.Minute,
				PathEnv:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
				RequireIsolation: true,
			}
			res, err := ex.Run(context.Background(), executor.Request{
				Steps:     []executor.Step{{Addon: a, UserInput: hostDir + "\nrequire-isolation\n"}},
				OutputDir: filepath.Join(t.TempDir(), "output"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(filepath.Join(hostDir, "pwned-require-isolation")); err == nil {
				t.Error("the pure addon ran on the host and wrote into a host directory")
			}
			if res.Kind == executor.Success {
				t.Errorf("the run succeeded unisolated")
			}
			if !strings.Contains(res.Error, "require-isolation") {
				t.Errorf("the error does not name require-isolation: %s", res.Error)
			}
		})
	}
}
