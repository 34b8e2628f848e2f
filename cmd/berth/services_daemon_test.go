package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeServicesDaemon answers the daemon's services API for one project
// (web) the way the contract says, for the CLI's own tests: which
// request goes where, what is printed, which exit status. The real
// daemon is TestServicesDetachedThroughTheDaemon's.
type fakeServicesDaemon struct {
	mu   sync.Mutex
	reqs []string
	put  map[string]any
}

const fakeWeb = `{"project":"web","file":"/srv/web/services.yaml","source":"api","stateDir":"/var/lib/berth/services/web","state":"running",
"services":[{"name":"db","state":"running","since":"2026-12-03T12:00:00Z","containerId":"c0ffee","pid":42,"health":"healthy","restarts":0},
{"name":"app","state":"running","since":"2026-12-03T12:00:01Z","containerId":"beef","pid":43,"restarts":0}]}`

func (f *fakeServicesDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer fake-token-0123456789" {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":"unauthorized","message":"missing or invalid API token"}}`)
		return
	}
	switch {
	case r.URL.Path == "/v1/services/web" && r.Method == "GET":
		io.WriteString(w, fakeWeb)
	case r.URL.Path == "/v1/services/web" && r.Method == "DELETE":
		io.WriteString(w, strings.TrimSuffix(fakeWeb, "}")+`,"stopped":["app","db"],"removed":[],"networks":["webnet"],"forgotten":true,"note":"the handed-over file is forgotten: the daemon no longer supervises the project"}`)
	case r.URL.Path == "/v1/services/web" && r.Method == "PUT":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.put = body
		f.mu.Unlock()
		w.WriteHeader(201)
		io.WriteString(w, fakeWeb)
	case r.URL.Path == "/v1/services/bad" && r.Method == "PUT":
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"code":"invalid_spec","message":"/srv/bad.yaml: containers.app.image: required"}}`)
	case r.URL.Path == "/v1/services/held" && r.Method == "PUT":
		w.WriteHeader(409)
		io.WriteString(w, `{"error":{"code":"conflict","message":"project held is declared in berth.yaml (services:)"}}`)
	case r.URL.Path == "/v1/services/web/restart" && r.Method == "POST":
		io.WriteString(w, fakeWeb)
	case r.URL.Path == "/v1/services/web/logs" && r.Method == "GET":
		io.WriteString(w, "db  | ready\napp | serving\n")
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no services project `+strings.TrimPrefix(r.URL.Path, "/v1/services/")+`"}}`)
	}
}

func (f *fakeServicesDaemon) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

// The services commands without a daemon of their own: up -d hands the
// file over, status, logs, restart and down ask the daemon when no local
// supervisor holds the project, and each failure says what to do.
func TestServicesCommandsTalkToTheDaemonsServicesAPI(t *testing.T) {
	fake := &fakeServicesDaemon{}
	ts := httptest.NewServer(fake)
	defer ts.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("fake-token-0123456789\n"), 0o600)
	file := filepath.Join(dir, "services.yaml")
	text := "backend: docker\nproject: web\ncontainers:\n  db: {image: d}\n  app: {image: a, dependsOn: [db]}\n"
	os.WriteFile(file, []byte(text), 0o644)
	state := filepath.Join(dir, "state") // no local supervisor
	api := []string{"--server", ts.URL, "--token-file", tokenFile, "--state-dir", state, "--project", "web"}
	env := []string{"BERTH_SERVICES_PROJECT=", "BERTH_SERVICES_STATE_DIR=", "BERTH_SERVER=", "BERTH_TOKEN="}
	svc := func(args ...string) cliResult {
		t.Helper()
		return berthEnv(t, env, append([]string{"services"}, args...)...)
	}

	t.Run("up -d sends the file's absolute path, its text, the names and replace, and prints the daemon's answer", func(t *testing.T) {
		rel, _ := filepath.Rel(mustGetwd(t), file)
		r := svc("up", "-d", "-f", rel, "--replace", "--server", ts.URL, "--token-file", tokenFile, "app")
		if r.code != 0 {
			t.Fatalf("up -d: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		if fake.put["file"] != file || fake.put["spec"] != text || fake.put["replace"] != true {
			t.Errorf("the daemon got %v", fake.put)
		}
		if names, _ := fake.put["names"].([]any); len(names) != 1 || names[0] != "app" {
			t.Errorf("names = %v", fake.put["names"])
		}
		for _, want := range []string{"project web is supervised by the berth daemon at " + ts.URL + ": running", "/srv/web/services.yaml (handed over with up -d)", "db ", "health healthy", "app "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("up -d output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("up -d --wait returns once every container runs", func(t *testing.T) {
		if r := svc("up", "-d", "--wait", "-f", file, "--server", ts.URL, "--token-file", tokenFile); r.code != 0 || !strings.Contains(r.stdout, "running") {
			t.Errorf("up -d --wait: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("status, logs, restart and down ask the daemon when no local supervisor holds the project", func(t *testing.T) {
		r := svc(append([]string{"status", "-v"}, api...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "supervised by the berth daemon") || !strings.Contains(r.stderr, "which=daemon") {
			t.Errorf("status: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		r = svc(append([]string{"status", "--json"}, api...)...)
		var p struct {
			Project  string
			Services []struct{ Name, State string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Project != "web" || len(p.Services) != 2 {
			t.Errorf("status --json: %v\n%s", err, r.stdout)
		}
		if r := svc(append([]string{"logs", "--tail", "5"}, api...)...); r.code != 0 || r.stdout != "db  | ready\napp | serving\n" {
			t.Errorf("logs: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		if r := svc(append([]string{"restart", "db"}, api...)...); r.code != 0 || !strings.Contains(r.stdout, "restarting db") {
			t.Errorf("restart: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		if r := svc(append([]string{"down", "-f", file}, api...)...); r.code != 0 || !strings.Contains(r.stdout, "removed db") || !strings.Contains(r.stdout, "removed app") ||
			!strings.Contains(r.stdout, "removed network webnet") || !strings.Contains(r.stderr, "no longer supervises") {
			t.Errorf("down: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		reqs := strings.Join(fake.requests(), "\n")
		for _, want := range []string{"GET /v1/services/web/logs?tail=5", "POST /v1/services/web/restart?name=db", "DELETE /v1/services/web"} {
			if !strings.Contains(reqs, want) {
				t.Errorf("the daemon never saw %s:\n%s", want, reqs)
			}
		}
	})

	failures := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"up -d without a daemon names the address and how to start one", []string{"up", "-d", "-f", file, "--server", "http://127.0.0.1:1"},
			1, []string{"no berth daemon answers at http://127.0.0.1:1", "berth serve", "--server"}},
		{"up -d without the token says how to give it", []string{"up", "-d", "-f", file, "--server", ts.URL},
			2, []string{"refused the request", "--token-file", "$BERTH_TOKEN"}},
		{"up -d of a file the daemon refuses shows its message", []string{"up", "-d", "-f", file, "--project", "bad", "--server", ts.URL, "--token-file", tokenFile},
			2, []string{"/srv/bad.yaml: containers.app.image: required"}},
		{"up -d of a project the daemon will not take says who holds it", []string{"up", "-d", "-f", file, "--project", "held", "--server", ts.URL, "--token-file", tokenFile},
			2, []string{"declared in berth.yaml", "409"}},
		{"up -d with --state-dir is refused: the daemon has its own", []string{"up", "-d", "-f", file, "--state-dir", state, "--server", ts.URL},
			2, []string{"--state-dir", "with -d"}},
		{"--wait without -d is refused", []string{"up", "--wait", "-f", file},
			2, []string{"--wait and --timeout go with -d"}},
		{"status of a project neither knows says where else to look", []string{"status", "--project", "nowhere", "--server", ts.URL, "--token-file", tokenFile, "--state-dir", state},
			3, []string{"no berth services state", "does not supervise project nowhere either", "--server", "$BERTH_SERVER"}},
		{"restart without any supervisor says no daemon answers", []string{"restart", "db", "--server", "http://127.0.0.1:1", "--state-dir", state},
			3, []string{"no `berth services up` is running", "no berth daemon answers at http://127.0.0.1:1 either"}},
		{"logs of a project neither knows", []string{"logs", "--project", "nowhere", "--server", ts.URL, "--token-file", tokenFile, "--state-dir", state},
			3, []string{"does not supervise project nowhere either"}},
		{"status with a wrong token says how to give one", []string{"status", "--server", ts.URL, "--state-dir", state},
			3, []string{"refused the token", "--token-file"}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			r := svc(tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
