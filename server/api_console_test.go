package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

// filesAddon writes an addon that lists the item's files and data into
// its output, for checking what a run was given.
func filesAddon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: files, version: '1'}\ntriggers: [existing-item, final-process-item]\nrunner: {trivial: {enable: true, exec: run.sh}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n{ ls \"$ITEM_ORIGINAL_DIR\"; cat \"$ITEM_DATA_JSON\"; echo; echo \"secret=$DSC_SESSION\"; } > \"$OUTPUT_DIR/seen.txt\"\necho '{}'\n"), 0o755)
	return dir
}

func TestARunOnAnItemWithFilesCanBeRunAgainWithTheSameInputs(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: data})
	a := n.install(filesAddon(t))
	rc := n.config(map[string]any{"name": "seen", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	body, ct := multipartBody(t, [][3]string{
		{"run", "", `{"configId":"` + rc + `","item":{"id":"i7"},"env":{"DSC_SESSION":"s3cr3t-session"},"files":{"originals":[{"file":"scan.jpg","id":"att-9"}]}}`},
		{"original", "scan.jpg", "\xff\xd8\xff\xe0"},
	})
	req, _ := http.NewRequest("POST", n.URL+"/v1/runs", body)
	req.Header.Set("Content-Type", ct)
	var first runV
	if code := n.do(req, &first); code != http.StatusAccepted {
		t.Fatalf("multipart POST /v1/runs = %d %+v", code, first)
	}
	first = n.waitFinal(first.ID)
	want := "att-9\n{\"id\":\"i7\"}\nsecret=s3cr3t-session\n"
	if got := get(t, n.URL+"/v1/runs/"+first.ID+"/files/seen.txt"); first.State != "succeeded" || got != want {
		t.Fatalf("first run %s saw %q, want %q", first.State, got, want)
	}

	t.Run("the run shows its input, never its own variables", func(t *testing.T) {
		body := get(t, n.URL+"/v1/runs/"+first.ID)
		var v struct {
			Input struct {
				Item      map[string]any
				Originals []struct{ ID, Name string }
			}
		}
		json.Unmarshal([]byte(body), &v)
		if v.Input.Item["id"] != "i7" || len(v.Input.Originals) != 1 || v.Input.Originals[0].ID != "att-9" || v.Input.Originals[0].Name != "scan.jpg" {
			t.Errorf("input = %+v", v.Input)
		}
		if strings.Contains(body, "s3cr3t-session") || strings.Contains(body, data) {
			t.Errorf("the run's answer shows its secret variable or a server path:\n%s", body)
		}
	})

	var again runV
	n.mustCall(http.StatusAccepted, "POST", "/v1/runs/"+first.ID+"/rerun", nil, &again)
	if again.ID == first.ID || again.ConfigID != rc || again.Trigger != first.Trigger {
		t.Fatalf("re-run = %+v, want a new run of %s with trigger %s", again, rc, first.Trigger)
	}
	again = n.waitFinal(again.ID)
	if got := get(t, n.URL+"/v1/runs/"+again.ID+"/files/seen.txt"); again.State != "succeeded" || got != want {
		t.Fatalf("re-run %s saw %q, want %q", again.State, got, want)
	}

	t.Run("a run whose addon was removed cannot be run again", func(t *testing.T) {
		run := n.runAdhoc(n.install(fixture("record")).ID, "x")
		n.waitFinal(run)
		var ad struct{ Addons []struct{ AddonID string } }
		n.mustCall(http.StatusOK, "GET", "/v1/runs/"+run, nil, &ad)
		n.mustCall(http.StatusNoContent, "DELETE", "/v1/addons/"+ad.Addons[0].AddonID, nil, nil)
		var e apiErr
		if code := n.call("POST", "/v1/runs/"+run+"/rerun", nil, &e); code != http.StatusUnprocessableEntity || !strings.Contains(e.Error.Message, "no addon") {
			t.Fatalf("re-run = %d %+v", code, e)
		}
	})
	t.Run("a multipart run with a file its description does not name is refused", func(t *testing.T) {
		body, ct := multipartBody(t, [][3]string{
			{"run", "", `{"configId":"` + rc + `","files":{"originals":[{"file":"other.jpg"}]}}`},
			{"original", "scan.jpg", "x"},
		})
		req, _ := http.NewRequest("POST", n.URL+"/v1/runs", body)
		req.Header.Set("Content-Type", ct)
		var e apiErr
		if code := n.do(req, &e); code != http.StatusBadRequest || !strings.Contains(e.Error.Message, `files.originals[0].file`) {
			t.Fatalf("POST = %d %+v", code, e)
		}
		entries, _ := os.ReadDir(filepath.Join(data, "events"))
		if len(entries) != 1 {
			t.Errorf("events dir holds %d inputs, want only the first run's", len(entries))
		}
	})
}

func TestDisablingAConfigurationStopsItsEventsAndEnablingStartsThem(t *testing.T) {
	n := startNode(t, nodeOpts{})
	a := n.install(hello())
	rc := n.config(map[string]any{"name": "greet", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	send := func() int {
		var ev struct{ Runs []runV }
		n.mustCall(http.StatusAccepted, "POST", "/v1/events", map[string]any{"trigger": "existing-item"}, &ev)
		return len(ev.Runs)
	}
	var c struct {
		ID      string
		Enabled bool
		Name    string
	}
	n.mustCall(http.StatusOK, "POST", "/v1/run-configs/"+rc+"/disable", nil, &c)
	if c.Enabled || c.Name != "greet" || c.ID != rc {
		t.Fatalf("disable = %+v", c)
	}
	if got := send(); got != 0 {
		t.Fatalf("a disabled configuration got %d runs", got)
	}
	n.mustCall(http.StatusOK, "POST", "/v1/run-configs/"+rc+"/enable", nil, &c)
	if !c.Enabled {
		t.Fatalf("enable = %+v", c)
	}
	if got := send(); got != 1 {
		t.Fatalf("an enabled configuration got %d runs", got)
	}
	if code := n.call("POST", "/v1/run-configs/rc_nope/enable", nil, nil); code != http.StatusNotFound {
		t.Fatalf("enabling an unknown configuration = %d", code)
	}
}

func TestSchedulePreviewShowsTheFiringsTheSchedulerUses(t *testing.T) {
	n := startNode(t, nodeOpts{})
	from := "2026-12-02T10:20:00Z"
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"@every fires at multiples of its period since the epoch", "@every 2h", []string{"2026-12-02T12:00:00Z", "2026-12-02T14:00:00Z", "2026-12-02T16:00:00Z"}},
		{"a weekday schedule skips to the next Monday", "30 9 * * 1", []string{"2026-12-07T09:30:00Z", "2026-12-14T09:30:00Z", "2026-12-21T09:30:00Z"}},
		{"a descriptor works", "@daily", []string{"2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z", "2026-12-05T00:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p struct{ Next []time.Time }
			n.mustCall(http.StatusOK, "GET", "/v1/schedule?count=3&from="+from+"&expr="+url.QueryEscape(tc.expr), nil, &p)
			var got []string
			for _, x := range p.Next {
				got = append(got, x.UTC().Format(time.RFC3339))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("next = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a bad expression names the field", func(t *testing.T) {
		var e apiErr
		if code := n.call("GET", "/v1/schedule?expr="+url.QueryEscape("61 * * * *"), nil, &e); code != http.StatusUnprocessableEntity || !strings.HasPrefix(e.Error.Message, "expr:") {
			t.Fatalf("= %d %+v", code, e)
		}
	})
}

func TestRunsCanBeFilteredByTriggerAddonAndTime(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) { runFilters(t, "") })
	t.Run("on postgres", func(t *testing.T) { runFilters(t, storetest.Postgres(t)) })
}

func runFilters(t *testing.T, dbURL string) {
	n := startNode(t, nodeOpts{dbURL: dbURL})
	h := n.install(hello())
	rec := n.install(fixture("record"))
	n.config(map[string]any{"name": "greet", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": h.ID}}})
	var ev struct{ Runs []runV }
	n.mustCall(http.StatusAccepted, "POST", "/v1/events", map[string]any{"trigger": "existing-item"}, &ev)
	manual := n.runAdhoc(rec.ID, "x")
	n.waitFinal(manual)
	n.waitFinal(ev.Runs[0].ID)
	ids := func(q string) string {
		var p struct{ Runs []runV }
		n.mustCall(http.StatusOK, "GET", "/v1/runs?"+q, nil, &p)
		var out []string
		for _, r := range p.Runs {
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	past := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
	for _, c := range []struct{ name, q, want string }{
		{"by trigger", "trigger=existing-item", ev.Runs[0].ID},
		{"by trigger manual", "trigger=manual", manual},
		{"by addon", "addon=" + rec.ID, manual},
		{"by addon and trigger that do not meet", "addon=" + rec.ID + "&trigger=existing-item", ""},
		{"since the future", "since=" + future, ""},
		{"until the past", "until=" + past, ""},
		{"in the last hour", "since=" + past + "&until=" + future, manual + " " + ev.Runs[0].ID},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ids(c.q); got != c.want && !(c.name == "in the last hour" && got == ev.Runs[0].ID+" "+manual) {
				t.Fatalf("runs?%s = %q, want %q", c.q, got, c.want)
			}
		})
	}
	var e apiErr
	if code := n.call("GET", "/v1/runs?since=yesterday", nil, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error.Message, "since:") {
		t.Fatalf("since=yesterday = %d %+v", code, e)
	}
}
