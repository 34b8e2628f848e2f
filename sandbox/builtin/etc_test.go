package builtin

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
)

func TestPlanEtcBindsEtcWholeAndCoversWhatOthersMayNotRead(t *testing.T) {
	root := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"conf": 0o644, "secret": 0o600, "passwd": 0o644, "hosts": 0o644, "open/x": 0o644,
		"mixed/ok": 0o644, "mixed/key": 0o640, "private/k": 0o644,
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "private"), 0o700)
	os.Symlink("secret", filepath.Join(root, "link"))
	etcWalk.Lock()
	etcWalk.at = time.Time{}
	etcWalk.Unlock()
	for _, pure := range []bool{true, false} {
		var c nsinit.Config
		if err := planEtc(&c, root, pure); err != nil {
			t.Fatal(err)
		}
		st, _ := stockFiles()
		got := map[string]string{}
		for _, b := range c.Binds {
			if b.RW {
				t.Errorf("bind %+v is writable", b)
			}
			src := b.Src
			if rel, err := filepath.Rel(st, b.Src); err == nil && !filepath.IsAbs(rel) && rel[0] != '.' {
				src = "stock:" + rel
			}
			got[b.Dst] = src
		}
		want := map[string]string{
			"/etc":           root,
			"/etc/secret":    "stock:empty",
			"/etc/mixed/key": "stock:empty",
			"/etc/private":   "stock:empty.d",
			"/etc/passwd":    "stock:passwd",
		}
		if pure {
			want["/etc/hosts"] = "stock:hosts"
		}
		if len(got) != len(want) {
			t.Errorf("pure=%v: binds %v, want %v", pure, got, want)
		}
		for dst, src := range want {
			if got[dst] != src {
				t.Errorf("pure=%v: %s bound from %q, want %q", pure, dst, got[dst], src)
			}
		}
	}
	for name, want := range stockContent {
		b, err := os.ReadFile(filepath.Join(mustStock(t), name))
		if err != nil || string(b) != want {
			t.Errorf("stock %s = %q, %v", name, b, err)
		}
	}
}

func mustStock(t *testing.T) string {
	st, err := stockFiles()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The default sandbox must not break ordinary runtimes (issue 11 item 3):
// the host's /etc read-only minus the deny list, /opt; never shadow, ssh
// keys, ssl/private or berth's own.
func TestPlanCoversTheHostsSecretsInEtc(t *testing.T) {
	inv := runner.Invocation{WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir()}
	spec := proc.Spec{Path: "/bin/true", Dir: "/mnt/work"}
	c, err := plan(spec, inv, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := mustStock(t)
	covered := map[string]bool{}
	shown := map[string]bool{}
	for _, b := range c.Binds {
		shown[b.Dst] = true
		if filepath.Dir(b.Src) == st {
			covered[b.Dst] = true
		}
	}
	if !shown["/etc"] {
		t.Error("the host's /etc is not shown")
	}
	if _, err := os.Stat("/opt"); err == nil && !shown["/opt"] && !slices.ContainsFunc(c.Symlinks, func(l nsinit.Symlink) bool { return l.Path == "/opt" }) {
		t.Error("/opt is not shown")
	}
	for _, p := range append(slices.Clone(etcDeny), "/etc/shadow", "/etc/ssh", "/etc/ssl/private") {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		if !covered[p] {
			t.Errorf("%s exists on the host but is not covered", p)
		}
	}
}

func TestUserEnvGivesAWritableHomeAndKeepsWhatIsSet(t *testing.T) {
	got := userEnv([]string{"PATH=/usr/bin", "USER=addon"})
	want := []string{"PATH=/usr/bin", "USER=addon", "HOME=/tmp", "LOGNAME=root"}
	if !slices.Equal(got, want) {
		t.Errorf("userEnv = %q, want %q", got, want)
	}
}

// BenchmarkPlan measures building a run's plan, the (cached) /etc walk
// included, and the walk alone uncached.
func BenchmarkPlan(b *testing.B) {
	inv := runner.Invocation{WorkDir: b.TempDir(), OutputDir: b.TempDir(), CacheDir: b.TempDir()}
	spec := proc.Spec{Path: "/bin/true", Dir: "/mnt/work"}
	b.Run("plan", func(b *testing.B) {
		for b.Loop() {
			if _, err := plan(spec, inv, true, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("the /etc walk uncached", func(b *testing.B) {
		for b.Loop() {
			etcWalk.Lock()
			etcWalk.at = time.Time{}
			etcWalk.Unlock()
			hiddenEtc("/etc")
		}
	})
}
