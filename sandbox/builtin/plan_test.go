package builtin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
)

func TestNamespaceBlockerNamesTheKnobAndTheFix(t *testing.T) {
	cases := []struct {
		name  string
		knobs map[string]string
		euid  int
		want  string
	}{
		{"nothing forbids them", map[string]string{"/proc/sys/user/max_user_namespaces": "15000"}, 1000, ""},
		{"max_user_namespaces 0 forbids them for everyone", map[string]string{"/proc/sys/user/max_user_namespaces": "0"}, 0, "sysctl -w user.max_user_namespaces=15000"},
		{"Debian's switch forbids them for users", map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0"}, 1000, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"Debian's switch does not concern root", map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0"}, 0, ""},
		{"Ubuntu's AppArmor restriction forbids them for users", map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}, 1000, "kernel.apparmor_restrict_unprivileged_userns=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := namespaceBlocker(func(p string) string { return c.knobs[p] }, c.euid)
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Errorf("got %q, want it to contain %q", got, c.want)
			}
		})
	}
}

func TestPlanShowsOnlyWhatTheAddonNeeds(t *testing.T) {
	work, out, cache := t.TempDir(), t.TempDir(), t.TempDir()
	inv := runner.Invocation{WorkDir: work, OutputDir: out, CacheDir: cache}
	spec := proc.Spec{Path: "/mnt/work/addons/x-1/run.sh", Args: []string{"/mnt/work/arguments/user-input"}, Dir: "/mnt/work"}
	for _, net := range []bool{false, true} {
		name := "a pure addon gets no resolv.conf"
		if net {
			name = "a networking addon gets the host's resolv.conf"
		}
		t.Run(name, func(t *testing.T) {
			c, err := plan(spec, inv, !net, []string{"/opt/extra-that-does-not-exist"})
			if err != nil {
				t.Fatal(err)
			}
			binds := map[string]nsinit.Bind{}
			for _, b := range c.Binds {
				binds[b.Dst] = b
			}
			links := map[string]bool{}
			for _, l := range c.Symlinks {
				links[l.Path] = true
			}
			for dst, src := range map[string]string{"/mnt/work": work, "/mnt/output": out, "/mnt/cache": cache} {
				real, _ := filepath.EvalSymlinks(src)
				if b, ok := binds[dst]; !ok || !b.RW || b.Src != real {
					t.Errorf("%s: bind %+v, want %s read-write", dst, b, real)
				}
			}
			if b, ok := binds["/usr"]; !ok || b.RW {
				t.Errorf("/usr: %+v, want a read-only bind", b)
			}
			if fi, err := os.Lstat("/bin"); err == nil && fi.Mode()&os.ModeSymlink != 0 && !links["/bin"] {
				t.Error("the host's /bin is a symlink (merged /usr) but the plan does not keep it as one")
			}
			st, err := stockFiles()
			if err != nil {
				t.Fatal(err)
			}
			for dst, b := range binds {
				// /etc is shown whole; its secrets are covered with berth's
				// own empty file or directory (TestPlanCoversTheHostsSecretsInEtc).
				secret := strings.HasPrefix(dst, "/etc/ssl/private") || dst == "/etc/shadow"
				if secret && filepath.Dir(b.Src) != st || dst == "/etc/ssl" || dst == "/home" || dst == "/root" {
					t.Errorf("the plan binds %s (%+v)", dst, b)
				}
			}
			if _, ok := binds["/opt/extra-that-does-not-exist"]; ok {
				t.Error("a missing extra path was bound")
			}
			// A networking addon reaches the host's resolv.conf: in the
			// /etc bind, or its symlink's target bound at its own place.
			if real, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && net && !strings.HasPrefix(real, "/etc/") {
				if _, ok := binds[real]; !ok {
					t.Errorf("resolv.conf leads to %s, which is not bound", real)
				}
			}
			if _, ok := binds["/etc/hosts"]; ok == net {
				t.Errorf("berth's own /etc/hosts bound = %v for networking = %v", ok, net)
			}
			if c.Version != nsinit.Version {
				t.Errorf("Version = %d, want %d", c.Version, nsinit.Version)
			}
			if c.LoopbackOnly == net {
				t.Errorf("LoopbackOnly = %v for networking = %v", c.LoopbackOnly, net)
			}
		})
	}
}
