package main_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/server/settings"
)

// apiGet returns the daemon's answer to GET path, compacted.
func apiAnswer(t *testing.T, url, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, data)
	}
	return compactOf(t, data)
}

func compactOf(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return buf.String()
}

// upperAddon writes an addon folder whose script (mode 0755, which the
// zip must keep) prints a tag command with its user input in capitals.
func upperAddon(t *testing.T, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "upper")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: upper, version: '"+version+"', description: shouts}\ntriggers: [existing-item, final-process-item, scheduled]\nrunner: {trivial: {enable: true, exec: bin/run.sh}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bin", "run.sh"), []byte(`#!/bin/sh
t=$(tr a-z A-Z < "$1")
ls "$ITEM_ORIGINAL_DIR" >&2
printf '{"commands":[{"command":"item-update","itemId":"i1","actions":[{"action":"add-tags","tags":["%s"]}]}]}\n' "$t"
`), 0o755)
	return dir
}

func TestAddonsCommandsManageTheDaemonsAddons(t *testing.T) {
	const token = "cli-addons-token-0123456789"
	url := startDaemonWith(t, func(s *settings.Serve) { s.Tokens = []string{token} })
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("# the daemon's token\n"+token+"\n"), 0o600)
	api := []string{"--server", url, "--token-file", tokenFile}
	run := func(args ...string) cliResult { t.Helper(); return berth(t, append(args, api...)...) }

	var upperID string
	t.Run("install zips and uploads a local folder, keeping the script executable", func(t *testing.T) {
		r := run("addons", "install", upperAddon(t, "1.0"), "--json")
		var a struct {
			ID, Name, Source string
			UsableRunners    []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &a); r.code != 0 || err != nil || a.Name != "upper" || a.Source != "upload" {
			t.Fatalf("install = %d %s %s", r.code, r.stdout, r.stderr)
		}
		upperID = a.ID
		if got := compactOf(t, []byte(r.stdout)); got != apiAnswer(t, url, token, "/v1/addons/"+a.ID) {
			t.Errorf("install --json is not the API's addon:\n%s", got)
		}
	})
	t.Run("list --json is the API's list, and the table names what can run it", func(t *testing.T) {
		r := run("addons", "list", "--json")
		if r.code != 0 || compactOf(t, []byte(r.stdout)) != apiAnswer(t, url, token, "/v1/addons") {
			t.Fatalf("addons list --json = %d\n%s\nAPI: %s", r.code, r.stdout, apiAnswer(t, url, token, "/v1/addons"))
		}
		table := run("addons", "list")
		if !strings.Contains(table.stdout, "CAN RUN WITH") || !strings.Contains(table.stdout, "upper") || !strings.Contains(table.stdout, "trivial") {
			t.Fatalf("addons list:\n%s", table.stdout)
		}
	})
	t.Run("show finds an addon by name and prints its summary", func(t *testing.T) {
		r := run("addons", "show", "upper")
		for _, want := range []string{"addon: upper-1.0", "description: shouts", "can run with: trivial", "kind: pure (no network", "triggers: existing-item,final-process-item,scheduled"} {
			if !strings.Contains(squash(r.stdout), want) {
				t.Errorf("addons show lacks %q:\n%s%s", want, r.stdout, r.stderr)
			}
		}
		if r := run("addons", "show", "upper-1.0", "--json"); compactOf(t, []byte(r.stdout)) != apiAnswer(t, url, token, "/v1/addons/"+upperID) {
			t.Errorf("show name-version --json = %s", r.stdout)
		}
	})
	t.Run("install from a URL the daemon fetches", func(t *testing.T) {
		zipData := zipOf(t, upperAddon(t, "2.0"))
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(zipData) }))
		defer hs.Close()
		r := run("addons", "install", hs.URL+"/upper-2.0.zip")
		if r.code != 0 || !strings.Contains(r.stdout, "upper-2.0") || !strings.Contains(r.stdout, hs.URL) {
			t.Fatalf("install URL = %d %s %s", r.code, r.stdout, r.stderr)
		}
		if r := run("addons", "show", "upper"); r.code != 2 || !strings.Contains(r.stderr, `"upper" names 2 addons`) {
			t.Errorf("an ambiguous name = %d %s", r.code, r.stderr)
		}
		if r := run("addons", "remove", "upper-2.0"); r.code != 0 || !strings.Contains(r.stdout, "removed") {
			t.Fatalf("remove = %d %s %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("install from a path on the server, then update it from there", func(t *testing.T) {
		dir := upperAddon(t, "3.0")
		r := run("addons", "install", "--server-path", dir)
		if r.code != 0 || !strings.Contains(r.stdout, "upper-3.0") {
			t.Fatalf("install --server-path = %d %s %s", r.code, r.stdout, r.stderr)
		}
		if r := run("addons", "update", "upper-3.0"); r.code != 0 || !strings.Contains(r.stdout, "unchanged") {
			t.Fatalf("update of unchanged files = %d %s %s", r.code, r.stdout, r.stderr)
		}
		os.WriteFile(filepath.Join(dir, "README"), []byte("new\n"), 0o644)
		if r := run("addons", "update", "upper-3.0"); r.code != 0 || strings.Contains(r.stdout, "unchanged") {
			t.Fatalf("update of changed files = %d %s %s", r.code, r.stdout, r.stderr)
		}
		if r := run("addons", "remove", "upper-3.0"); r.code != 0 {
			t.Fatalf("remove = %d %s", r.code, r.stderr)
		}
	})
	t.Run("bad input is refused with exit 2 and says why", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"a missing source", []string{"addons", "install", "/does/not/exist"}, "/does/not/exist"},
			{"a relative server path", []string{"addons", "install", "--server-path", "rel/dir"}, "must be an absolute path"},
			{"an unknown addon", []string{"addons", "show", "nope"}, `no addon "nope" is installed`},
			{"an addon in use", []string{"addons", "remove", "hello"}, "addon_in_use"},
			{"a zip that is not one", []string{"addons", "install", "main.go"}, "addon_invalid"},
		} {
			r := run(c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s: %v = %d, stderr %q, want %q", c.name, c.args, r.code, r.stderr, c.want)
			}
		}
		if r := berth(t, "addons", "list", "--server", url); r.code != 2 || !strings.Contains(r.stderr, "unauthorized") {
			t.Errorf("without the token = %d %s", r.code, r.stderr)
		}
	})
}

// squash makes runs of blanks one space (tables align with several).
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func zipOf(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := zw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestConfigsCommandsManageAndRunConfigurations(t *testing.T) {
	url := startDaemon(t)
	api := []string{"--server", url}
	run := func(args ...string) cliResult { t.Helper(); return berth(t, append(args, api...)...) }
	if r := run("addons", "install", upperAddon(t, "1.0")); r.code != 0 {
		t.Fatalf("install = %d %s", r.code, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "tagger.yaml")
	os.WriteFile(file, []byte(`# addons by name, as a person writes them
name: tagger
trigger: [existing-item]
addons:
  - addonId: upper
    args: invoice
`), 0o644)

	var id string
	t.Run("create from a YAML file naming its addon by name", func(t *testing.T) {
		r := run("configs", "create", "-f", file, "--json")
		var c struct {
			ID      string
			Enabled bool
			Addons  []struct{ AddonID string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &c); r.code != 0 || err != nil || !c.Enabled || len(c.Addons) != 1 || !strings.HasPrefix(c.Addons[0].AddonID, "ad_") {
			t.Fatalf("create = %d %s %s", r.code, r.stdout, r.stderr)
		}
		id = c.ID
		if compactOf(t, []byte(r.stdout)) != apiAnswer(t, url, "", "/v1/run-configs/"+id) {
			t.Errorf("create --json is not the API's configuration")
		}
	})
	t.Run("list --json is the API's list; the table names the addons", func(t *testing.T) {
		if r := run("configs", "list", "--json"); compactOf(t, []byte(r.stdout)) != apiAnswer(t, url, "", "/v1/run-configs") {
			t.Fatalf("configs list --json = %s", r.stdout)
		}
		table := run("configs", "list").stdout
		if !strings.Contains(table, "tagger") || !strings.Contains(table, "upper-1.0") || !strings.Contains(table, "hello-1.0.0") {
			t.Fatalf("configs list:\n%s", table)
		}
	})
	t.Run("edit with flags changes only those fields, and a schedule shows its next firings", func(t *testing.T) {
		r := run("configs", "edit", "tagger", "--trigger", "scheduled", "--schedule", "@every 24h")
		if r.code != 0 || !strings.Contains(squash(r.stdout), "schedule: @every 24h") || !strings.Contains(r.stdout, "next:") || !strings.Contains(r.stdout, `args: "invoice"`) {
			t.Fatalf("edit = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if n := strings.Count(r.stdout, "next: "); n != 3 {
			t.Errorf("show lists %d next firings, want 3:\n%s", n, r.stdout)
		}
		r = run("configs", "edit", id, "--trigger", "existing-item", "--name", "tagger")
		if r.code != 0 || strings.Contains(r.stdout, "schedule") {
			t.Fatalf("dropping scheduled = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("disable and enable", func(t *testing.T) {
		for _, c := range []struct {
			cmd  string
			want bool
		}{{"disable", false}, {"enable", true}} {
			if r := run("configs", c.cmd, "tagger"); r.code != 0 || !strings.Contains(r.stdout, c.cmd+"d") {
				t.Fatalf("%s = %d %s %s", c.cmd, r.code, r.stdout, r.stderr)
			}
			var got struct{ Enabled bool }
			json.Unmarshal([]byte(apiAnswer(t, url, "", "/v1/run-configs/"+id)), &got)
			if got.Enabled != c.want {
				t.Fatalf("after %s enabled = %v", c.cmd, got.Enabled)
			}
		}
	})
	t.Run("run on an item with a file, waiting for the result", func(t *testing.T) {
		dir := t.TempDir()
		item := filepath.Join(dir, "item.json")
		scan := filepath.Join(dir, "scan.jpg")
		os.WriteFile(item, []byte(`{"id":"i1","name":"Invoice"}`), 0o644)
		os.WriteFile(scan, []byte("\xff\xd8\xff\xe0"), 0o644)
		r := run("configs", "run", "tagger", "--item", item, "--original", scan, "--wait", "--timeout", "1m", "--json")
		var got struct {
			ID, State string
			Output    struct {
				Commands []struct {
					Actions []struct{ Tags []string }
				}
			}
			Logs struct{ Lines []string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || got.State != "succeeded" {
			t.Fatalf("configs run = %d %s %s", r.code, r.stdout, r.stderr)
		}
		if len(got.Output.Commands) != 1 || got.Output.Commands[0].Actions[0].Tags[0] != "INVOICE" {
			t.Errorf("output = %+v", got.Output)
		}
		if !slices.Contains(got.Logs.Lines, "[upper] scan") {
			t.Errorf("the addon saw the originals %q, want the uploaded scan (id from its name)", got.Logs.Lines)
		}
	})
	t.Run("runs rerun queues the run again and runs list filters by trigger and addon", func(t *testing.T) {
		var list struct {
			Runs []struct{ ID, Trigger string }
		}
		json.Unmarshal([]byte(apiAnswer(t, url, "", "/v1/runs?trigger=manual")), &list)
		if len(list.Runs) != 1 {
			t.Fatalf("manual runs = %+v", list.Runs)
		}
		r := run("runs", "rerun", list.Runs[0].ID)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "run_") {
			t.Fatalf("runs rerun = %d %s %s", r.code, r.stdout, r.stderr)
		}
		again := strings.Fields(r.stdout)[0]
		var a struct{ ID string }
		json.Unmarshal([]byte(run("addons", "show", "upper", "--json").stdout), &a)
		table := run("runs", "list", "--trigger", "manual", "--addon", a.ID).stdout
		if !strings.Contains(table, again) || !strings.Contains(table, list.Runs[0].ID) || strings.Count(table, "run_") != 2 {
			t.Fatalf("runs list --trigger manual --addon upper:\n%s", table)
		}
		if table := run("runs", "list", "--trigger", "existing-item").stdout; strings.Contains(table, again) {
			t.Fatalf("runs list --trigger existing-item shows the manual re-run:\n%s", table)
		}
	})
	t.Run("bad input names the file, the field and the reason", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		for _, c := range []struct {
			name, body, want string
		}{
			{"an unknown key", "name: x\ntrigger: [existing-item]\nnmae: y\naddons: [{addonId: upper}]\n", `bad.yaml: invalid_json (HTTP 400): the request body is not valid JSON for this endpoint: json: unknown field "nmae"`},
			{"an unknown addon", "name: x\ntrigger: [existing-item]\naddons: [{addonId: nope}]\n", `bad.yaml: addons[0].addonId: no addon "nope" is installed`},
			{"an unknown trigger", "name: x\ntrigger: [on-login]\naddons: [{addonId: upper}]\n", `bad.yaml: validation_failed (HTTP 422): trigger[0]: unknown trigger "on-login"`},
			{"not YAML", "name: [x\n", "bad.yaml: not YAML or JSON"},
		} {
			os.WriteFile(bad, []byte(c.body), 0o644)
			r := run("configs", "create", "-f", bad)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s: = %d, stderr %q, want %q", c.name, r.code, r.stderr, c.want)
			}
		}
		if r := run("configs", "create", "--name", "x"); r.code != 2 || !strings.Contains(r.stderr, "--trigger, --addon") {
			t.Errorf("create without enough flags = %d %s", r.code, r.stderr)
		}
		var list struct{ RunConfigs []any }
		json.Unmarshal([]byte(apiAnswer(t, url, "", "/v1/run-configs")), &list)
		if len(list.RunConfigs) != 2 {
			t.Errorf("refused creates left %d configurations, want the 2 there were", len(list.RunConfigs))
		}
	})
	t.Run("delete", func(t *testing.T) {
		if r := run("configs", "delete", "tagger"); r.code != 0 {
			t.Fatalf("delete = %d %s", r.code, r.stderr)
		}
		if r := run("configs", "show", "tagger"); r.code != 2 || !strings.Contains(r.stderr, `no run configuration "tagger"`) {
			t.Fatalf("show after delete = %d %s", r.code, r.stderr)
		}
	})
}
