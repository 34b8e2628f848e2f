package sandbox_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/sandbox/builtin"
)

func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	os.Exit(m.Run())
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
