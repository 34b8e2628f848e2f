package svcmgr

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
)

func TestTheStateDirectoryIsTheCLIsElseUnderTheDataDir(t *testing.T) {
	for _, tt := range []struct {
		name string
		euid int
		xdg  string
		want string
	}{
		{"root uses /run/berth/services", 0, "", "/run/berth/services/web"},
		{"a user with a runtime directory uses it", 1000, "/run/user/1000", "/run/user/1000/berth/services/web"},
		{"a system user without one uses the data dir", 998, "", "/var/lib/berth/services/web/state"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultStateDir("/var/lib/berth", "web", tt.euid, tt.xdg); got != tt.want {
				t.Errorf("= %s, want %s", got, tt.want)
			}
		})
	}
}

// newTestManager has no engine: every start fails at the plan.
func newTestManager(t *testing.T, entries ...Entry) (*Manager, string) {
	data := t.TempDir()
	states := t.TempDir()
	m := New(Config{DataDir: data, Entries: entries,
		Engine:   func(string) *engine.Client { return engine.New("/nonexistent/berth-test-engine") },
		StateDir: func(p string) string { return filepath.Join(states, p) }})
	t.Cleanup(m.Close)
	return m, data
}

func write(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartReportsEveryProblemWithoutStopping(t *testing.T) {
	dir := t.TempDir()
	noKey := write(t, filepath.Join(dir, "a.yaml"), "backend: docker\ncontainers:\n  x: {image: busybox}\n")
	keyed := write(t, filepath.Join(dir, "b.yaml"), "backend: docker\nproject: web\ncontainers:\n  y: {image: busybox}\n")
	again := write(t, filepath.Join(dir, "c.yaml"), "backend: docker\nproject: web\ncontainers:\n  z: {image: busybox}\n")
	invalid := write(t, filepath.Join(dir, "d.yaml"), "backend: docker\nproject: broken\ncontainers:\n  z: {imag: busybox}\n")
	m, data := newTestManager(t, Entry{File: noKey}, Entry{File: keyed}, Entry{File: again}, Entry{File: invalid})
	// A handed-over file that no longer parses (say after an upgrade).
	write(t, filepath.Join(data, "services", "old", "meta.json"), `{"project": "old", "file": "/srv/old/services.yaml"}`)
	write(t, filepath.Join(data, "services", "old", "services.yaml"), "containers: {a: {}}\n")
	m.Start(context.Background())

	got := map[string]Project{}
	for _, p := range m.List() {
		if _, dup := got[p.Project]; dup {
			got[p.Project+" (refused)"] = p
			continue
		}
		got[p.Project] = p
	}
	for name, want := range map[string]string{
		"default":       "berth-test-engine", // a file without project: is the default project; no engine
		"web":           "berth-test-engine",
		"web (refused)": `services[2]: project "web" is already services[1]'s`,
		"broken":        `unknown field "imag"`,   // read leniently for its project
		"old":           "/srv/old/services.yaml", // names the file it was handed over as
	} {
		p, ok := got[name]
		if !ok {
			t.Errorf("%s is not listed: %+v", name, got)
			continue
		}
		if p.State != Failed || !strings.Contains(p.Error, want) {
			t.Errorf("%s = %s %q, want failed with %q", name, p.State, p.Error, want)
		}
	}
	if p := got["old"]; p.Source != SourceAPI {
		t.Errorf("old's source = %s", p.Source)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.projects["web"]; p.retryAt.IsZero() || p.retryDelay != retryFirst {
		t.Errorf("web, whose engine is missing, is not started again (retry at %v, delay %v)", p.retryAt, p.retryDelay)
	}
	if p := m.projects["broken"]; !p.retryAt.IsZero() {
		t.Errorf("broken, whose file is invalid, is started again at %v", p.retryAt)
	}
}

func TestABadPutKeepsNothing(t *testing.T) {
	m, data := newTestManager(t)
	m.Start(context.Background())
	for _, tt := range []struct {
		name string
		req  PutRequest
		want string
	}{
		{"a relative file", PutRequest{File: "services.yaml", Spec: "containers: {}"}, "file:"},
		{"an invalid file", PutRequest{File: "/srv/x/services.yaml", Spec: "containers:\n  a: {imag: x}\n"}, "/srv/x/services.yaml"},
		{"an unknown name", PutRequest{File: "/srv/x/services.yaml", Spec: "backend: docker\ncontainers:\n  a: {image: x}\n", Names: []string{"b"}}, "b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Put(context.Background(), "x", tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(data, "services", "x")); !os.IsNotExist(err) {
				t.Errorf("something was kept: %v", err)
			}
		})
	}
}
