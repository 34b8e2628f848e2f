package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
)

// startDaemon runs a daemon in the test process with the hello addon and
// a run configuration for existing-item; it returns the daemon's URL.
func startDaemon(t *testing.T) string { t.Helper(); return startDaemonWith(t, nil) }

// startDaemonWith is startDaemon with the daemon's settings changed by
// edit first (nil: the defaults).
func startDaemonWith(t *testing.T, edit func(*settings.Serve)) string {
	t.Helper()
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.WorkingDir, cfg.CacheDir, cfg.DataDir = filepath.Join(tmp, "work"), filepath.Join(tmp, "cache"), filepath.Join(tmp, "data")
	cfg.Runners, cfg.Sandbox = []string{"trivial"}, "none"
	cfg.Outbound.AllowLoopback = true // the tests' addon servers listen on 127.0.0.1
	set := settings.Default()
	set.PollInterval = settings.Duration(20 * time.Millisecond)
	if edit != nil {
		edit(&set)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, set, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	post := func(path string, body any, out any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if len(set.Tokens) > 0 {
			req.Header.Set("Authorization", "Bearer "+set.Tokens[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s = %d", path, resp.StatusCode)
		}
		json.NewDecoder(resp.Body).Decode(out)
	}
	hello, _ := filepath.Abs("../../examples/hello")
	var a struct{ ID string }
	post("/v1/addons", map[string]string{"path": hello}, &a)
	post("/v1/run-configs", map[string]any{"name": "greet", "enabled": true, "trigger": []string{"existing-item"},
		"addons": []map[string]string{{"addonId": a.ID, "args": "from the CLI"}}}, &struct{}{})
	return url
}

func TestRunsAndEventsTalkToTheDaemon(t *testing.T) {
	url := startDaemon(t)
	item := filepath.Join(t.TempDir(), "item.json")
	os.WriteFile(item, []byte(`{"id":"cli-1"}`), 0o644)

	sent := berth(t, "events", "send", "--server", url, "--trigger", "existing-item", "--item", item, "--wait", "--timeout", "1m")
	if sent.code != 0 || !strings.Contains(sent.stdout, "succeeded") {
		t.Fatalf("events send = %d\n%s%s", sent.code, sent.stdout, sent.stderr)
	}
	runID := strings.Fields(sent.stdout)[0]

	t.Run("list shows the run", func(t *testing.T) {
		r := berth(t, "runs", "list", "--server", url, "--json")
		var list struct{ Runs []struct{ ID, State string } }
		err := json.Unmarshal([]byte(r.stdout), &list)
		runs := list.Runs
		if err != nil || len(runs) != 1 || runs[0].ID != runID || runs[0].State != "succeeded" {
			t.Fatalf("runs list = %d %s (%v)", r.code, r.stdout, err)
		}
		table := berth(t, "runs", "list", "--server", url, "--state", "succeeded")
		if !strings.Contains(table.stdout, runID) || !strings.Contains(table.stdout, "hello-1.0.0") {
			t.Fatalf("runs list table:\n%s", table.stdout)
		}
	})
	t.Run("list follows the pages to every run", func(t *testing.T) {
		for range 4 {
			if r := berth(t, "events", "send", "--server", url, "--trigger", "existing-item", "--item", item); r.code != 0 {
				t.Fatalf("events send = %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		}
		for _, c := range []struct {
			args []string
			want int
		}{
			{[]string{"--limit", "0", "--page-size", "2"}, 5},
			{[]string{"--limit", "3", "--page-size", "2"}, 3},
			{[]string{"--limit", "0"}, 5},
		} {
			r := berth(t, append([]string{"runs", "list", "--server", url, "--json"}, c.args...)...)
			var list struct{ Runs []struct{ ID string } }
			err := json.Unmarshal([]byte(r.stdout), &list)
			runs := list.Runs
			if err != nil {
				t.Fatalf("runs list %v = %d %s (%v)", c.args, r.code, r.stdout, err)
			}
			seen := map[string]bool{}
			for _, x := range runs {
				seen[x.ID] = true
			}
			if len(runs) != c.want || len(seen) != c.want {
				t.Fatalf("runs list %v gave %d runs (%d distinct), want %d", c.args, len(runs), len(seen), c.want)
			}
		}
		if r := berth(t, "runs", "list", "--server", url, "--page-size", "0"); r.code != 2 {
			t.Fatalf("runs list --page-size 0 = %d, want 2", r.code)
		}
	})
	t.Run("list --json and show --json print what the API sends, keys in the API's order", func(t *testing.T) {
		// The runs of the events above (sent without --wait) must be
		// final: a run ending between the two reads differs.
		var apiList []byte
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			apiList = apiGet(t, url+"/v1/runs")
			flat := compactJSON(t, apiList)
			if !strings.Contains(flat, `"state":"queued"`) && !strings.Contains(flat, `"state":"running"`) || time.Now().After(deadline) {
				break
			}
		}
		var api struct{ Runs json.RawMessage }
		if err := json.Unmarshal(apiList, &api); err != nil {
			t.Fatal(err)
		}
		r := berth(t, "runs", "list", "--server", url, "--json", "--limit", "0")
		var cli struct{ Runs json.RawMessage }
		if err := json.Unmarshal([]byte(r.stdout), &cli); err != nil || r.code != 0 {
			t.Fatalf("runs list --json = %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		if a, c := compactJSON(t, api.Runs), compactJSON(t, cli.Runs); a != c {
			t.Errorf("runs list --json's runs differ from the API's:\napi %s\ncli %s", a, c)
		}
		for _, args := range [][]string{{"runs", "show", "--server", url, runID}, {"runs", "show", "--server", url, "--json", runID}} {
			r := berth(t, args...)
			if a, c := compactJSON(t, apiGet(t, url+"/v1/runs/"+runID)), compactJSON(t, []byte(r.stdout)); r.code != 0 || a != c {
				t.Errorf("%v = %d, differs from the API's:\napi %s\ncli %s%s", args, r.code, a, c, r.stderr)
			}
		}
	})
	t.Run("--run-config filters by run configuration and leaves --config to the global file", func(t *testing.T) {
		var list struct{ Runs []struct{ ConfigID string } }
		if err := json.Unmarshal(apiGet(t, url+"/v1/runs"), &list); err != nil || len(list.Runs) == 0 || list.Runs[0].ConfigID == "" {
			t.Fatalf("API runs = %+v (%v)", list, err)
		}
		r := berth(t, "runs", "list", "--server", url, "--json", "--run-config", list.Runs[0].ConfigID)
		var got struct{ Runs []struct{ ID string } }
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || len(got.Runs) == 0 {
			t.Fatalf("runs list --run-config = %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		r = berth(t, "runs", "list", "--server", url, "--json", "--run-config", "rc_nope")
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Runs) != 0 {
			t.Fatalf("runs list --run-config rc_nope = %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		help := berth(t, "runs", "list", "--help").stdout
		if !strings.Contains(help, "--config string") || !strings.Contains(help, "configuration file") {
			t.Errorf("runs list --help does not offer the global --config FILE:\n%s", help)
		}
	})
	t.Run("show prints the result with the output", func(t *testing.T) {
		r := berth(t, "runs", "show", "--server", url, runID)
		if r.code != 0 || !strings.Contains(r.stdout, `"itemId": "cli-1"`) {
			t.Fatalf("runs show = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("output prints the whole output as JSON", func(t *testing.T) {
		r := berth(t, "runs", "output", "--server", url, runID)
		var out struct{ Commands []struct{ ItemID string } }
		if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil || len(out.Commands) == 0 || out.Commands[0].ItemID != "cli-1" {
			t.Fatalf("runs output = %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
		}
	})
	t.Run("logs print the addon's stderr", func(t *testing.T) {
		r := berth(t, "runs", "logs", "--server", url, runID)
		if r.code != 0 || !strings.Contains(r.stdout, "greeting is 'from the CLI'") {
			t.Fatalf("runs logs = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("cancelling a finished run is refused with exit 2", func(t *testing.T) {
		r := berth(t, "runs", "cancel", "--server", url, runID)
		if r.code != 2 || !strings.Contains(r.stderr, "conflict") {
			t.Fatalf("runs cancel = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("an unknown run is exit 2", func(t *testing.T) {
		r := berth(t, "runs", "show", "--server", url, "run_nope")
		if r.code != 2 || !strings.Contains(r.stderr, "not_found") {
			t.Fatalf("runs show = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("an event no configuration listens to queues nothing", func(t *testing.T) {
		r := berth(t, "events", "send", "--server", url, "--trigger", "final-reprocess-item")
		if r.code != 0 || !strings.Contains(r.stdout, "no enabled run configuration") {
			t.Fatalf("events send = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func apiGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %v", url, resp.StatusCode, err)
	}
	return b.Bytes()
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return out.String()
}

// TestATokenFileReadsTheSameForServeAndTheCLI gives one file, with a
// comment and a blank line, to the daemon and to the CLI's --token-file.
func TestATokenFileReadsTheSameForServeAndTheCLI(t *testing.T) {
	const token = "tok-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# berth API tokens, one a line\n\n  "+token+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startDaemonWith(t, func(s *settings.Serve) { s.TokenFile = file; s.Tokens = []string{token} })
	r := berth(t, "runs", "list", "--server", url, "--json", "--token-file", file)
	if r.code != 0 {
		t.Fatalf("runs list --token-file = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, token) {
		t.Errorf("the token reached stderr: %s", r.stderr)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("# nothing but a comment\n"), 0o600)
	if r := berth(t, "runs", "list", "--server", url, "--token-file", empty); r.code != 2 || !strings.Contains(r.stderr, empty) {
		t.Errorf("a token file without a token = %d, want 2 naming the file:\n%s", r.code, r.stderr)
	}
}

func TestEventsSendIsIdempotentAndShowsLogs(t *testing.T) {
	url := startDaemon(t)
	item := filepath.Join(t.TempDir(), "item.json")
	os.WriteFile(item, []byte(`{"id":"cli-2"}`), 0o644)
	t.Run("a resend with the same --idempotency-key queues no new run", func(t *testing.T) {
		var ids []string
		for range 2 {
			r := berth(t, "events", "send", "--server", url, "--trigger", "existing-item", "--item", item, "--idempotency-key", "cli-key-1")
			if r.code != 0 {
				t.Fatalf("events send = %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			ids = append(ids, strings.Fields(r.stdout)[0])
		}
		if ids[0] != ids[1] {
			t.Fatalf("the resend queued %s, the first send %s", ids[1], ids[0])
		}
		list := berth(t, "runs", "list", "--server", url, "--json")
		var l struct{ Runs []struct{ ID string } }
		if err := json.Unmarshal([]byte(list.stdout), &l); err != nil || len(l.Runs) != 1 {
			t.Fatalf("runs list = %s (%v), want one run", list.stdout, err)
		}
	})
	t.Run("--wait --logs prints the runs' log lines to stderr", func(t *testing.T) {
		r := berth(t, "events", "send", "--server", url, "--trigger", "existing-item", "--item", item, "--wait", "--logs", "--timeout", "1m")
		if r.code != 0 || !strings.Contains(r.stderr, "greeting is 'from the CLI'") || !strings.Contains(r.stdout, "succeeded") {
			t.Fatalf("events send --wait --logs = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		runID := strings.Fields(r.stdout)[0]
		if !strings.Contains(r.stderr, runID+": ") {
			t.Errorf("the log lines do not name their run %s:\n%s", runID, r.stderr)
		}
		f := berth(t, "runs", "logs", "-f", "--long", "--server", url, runID)
		if f.code != 0 || !strings.Contains(f.stdout, "stderr") || !strings.Contains(f.stdout, "greeting is 'from the CLI'") || !strings.Contains(f.stdout, "attempt 1 of") {
			t.Fatalf("runs logs -f --long = %d\n%s%s", f.code, f.stdout, f.stderr)
		}
	})
	t.Run("--logs without --wait is bad input", func(t *testing.T) {
		if r := berth(t, "events", "send", "--server", url, "--trigger", "existing-item", "--logs"); r.code != 2 {
			t.Fatalf("events send --logs = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("runs --help offers following a run's log", func(t *testing.T) {
		r := berth(t, "runs", "logs", "--help")
		if !strings.Contains(r.stdout, "--follow") || !strings.Contains(r.stdout, "until the run ends") {
			t.Fatalf("runs logs --help:\n%s", r.stdout)
		}
	})
}
