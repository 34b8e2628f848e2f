package systemd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/golden"
	"github.com/berth-dev/berth/service/spec"
	"github.com/berth-dev/berth/service/systemd"
)

func render(units []systemd.Unit) string {
	var b strings.Builder
	for _, u := range units {
		fmt.Fprintf(&b, "### %s\n%s", u.Name, u.Content)
	}
	return b.String()
}

func TestUnitsMatchGoldenFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			got := render(systemd.Units(f, systemd.Options{}))
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".golden", []byte(got))
		})
	}
}

func TestUnitsFollowNixOSRules(t *testing.T) {
	f, err := spec.Load("testdata/docker-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, u := range systemd.Units(f, systemd.Options{}) {
		units[u.Name] = u.Content
	}
	checks := []struct {
		name, unit, line string
		present          bool
	}{
		{"a dependency is After= and Requires=", "docker-app.service", "Requires=docker-db.service", true},
		{"docker units start after docker", "docker-db.service", "After=docker.service docker.socket network-online.target", true},
		{"a loaded image needs no network", "berth-local.service", "network-online.target", false},
		{"autoStart false is not wanted by multi-user", "berth-local.service", "WantedBy=multi-user.target", false},
		{"autoStart is wanted by multi-user", "docker-db.service", "WantedBy=multi-user.target", true},
		{"start never times out", "docker-db.service", "TimeoutStartSec=0", true},
		{"the pre-start script comes first, then preStart entries", "docker-app.service", "ExecStartPre=/bin/sh -c \"mkdir -p /var/lib/app && echo ready\"", true},
		{"the password goes on stdin", "docker-app.service", "--password-stdin < /etc/passwd", true},
		{"systemd specifiers and variables are escaped", "docker-app.service", `"100%% $$HOME \"quoted\" it's"`, true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Contains(units[c.unit], c.line); got != c.present {
				t.Errorf("%s contains %q = %v, want %v\n%s", c.unit, c.line, got, c.present, units[c.unit])
			}
		})
	}
	t.Run("ExecStartPre order is script then entries", func(t *testing.T) {
		var pre []string
		for _, l := range strings.Split(units["docker-app.service"], "\n") {
			if strings.HasPrefix(l, "ExecStartPre=") {
				pre = append(pre, l)
			}
		}
		if len(pre) != 3 || !strings.Contains(pre[0], "rm -f app") || !strings.Contains(pre[2], "/bin/true --flag") {
			t.Errorf("ExecStartPre lines = %q", pre)
		}
	})
}

func TestGeneratedUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file)+" verifies", func(t *testing.T) {
			f, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			// verify checks that executables exist: use this host's engine.
			o := systemd.Options{}
			if p, err := exec.LookPath(f.Backend); err == nil {
				o.EnginePath = p
			} else {
				o.EnginePath = "/bin/true"
			}
			dir := t.TempDir()
			var paths []string
			for _, u := range systemd.Units(f, o) {
				p := filepath.Join(dir, u.Name)
				if err := os.WriteFile(p, []byte(u.Content), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}
