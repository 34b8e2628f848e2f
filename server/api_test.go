package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/buildinfo"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store/storetest"
)

func TestAnEventRunsEveryEnabledConfigurationWithItsTrigger(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { eventFlow(t, "") })
	t.Run("on postgres", func(t *testing.T) { eventFlow(t, storetest.Postgres(t)) })
}

func eventFlow(t *testing.T, dbURL string) {
	n := startNode(t, nodeOpts{dbURL: dbURL})
	a := n.install(hello())
	if a.Name != "hello" || !a.Pure {
		t.Fatalf("installed addon = %+v", a)
	}
	on := n.config(map[string]any{"name": "greet", "enabled": true, "trigger": []string{"existing-item"},
		"addons": []map[string]string{{"addonId": a.ID, "args": "Hi there"}}})
	n.config(map[string]any{"name": "off", "enabled": false, "trigger": []string{"existing-item"},
		"addons": []map[string]string{{"addonId": a.ID, "args": "no"}}})
	n.config(map[string]any{"name": "other trigger", "enabled": true, "trigger": []string{"final-process-item"},
		"addons": []map[string]string{{"addonId": a.ID, "args": "no"}}})

	var ev struct{ Runs []runV }
	n.mustCall(http.StatusAccepted, "POST", "/v1/events", map[string]any{"trigger": "existing-item", "item": map[string]any{"id": "item-42", "name": "invoice"}, "itemArgs": map[string]any{"tags": []string{"x"}}}, &ev)
	if len(ev.Runs) != 1 || ev.Runs[0].ConfigID != on || ev.Runs[0].State != "queued" {
		t.Fatalf("event queued %+v, want one queued run of %s", ev.Runs, on)
	}
	r := n.waitFinal(ev.Runs[0].ID)
	if r.State != "succeeded" || r.Attempts != 1 || r.Result == nil || r.Result.Result != "success" {
		t.Fatalf("run = %+v, want succeeded on the first attempt", r)
	}
	var out struct {
		Commands []struct {
			ItemID  string `json:"itemId"`
			Actions []struct {
				Action string `json:"action"`
				Notes  string `json:"notes"`
			} `json:"actions"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(r.Output, &out); err != nil || len(out.Commands) != 1 || out.Commands[0].ItemID != "item-42" {
		t.Fatalf("output = %s (%v), want an item-update of item-42", r.Output, err)
	}
	if !slices.Equal(r.OutputFiles, []string{"greeting.txt"}) {
		t.Fatalf("outputFiles = %v", r.OutputFiles)
	}
	if r.Logs == nil || !slices.ContainsFunc(r.Logs.Lines, func(l string) bool { return strings.Contains(l, "greeting is 'Hi there'") }) {
		t.Fatalf("logs = %+v, want the addon's stderr", r.Logs)
	}

	t.Run("the output file is downloadable", func(t *testing.T) {
		resp, err := http.Get(n.URL + "/v1/runs/" + r.ID + "/files/greeting.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "Hi there\n" {
			t.Fatalf("download = %d %q", resp.StatusCode, body)
		}
		var e apiErr
		if code := n.call("GET", "/v1/runs/"+r.ID+"/files/..%2f..%2fberth.db", nil, &e); code != http.StatusNotFound {
			t.Fatalf("path escape = %d %+v, want 404", code, e)
		}
	})
	t.Run("the run is listed with filters and on the web page", func(t *testing.T) {
		var list struct{ Runs []runV }
		n.mustCall(200, "GET", "/v1/runs?state=succeeded&config="+on, nil, &list)
		if len(list.Runs) != 1 || list.Runs[0].ID != r.ID {
			t.Fatalf("list = %+v", list.Runs)
		}
		n.mustCall(200, "GET", "/v1/runs?state=failed", nil, &list)
		if len(list.Runs) != 0 {
			t.Fatalf("failed runs = %+v, want none", list.Runs)
		}
		// The console's page reads the API itself (e2e/ drives it in a
		// browser): it is the same shell for every path.
		for _, p := range []string{"/", "/ui/runs/" + r.ID, "/ui/configs"} {
			if page := get(t, n.URL+p); !strings.Contains(page, `<script src="/ui/assets/app.js"`) {
				t.Errorf("%s is not the console's page:\n%s", p, page)
			}
		}
	})
	t.Run("metrics count the run by state, result and runner", func(t *testing.T) {
		m := get(t, n.URL+"/metrics")
		if !strings.Contains(m, `berth_runs_total{result="success",runner="trivial",state="succeeded"} 1`) {
			t.Fatalf("metrics lack the run:\n%s", grepLines(m, "berth_"))
		}
		if !strings.Contains(m, "berth_queue_depth 0") {
			t.Fatalf("metrics lack the queue depth:\n%s", grepLines(m, "berth_"))
		}
	})
	t.Run("healthz, metrics and the OpenAPI document say which berth this is", func(t *testing.T) {
		bi := buildinfo.Get()
		var h struct{ Status, Version, Commit string }
		if err := json.Unmarshal([]byte(get(t, n.URL+"/healthz")), &h); err != nil {
			t.Fatal(err)
		}
		if h.Status != "ok" || h.Version != bi.Version || h.Commit != bi.Commit || h.Version == "" {
			t.Errorf("healthz = %+v, want version %q commit %q", h, bi.Version, bi.Commit)
		}
		m := get(t, n.URL+"/metrics")
		want := fmt.Sprintf(`berth_build_info{commit=%q,goversion=%q,version=%q} 1`, bi.Commit, bi.GoVersion, bi.Version)
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "berth_build"))
		}
		var doc struct {
			Info struct{ Title, Version string }
		}
		if err := json.Unmarshal([]byte(get(t, n.URL+"/openapi.json")), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Info.Version != bi.Version || doc.Info.Title == "" {
			t.Errorf("openapi info = %+v, want version %q and the title kept", doc.Info, bi.Version)
		}
	})
	t.Run("the OpenAPI document names every path", func(t *testing.T) {
		var doc struct{ Paths map[string]any }
		if err := json.Unmarshal([]byte(get(t, n.URL+"/openapi.json")), &doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/v1/addons", "/v1/run-configs", "/v1/runs", "/v1/events", "/v1/runs/{id}", "/v1/services", "/v1/services/{project}", "/v1/services/{project}/restart", "/v1/services/{project}/logs"} {
			if _, ok := doc.Paths[p]; !ok {
				t.Errorf("openapi.json lacks %s", p)
			}
		}
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The events API lays uploaded files out as joex does
// (GenericItemAddonTask.scala:107-128): each under its attachment id, the
// id, name and language the event's "files" give, the mimetype detected.
func TestEventFilesReachTheAddonUnderTheirAttachmentIDs(t *testing.T) {
	n := startNode(t, nodeOpts{})
	dir := t.TempDir()
	// An addon that lists the item's files and copies the JSON lists to its output dir.
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: files, version: '1'}\ntriggers: [final-process-item]\nrunner: {trivial: {enable: true, exec: run.sh}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\nls \"$ITEM_ORIGINAL_DIR\" \"$ITEM_PDF_DIR\" > \"$OUTPUT_DIR/files.txt\"\ncp \"$ITEM_PDF_JSON\" \"$ITEM_ORIGINAL_JSON\" \"$OUTPUT_DIR/\"\ncat \"$ITEM_ARGS_JSON\" >&2\necho '{}'\n"), 0o755)
	a := n.install(dir)
	n.config(map[string]any{"name": "f", "enabled": true, "trigger": []string{"final-process-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	body, ct := multipartBody(t, [][3]string{
		{"event", "", `{"trigger":"final-process-item","item":{"id":"i1"},"itemArgs":{"source":"scanner"},
			"files":{"pdfs":[{"file":"scan.pdf","id":"att-1","name":"Rechnung März.pdf","language":"deu"}],
			         "originals":[{"file":"scan.jpg","id":"att-1"}]}}`},
		{"original", "scan.jpg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00"},
		{"original", "notes.txt", "plain words\n"},
		{"pdf", "scan.pdf", "%PDF-1.4\n"},
	})
	req, _ := http.NewRequest("POST", n.URL+"/v1/events", body)
	req.Header.Set("Content-Type", ct)
	var ev struct{ Runs []runV }
	if code := n.do(req, &ev); code != http.StatusAccepted || len(ev.Runs) != 1 {
		t.Fatalf("event = %d %+v", code, ev)
	}
	r := n.waitFinal(ev.Runs[0].ID)
	if r.State != "succeeded" {
		t.Fatalf("run = %+v", r)
	}
	files := get(t, n.URL+"/v1/runs/"+r.ID+"/files/files.txt")
	if want := "item/originals:\natt-1\nnotes\n\nitem/pdfs:\natt-1\n"; files != want {
		t.Errorf("the addon saw\n%s\nwant\n%s", files, want)
	}
	type entry struct {
		ID, Name, Mimetype string
		Language           *string
	}
	var pdfs, originals []entry
	json.Unmarshal([]byte(get(t, n.URL+"/v1/runs/"+r.ID+"/files/pdf-files.json")), &pdfs)
	json.Unmarshal([]byte(get(t, n.URL+"/v1/runs/"+r.ID+"/files/source-files.json")), &originals)
	if len(pdfs) != 1 || pdfs[0].ID != "att-1" || pdfs[0].Name != "Rechnung März.pdf" || pdfs[0].Mimetype != "application/pdf" || pdfs[0].Language == nil || *pdfs[0].Language != "deu" {
		t.Errorf("pdf-files.json = %+v", pdfs)
	}
	if len(originals) != 2 || originals[0].ID != "att-1" || originals[0].Name != "scan.jpg" || originals[0].Mimetype != "image/jpeg" ||
		originals[1].ID != "notes" || originals[1].Name != "notes.txt" || !strings.HasPrefix(originals[1].Mimetype, "text/plain") {
		t.Errorf("source-files.json = %+v", originals)
	}
	if !slices.ContainsFunc(r.Logs.Lines, func(l string) bool { return strings.Contains(l, "scanner") }) {
		t.Fatalf("logs %v lack the item args", r.Logs.Lines)
	}
}

func TestEventFilesThatDoNotMatchTheUploadsAreRefused(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: data})
	for _, c := range []struct {
		name, event string
		parts       [][3]string
		want        string
	}{
		{"an entry naming no upload", `{"trigger":"existing-item","files":{"pdfs":[{"file":"other.pdf"}]}}`, nil, `files.pdfs[0].file: no \"pdf\" part has the file name \"other.pdf\"`},
		{"an entry naming an upload of the other kind", `{"trigger":"existing-item","files":{"originals":[{"file":"scan.pdf"}]}}`, nil, `files.originals[0].file: no \"original\" part`},
		{"a bad id", `{"trigger":"existing-item","files":{"pdfs":[{"file":"scan.pdf","id":"a/b"}]}}`, nil, `files.pdfs[0].id: \"a/b\" is not a Docspell id`},
		{"two uploads of one name", `{"trigger":"existing-item"}`, [][3]string{{"pdf", "scan.pdf", "%PDF"}}, `two \"pdf\" parts have the file name \"scan.pdf\"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, ct := multipartBody(t, append([][3]string{{"event", "", c.event}, {"pdf", "scan.pdf", "%PDF"}}, c.parts...))
			req, _ := http.NewRequest("POST", n.URL+"/v1/events", body)
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), c.want) {
				t.Errorf("= %d %s, want 400 with %s", resp.StatusCode, b, c.want)
			}
			if left, _ := filepath.Glob(filepath.Join(data, "events", "*")); len(left) > 0 {
				t.Errorf("kept %v", left)
			}
		})
	}
}

func TestInstallingAddons(t *testing.T) {
	zipped := zipDir(t, hello())
	var mu sync.Mutex
	var served []string
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		w.Write(zipped)
	}))
	defer files.Close()
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
		s.URLDeny = []string{"*/denied/*"}
	}})

	t.Run("from a zip URL", func(t *testing.T) {
		var a addonV
		n.mustCall(201, "POST", "/v1/addons", map[string]string{"url": files.URL + "/ok/hello.zip"}, &a)
		if a.Name != "hello" {
			t.Fatalf("addon = %+v", a)
		}
		n.mustCall(204, "DELETE", "/v1/addons/"+a.ID, nil, nil)
		n.mustCall(404, "GET", "/v1/addons/"+a.ID, nil, nil)
	})
	t.Run("from an uploaded zip", func(t *testing.T) {
		body, ct := multipartBody(t, [][3]string{{"file", "hello.zip", string(zipped)}})
		req, _ := http.NewRequest("POST", n.URL+"/v1/addons", body)
		req.Header.Set("Content-Type", ct)
		var a addonV
		if code := n.do(req, &a); code != 201 || a.Name != "hello" {
			t.Fatalf("upload = %d %+v", code, a)
		}
		n.mustCall(204, "DELETE", "/v1/addons/"+a.ID, nil, nil)
	})

	cases := []struct {
		name       string
		body       any
		set        func(*settings.Serve)
		status     int
		code, text string
	}{
		{name: "a denied URL is refused", body: map[string]string{"url": files.URL + "/denied/x.zip"}, status: 403, code: "forbidden", text: "url-deny"},
		{name: "a non-http URL is refused", body: map[string]string{"url": "ftp://example.org/x.zip"}, status: 400, code: "validation_failed", text: "http"},
		{name: "a relative path is refused", body: map[string]string{"path": "examples/hello"}, status: 400, code: "validation_failed", text: "absolute"},
		{name: "an addon without a name is invalid", body: map[string]string{"path": fixture("bad-name")}, status: 422, code: "addon_invalid", text: "meta.name"},
		{name: "an addon no configured runner can run is refused", body: map[string]string{"path": fixture("docker-only")}, status: 422, code: "no_usable_runner", text: "docker"},
		{name: "a missing directory is invalid", body: map[string]string{"path": "/nonexistent/addon"}, status: 422, code: "addon_invalid", text: "/nonexistent/addon"},
		{name: "url and path together are refused", body: map[string]string{"path": "/x", "url": "http://x"}, status: 400, code: "validation_failed", text: "not both"},
		{name: "an empty object is refused", body: map[string]string{}, status: 400, code: "validation_failed", text: "url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/addons", c.body, &e); got != c.status || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.text) {
				t.Fatalf("= %d %+v, want %d %s mentioning %q", got, e.Error, c.status, c.code, c.text)
			}
		})
	}
	t.Run("an impure addon is refused when allow-impure is off", func(t *testing.T) {
		strict := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.AllowImpure = false }})
		var e apiErr
		if got := strict.call("POST", "/v1/addons", map[string]string{"path": fixture("impure-sleep")}, &e); got != 403 || !strings.Contains(e.Error.Message, "allow-impure") {
			t.Fatalf("= %d %+v", got, e)
		}
	})
	t.Run("installing the same name and version twice is a conflict", func(t *testing.T) {
		a := n.install(fixture("tick"))
		var e apiErr
		if got := n.call("POST", "/v1/addons", map[string]string{"path": fixture("tick")}, &e); got != 409 || !strings.Contains(e.Error.Message, a.ID) {
			t.Fatalf("= %d %+v", got, e)
		}
	})
	t.Run("an update stores a changed addon even when name and version are the same", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, fixture("flaky"), dir)
		a := n.install(dir)
		os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho '{\"commands\":[]}'\n"), 0o755)
		var b addonV
		n.mustCall(200, "PUT", "/v1/addons/"+a.ID, nil, &b)
		if b.ID != a.ID || b.Hash == a.Hash {
			t.Fatalf("after update %+v, before %+v: want the same id and a new hash", b, a)
		}
	})
	t.Run("an addon used by a run configuration cannot be deleted", func(t *testing.T) {
		a := n.install(fixture("sleep"))
		cid := n.config(map[string]any{"name": "uses", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
		var e apiErr
		if got := n.call("DELETE", "/v1/addons/"+a.ID, nil, &e); got != 409 || e.Error.Code != "addon_in_use" || !strings.Contains(e.Error.Message, cid) {
			t.Fatalf("= %d %+v", got, e)
		}
	})
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunConfigurationsAreValidatedAsDocspellDoes(t *testing.T) {
	n := startNode(t, nodeOpts{})
	h := n.install(hello())
	tick := n.install(fixture("tick"))
	addons := func(id string) []map[string]string { return []map[string]string{{"addonId": id, "args": ""}} }
	cases := []struct {
		name string
		body any
		text string
	}{
		{"an empty name", map[string]any{"name": " ", "enabled": true, "trigger": []string{"existing-item"}, "addons": addons(h.ID)}, "name"},
		{"no trigger", map[string]any{"name": "x", "trigger": []string{}, "addons": addons(h.ID)}, "trigger"},
		{"an unknown trigger", map[string]any{"name": "x", "trigger": []string{"on-login"}, "addons": addons(h.ID)}, `unknown trigger "on-login"`},
		{"a trigger one addon does not support", map[string]any{"name": "x", "trigger": []string{"final-reprocess-item"}, "addons": addons(h.ID)}, "does not support the trigger final-reprocess-item"},
		{"the scheduled trigger without a schedule", map[string]any{"name": "x", "trigger": []string{"scheduled"}, "addons": addons(tick.ID)}, "schedule: is required"},
		{"a schedule without the scheduled trigger", map[string]any{"name": "x", "trigger": []string{"existing-item"}, "schedule": "@every 1m", "addons": addons(tick.ID)}, "only allowed"},
		{"a schedule that is not cron", map[string]any{"name": "x", "trigger": []string{"scheduled"}, "schedule": "every tuesday", "addons": addons(tick.ID)}, "not a cron expression"},
		{"no addons", map[string]any{"name": "x", "trigger": []string{"existing-item"}, "addons": []any{}}, "addons"},
		{"an addon that is not installed", map[string]any{"name": "x", "trigger": []string{"existing-item"}, "addons": addons("ad_nope")}, `no addon "ad_nope"`},
		{"a webhook that is not http", map[string]any{"name": "x", "trigger": []string{"existing-item"}, "addons": addons(h.ID), "webhook": "file:///etc/passwd"}, "webhook"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/run-configs", c.body, &e); got != 422 || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Message, c.text) {
				t.Fatalf("= %d %+v, want 422 validation_failed mentioning %q", got, e.Error, c.text)
			}
		})
	}
	t.Run("a valid configuration is created, read, changed and deleted", func(t *testing.T) {
		id := n.config(map[string]any{"name": "nightly", "enabled": true, "trigger": []string{"Scheduled"}, "schedule": "0 3 * * *", "addons": addons(tick.ID)})
		var c struct {
			Name     string
			Trigger  []string
			Schedule string
			Enabled  bool
		}
		n.mustCall(200, "GET", "/v1/run-configs/"+id, nil, &c)
		if c.Name != "nightly" || !slices.Equal(c.Trigger, []string{"scheduled"}) || c.Schedule != "0 3 * * *" {
			t.Fatalf("config = %+v, want the trigger normalised", c)
		}
		n.mustCall(200, "PUT", "/v1/run-configs/"+id, map[string]any{"name": "nightly", "enabled": false, "trigger": []string{"scheduled"}, "schedule": "@daily", "addons": addons(tick.ID)}, &c)
		if c.Enabled || c.Schedule != "@daily" {
			t.Fatalf("after PUT = %+v", c)
		}
		var list struct{ RunConfigs []map[string]any }
		n.mustCall(200, "GET", "/v1/run-configs", nil, &list)
		if len(list.RunConfigs) != 1 {
			t.Fatalf("list = %+v", list)
		}
		n.mustCall(204, "DELETE", "/v1/run-configs/"+id, nil, nil)
		n.mustCall(404, "GET", "/v1/run-configs/"+id, nil, nil)
	})
}

func TestRetriesCancelAndFailures(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { retriesAndCancel(t, "") })
	t.Run("on postgres", func(t *testing.T) { retriesAndCancel(t, storetest.Postgres(t)) })
}

func retriesAndCancel(t *testing.T, dbURL string) {
	n := startNode(t, nodeOpts{dbURL: dbURL, set: func(s *settings.Serve) { s.Concurrency = 2 }})
	flaky, fail := n.install(fixture("flaky")), n.install(fixture("fail"))
	sleep, impure := n.install(fixture("sleep")), n.install(fixture("impure-sleep"))

	t.Run("a failed pure run is tried again and succeeds", func(t *testing.T) {
		cid := n.config(map[string]any{"name": "flaky", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": flaky.ID}}})
		var r runV
		n.mustCall(202, "POST", "/v1/runs", map[string]any{"configId": cid}, &r)
		r = n.waitFinal(r.ID)
		if r.State != "succeeded" || r.Attempts != 2 {
			t.Fatalf("run = %+v, want succeeded on attempt 2", r)
		}
	})
	t.Run("a pure run that keeps failing stops after the retries with no output", func(t *testing.T) {
		r := n.waitFinal(n.runAdhoc(fail.ID, ""))
		if r.State != "failed" || r.Attempts != 3 || r.MaxAttempts != 3 || r.Output != nil {
			t.Fatalf("run = %+v, want failed after 3 attempts without output", r)
		}
		if r.Result == nil || r.Result.Result != "execution-error" || !strings.Contains(r.Error, "exited with code 3") {
			t.Fatalf("run = %+v, want the execution error", r)
		}
	})
	t.Run("a failed impure run is not tried again", func(t *testing.T) {
		r := n.waitFinal(n.runAdhoc(impure.ID, "not-a-number"))
		if r.State != "failed" || r.Attempts != 1 || r.MaxAttempts != 1 {
			t.Fatalf("run = %+v, want failed after 1 attempt", r)
		}
	})
	t.Run("cancelling a running run kills it", func(t *testing.T) {
		id := n.runAdhoc(sleep.ID, "60")
		n.wait(id, "running", func(r runV) bool { return r.State == "running" })
		n.mustCall(202, "POST", "/v1/runs/"+id+"/cancel", nil, nil)
		r := n.waitFinal(id)
		if r.State != "cancelled" || r.Output != nil {
			t.Fatalf("run = %+v, want cancelled", r)
		}
		var e apiErr
		if got := n.call("POST", "/v1/runs/"+id+"/cancel", nil, &e); got != 409 {
			t.Fatalf("cancelling again = %d %+v, want 409", got, e)
		}
	})
	t.Run("cancelling a queued run means it never starts", func(t *testing.T) {
		a, b := n.runAdhoc(sleep.ID, "60"), n.runAdhoc(sleep.ID, "60")
		n.wait(a, "running", func(r runV) bool { return r.State == "running" })
		n.wait(b, "running", func(r runV) bool { return r.State == "running" })
		queued := n.runAdhoc(sleep.ID, "60")
		n.mustCall(202, "POST", "/v1/runs/"+queued+"/cancel", nil, nil)
		r := n.waitFinal(queued)
		if r.State != "cancelled" || r.Attempts != 0 {
			t.Fatalf("run = %+v, want cancelled without an attempt", r)
		}
		n.mustCall(202, "DELETE", "/v1/runs/"+a, nil, nil)
		n.mustCall(202, "DELETE", "/v1/runs/"+b, nil, nil)
		n.waitFinal(a)
		n.waitFinal(b)
	})
}

func TestScheduledConfigurationsFire(t *testing.T) {
	n := startNode(t, nodeOpts{})
	tick := n.install(fixture("tick"))
	cid := n.config(map[string]any{"name": "every second", "enabled": true, "trigger": []string{"scheduled"}, "schedule": "@every 1s", "addons": []map[string]string{{"addonId": tick.ID}}})
	var runs []runV
	eventually(t, "two scheduled runs succeeded", func() error {
		var list struct{ Runs []runV }
		n.mustCall(200, "GET", "/v1/runs?state=succeeded&config="+cid, nil, &list)
		if len(list.Runs) < 2 {
			return fmt.Errorf("%d succeeded runs", len(list.Runs))
		}
		runs = list.Runs
		return nil
	})
	for _, r := range runs {
		if r.Trigger != "scheduled" {
			t.Errorf("run %s trigger = %q, want scheduled", r.ID, r.Trigger)
		}
	}
}

func TestWebhookGetsTheFinalRunUntilItAnswers2xx(t *testing.T) {
	var mu sync.Mutex
	var calls int
	got := make(chan runV, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		var run runV
		json.NewDecoder(r.Body).Decode(&run)
		select {
		case got <- run:
		default:
		}
	}))
	defer hook.Close()
	n := startNode(t, nodeOpts{})
	a := n.install(hello())
	n.config(map[string]any{"name": "hooked", "enabled": true, "trigger": []string{"existing-item"}, "webhook": hook.URL + "/berth", "addons": []map[string]string{{"addonId": a.ID, "args": "hook"}}})
	var ev struct{ Runs []runV }
	n.mustCall(202, "POST", "/v1/events", map[string]any{"trigger": "existing-item", "item": map[string]any{"id": "w1"}}, &ev)
	run := <-got
	if run.ID != ev.Runs[0].ID || run.State != "succeeded" || run.Output == nil {
		t.Fatalf("webhook got %+v, want the succeeded run with its output", run)
	}
	n.wait(run.ID, "webhook delivered", func(r runV) bool { return r.Webhook == "delivered" })
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Fatalf("webhook called %d times, want 2 (one refusal, one success)", calls)
	}
}

func TestAuthentication(t *testing.T) {
	const token = "s3cret-token-0123456789"
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.Tokens = []string{token} }})
	cases := []struct {
		name, path, auth string
		status           int
	}{
		{"no token is refused", "/v1/addons", "", 401},
		{"a wrong token is refused", "/v1/addons", "Bearer wrong-token-000000000", 401},
		{"the right token is accepted", "/v1/addons", "Bearer " + token, 200},
		{"healthz needs no token", "/healthz", "", 200},
		{"metrics need a token", "/metrics", "", 401},
		{"the web page takes the token as a basic-auth password", "/", "Basic " + basic("anyone", token), 200},
		{"the web page refuses a wrong password", "/", "Basic " + basic("anyone", "nope"), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", n.URL+c.path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("= %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status == 401 {
				var e apiErr
				if json.Unmarshal(body, &e) != nil || e.Error.Code != "unauthorized" || strings.Contains(string(body), token) {
					t.Fatalf("401 body = %s, want a JSON unauthorized error without the token", body)
				}
			}
		})
	}
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestMalformedRequestsGetJSONErrors(t *testing.T) {
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.MaxBody = 1024 }})
	a := n.install(hello())
	big := `{"trigger":"existing-item","item":{"x":"` + strings.Repeat("a", 2048) + `"}}`
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"broken JSON", "POST", "/v1/run-configs", "application/json", `{"name":`, 400, "invalid_json"},
		{"an unknown field", "POST", "/v1/run-configs", "application/json", `{"nme":"x"}`, 400, "invalid_json"},
		{"two JSON values", "POST", "/v1/events", "application/json", `{"trigger":"existing-item"} {}`, 400, "invalid_json"},
		{"an empty body", "POST", "/v1/runs", "application/json", ``, 400, "invalid_json"},
		{"a form instead of JSON", "POST", "/v1/runs", "application/x-www-form-urlencoded", `a=b`, 415, "unsupported_media_type"},
		{"a body over max-body", "POST", "/v1/events", "application/json", big, 413, "body_too_large"},
		{"an unknown trigger", "POST", "/v1/events", "application/json", `{"trigger":"nope"}`, 400, "validation_failed"},
		{"item data that is not an object", "POST", "/v1/events", "application/json", `{"trigger":"existing-item","item":[1]}`, 400, "validation_failed"},
		{"a run of an unknown configuration", "POST", "/v1/runs", "application/json", `{"configId":"rc_nope"}`, 404, "not_found"},
		{"a run of an unknown addon", "POST", "/v1/runs", "application/json", `{"addonId":"ad_nope"}`, 422, "validation_failed"},
		{"configId and addonId together", "POST", "/v1/runs", "application/json", `{"configId":"x","addonId":"` + a.ID + `"}`, 400, "validation_failed"},
		{"an unknown run", "GET", "/v1/runs/run_nope", "", ``, 404, "not_found"},
		{"a bad state filter", "GET", "/v1/runs?state=done", "", ``, 400, "validation_failed"},
		{"a bad limit", "GET", "/v1/runs?limit=-1", "", ``, 400, "validation_failed"},
		{"an unknown path", "GET", "/v2/things", "", ``, 404, "not_found"},
		{"a wrong method", "PATCH", "/v1/addons", "", ``, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused with "+c.code, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, n.URL+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			var e apiErr
			if got := n.do(req, &e); got != c.status || e.Error.Code != c.code || e.Error.Message == "" {
				t.Fatalf("= %d %+v, want %d %s", got, e.Error, c.status, c.code)
			}
		})
	}
}

func TestTwoNodesFireASchedule(t *testing.T) {
	db := storetest.Postgres(t)
	n1 := startNode(t, nodeOpts{dbURL: db, nodeID: "one"})
	n2 := startNode(t, nodeOpts{dbURL: db, nodeID: "two"})
	tick := n1.install(fixture("tick"))
	cid := n1.config(map[string]any{"name": "every second", "enabled": true, "trigger": []string{"scheduled"}, "schedule": "@every 1s", "addons": []map[string]string{{"addonId": tick.ID}}})
	var runs []runV
	eventually(t, "three scheduled runs", func() error {
		var list struct{ Runs []runV }
		n2.mustCall(200, "GET", "/v1/runs?config="+cid, nil, &list)
		if len(list.Runs) < 3 {
			return fmt.Errorf("%d runs", len(list.Runs))
		}
		runs = list.Runs
		return nil
	})
	// Each firing is one run although both nodes run the scheduler: the
	// run ids carry the firing time, so at most one run per second.
	seconds := map[string]bool{}
	for _, r := range runs {
		sec := r.ID[strings.LastIndex(r.ID, "_")+1:]
		if seconds[sec] {
			t.Fatalf("two runs for the firing at %s: %+v", sec, runs)
		}
		seconds[sec] = true
	}
}

func TestAFailedRunShowsNoOutputAnywhere(t *testing.T) {
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.Retries = 0 }})
	ok, fail := n.install(hello()), n.install(fixture("fail"))
	var r runV
	n.mustCall(202, "POST", "/v1/runs", map[string]any{"addons": []map[string]string{{"addonId": ok.ID, "args": "x"}, {"addonId": fail.ID}},
		"item": map[string]any{"id": "i1"}}, &r)
	if r = n.waitFinal(r.ID); r.State != "failed" {
		t.Fatalf("run = %+v, want failed", r)
	}
	var raw struct {
		Output      json.RawMessage `json:"output"`
		OutputFiles json.RawMessage `json:"outputFiles"`
		Result      struct {
			Output      json.RawMessage `json:"output"`
			OutputFiles json.RawMessage `json:"outputFiles"`
			Addons      []struct {
				Addon  string          `json:"addon"`
				Result string          `json:"result"`
				Output json.RawMessage `json:"output"`
			} `json:"addons"`
		} `json:"result"`
	}
	n.mustCall(200, "GET", "/v1/runs/"+r.ID, nil, &raw)
	if raw.Output != nil || raw.OutputFiles != nil || raw.Result.Output != nil || raw.Result.OutputFiles != nil {
		t.Fatalf("failed run shows output: %+v", raw)
	}
	if len(raw.Result.Addons) != 2 || raw.Result.Addons[0].Result != "success" {
		t.Fatalf("result.addons = %+v, want the succeeded first addon and the failed second", raw.Result.Addons)
	}
	for _, a := range raw.Result.Addons {
		if a.Output != nil {
			t.Fatalf("addon %s of the failed run shows its output %s: a host could apply it", a.Addon, a.Output)
		}
	}
}

func TestAQueuedRunThatIsCancelledStillReachesItsWebhook(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { cancelledWebhook(t, "") })
	t.Run("on postgres", func(t *testing.T) { cancelledWebhook(t, storetest.Postgres(t)) })
}

func cancelledWebhook(t *testing.T, dbURL string) {
	got := make(chan runV, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var run runV
		json.NewDecoder(r.Body).Decode(&run)
		got <- run
	}))
	defer hook.Close()
	n := startNode(t, nodeOpts{dbURL: dbURL, set: func(s *settings.Serve) { s.Concurrency = 1 }})
	sleep := n.install(fixture("sleep"))
	busy := n.runAdhoc(sleep.ID, "60")
	n.wait(busy, "running", func(r runV) bool { return r.State == "running" })
	var queued runV
	n.mustCall(202, "POST", "/v1/runs", map[string]any{"addonId": sleep.ID, "args": "60", "webhook": hook.URL}, &queued)
	n.mustCall(202, "POST", "/v1/runs/"+queued.ID+"/cancel", nil, nil)
	n.mustCall(202, "POST", "/v1/runs/"+busy+"/cancel", nil, nil)
	select {
	case run := <-got:
		if run.ID != queued.ID || run.State != "cancelled" {
			t.Fatalf("webhook got %+v, want the cancelled run %s", run, queued.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook of a run cancelled while queued was never called")
	}
	n.wait(queued.ID, "webhook delivered", func(r runV) bool { return r.Webhook == "delivered" })
}

func TestWebPagesOfOtherSitesCannotDriveTheAPI(t *testing.T) {
	const token = "s3cret-token-0123456789"
	open := startNode(t, nodeOpts{})
	closed := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.Tokens = []string{token} }})
	cases := []struct {
		name         string
		n            *node
		method, path string
		header       map[string]string
		host         string
		status       int
	}{
		{"a cross-site fetch without a content type is refused", open, "POST", "/v1/run-configs",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"a request from another origin is refused", open, "POST", "/v1/addons",
			map[string]string{"Origin": "https://evil.example"}, "", 403},
		{"a cross-site form with the web page's basic-auth password is refused", closed, "POST", "/v1/events",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "multipart/form-data; boundary=x", "Authorization": "Basic " + basic("anyone", token)}, "", 403},
		{"without tokens a rebound host name is refused", open, "GET", "/v1/addons", nil, "evil.example", 403},
		{"without tokens localhost is served", open, "GET", "/v1/addons", nil, "localhost", 200},
		{"with tokens any host name is served", closed, "GET", "/v1/addons", nil, "berth.example", 200},
		{"a page of another site may still send a GET (safe; it cannot read the answer)", open, "GET", "/v1/addons", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, c.n.URL+c.path, strings.NewReader(`{"name":"x"}`))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			if c.host != "" {
				req.Host = c.host
			}
			var e apiErr
			if got := c.n.do(req, &e); got != c.status || (c.status == 403 && e.Error.Code != "forbidden") {
				t.Fatalf("= %d %+v, want %d", got, e.Error, c.status)
			}
		})
	}
}

func TestFilesOfARefusedEventAreNotKept(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: data})
	cases := []struct{ name, event string }{
		{"an unknown trigger", `{"trigger":"nope"}`},
		{"item data that is not an object", `{"trigger":"existing-item","item":[1]}`},
		{"a trigger no configuration has", `{"trigger":"existing-item"}`},
	}
	for _, c := range cases {
		t.Run("the files of an event with "+c.name+" are removed", func(t *testing.T) {
			body, ct := multipartBody(t, [][3]string{{"event", "", c.event}, {"original", "scan.jpg", "jpeg"}})
			req, _ := http.NewRequest("POST", n.URL+"/v1/events", body)
			req.Header.Set("Content-Type", ct)
			n.do(req, nil)
			left, _ := filepath.Glob(filepath.Join(data, "events", "*"))
			if len(left) > 0 {
				t.Fatalf("kept %v", left)
			}
		})
	}
}

func TestAnEmptyUpdateLabelledJSONFetchesTheStoredSourceAgain(t *testing.T) {
	n := startNode(t, nodeOpts{})
	a := n.install(hello())
	req, _ := http.NewRequest("PUT", n.URL+"/v1/addons/"+a.ID, strings.NewReader(""))
	req.Header.Set("Content-Type", "application/json")
	var got addonV
	if code := n.do(req, &got); code != 200 || got.ID != a.ID || got.Hash != a.Hash {
		t.Fatalf("PUT with an empty JSON body = %d %+v, want 200 and the addon fetched again", code, got)
	}
}

func TestAnAdHocRunsWebhookIsValidatedAsAConfigurations(t *testing.T) {
	n := startNode(t, nodeOpts{})
	a := n.install(hello())
	for _, hook := range []string{"file:///etc/passwd", "not a url", "http://"} {
		t.Run(fmt.Sprintf("a run with the webhook %q is refused", hook), func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/runs", map[string]any{"addonId": a.ID, "webhook": hook}, &e); got != 422 || e.Error.Code != "validation_failed" {
				t.Fatalf("= %d %+v, want 422 validation_failed", got, e.Error)
			}
		})
	}
}

func TestAScheduleThatNeverFiresIsRefused(t *testing.T) {
	n := startNode(t, nodeOpts{})
	tick := n.install(fixture("tick"))
	var e apiErr
	got := n.call("POST", "/v1/run-configs", map[string]any{"name": "feb 30", "enabled": true, "trigger": []string{"scheduled"},
		"schedule": "0 0 30 2 *", "addons": []map[string]string{{"addonId": tick.ID}}}, &e)
	if got != 422 || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Message, "never fires") {
		t.Fatalf("= %d %+v, want 422 validation_failed: never fires", got, e.Error)
	}
}
