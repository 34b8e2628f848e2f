package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// filesWant is what the files fixture writes for input.
func filesWant(input string) map[string]string {
	big := strings.Repeat(input+"\n", 2621440/(len(input)+1)+1)[:2621440]
	return map[string]string{"sub/greeting.txt": input + "\n", "big.bin": big}
}

// checkFiles fetches the run's output files from n and compares them
// with what the files fixture wrote for input.
func checkFiles(t *testing.T, n *node, runID, input string) {
	t.Helper()
	for name, want := range filesWant(input) {
		resp, err := http.Get(n.URL + "/v1/runs/" + runID + "/files/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != want {
			t.Errorf("GET %s/v1/runs/%s/files/%s = %d, %d bytes (sha256 %s); want 200, %d bytes", n.URL, runID, name, resp.StatusCode, len(got), short(got), len(want))
		}
	}
	// Range requests work on files another node stored.
	req, _ := http.NewRequest("GET", n.URL+"/v1/runs/"+runID+"/files/big.bin", nil)
	req.Header.Set("Range", "bytes=2097150-2097153")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := filesWant(input)["big.bin"][2097150:2097154]; resp.StatusCode != http.StatusPartialContent || string(got) != want {
		t.Errorf("a range across two chunks = %d %q, want 206 %q", resp.StatusCode, got, want)
	}
}

func short(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:4])
}

// Issue 12 section 1: nodes that share only the database, each with a
// data dir of its own. The addon is installed on A, whose data dir is
// then removed with A; B and C run it and serve each other's files,
// and a new node with an empty data dir serves every run's files.
func TestNodesThatShareOnlyTheDatabaseRunAnyAddonAndServeAnyRunsFiles(t *testing.T) {
	db := storetest.Postgres(t)
	dataA := t.TempDir()
	a := startNode(t, nodeOpts{dbURL: db, dataDir: dataA, nodeID: "A"})
	ad := a.install(fixture("files"))
	a.stop()
	if err := os.RemoveAll(dataA); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, nodeOpts{dbURL: db, nodeID: "B"})
	c := startNode(t, nodeOpts{dbURL: db, nodeID: "C"})
	byNode := map[string]*node{"B": b, "C": c}
	var ids []string
	for i := range 8 {
		ids = append(ids, b.runAdhoc(ad.ID, fmt.Sprintf("input-%d", i)))
	}
	ran := map[string]int{}
	for i, id := range ids {
		r := b.waitFinal(id)
		if r.State != "succeeded" {
			t.Fatalf("run %s on %s = %s: %s", id, r.Node, r.State, r.Error)
		}
		ran[r.Node]++
		other := c
		if r.Node == "C" {
			other = b
		}
		if byNode[r.Node] == nil {
			t.Fatalf("run %s ran on %q", id, r.Node)
		}
		checkFiles(t, other, id, fmt.Sprintf("input-%d", i))
	}
	t.Logf("runs per node: %v", ran)
	fresh := startNode(t, nodeOpts{dbURL: db, nodeID: "D"})
	for i, id := range ids {
		checkFiles(t, fresh, id, fmt.Sprintf("input-%d", i))
	}
}

// Issue 12 section 1, the upgrade: a database of schema version 3 and a
// data dir in the layout of the release before blobs (addons/<id>/<hash>/,
// runs/<id>/output/) with an installed addon, a succeeded run with output
// files and a run still queued. The new berth stores them in the database
// at its first start; afterwards a node without those local files (the
// same data dir with them removed, or on PostgreSQL a new node) runs the
// addon, runs the queued run and serves the old run's files.
func TestAnUpgradeStoresTheLocalAddonAndOutputFilesInTheDatabase(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) {
			dbURL := ""
			if kind == "postgres" {
				dbURL = storetest.Postgres(t)
			}
			upgrade(t, dbURL)
		})
	}
}

func upgrade(t *testing.T, dbURL string) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := store.Open(ctx, dbURL, data)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db)
	if err := st.MigrateTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// The addon as the old release kept it.
	hash, err := addon.ContentHash(fixture("files"))
	if err != nil {
		t.Fatal(err)
	}
	oldDir := filepath.Join(data, "addons", "ad_old", hash)
	if err := addon.CopyDir(fixture("files"), oldDir); err != nil {
		t.Fatal(err)
	}
	info := `{"triggers":["existing-item"],"runners":["trivial"],"usableRunners":["trivial"],"networking":false,"collectOutput":true}`
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO berth_addons (id, name, version, source, hash, dir, pure, info, created_ms, updated_ms)
		VALUES ('ad_old', 'files', '1.0', $1, $2, $3, 1, $4, 1, 1)`, fixture("files"), hash, oldDir, info)
	spec := func(args string) string {
		b, _ := json.Marshal(map[string]any{"steps": []map[string]any{{"addonId": "ad_old", "name": "files-1.0", "dir": oldDir, "args": args, "pure": true}}})
		return string(b)
	}
	// A succeeded run with its files in runs/<id>/output.
	for name, content := range filesWant("old-run") {
		p := filepath.Join(data, "runs", "run_old", "output", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	result := `{"kind":"success","outputFiles":["big.bin","sub/greeting.txt"]}`
	insertRun := func(id, state, spec, result string, jobID int) {
		exec(`INSERT INTO berth_runs (id, config_id, trigger_name, state, attempts, max_attempts, pure, spec, node, job_id,
			error, result, logs, cancel_requested, webhook_state, created_ms, started_ms, finished_ms)
			VALUES ($1, '', 'manual', $2, 0, 1, 1, $3, 'old-node', $4, '', $5, '{}', 0, '', 1000, 0, 0)`, id, state, spec, jobID, result)
	}
	insertRun("run_old", "succeeded", spec("old-run"), result, 1)
	// A run stored but not queued yet (its job was never made): recovery
	// queues it at the first start.
	insertRun("run_queued", "queued", spec("queued-run"), "", 0)
	db.Close()

	// The first start of the new berth on the old data dir and database.
	first := startNode(t, nodeOpts{dbURL: dbURL, dataDir: data, nodeID: "upgraded"})
	if r := first.waitFinal("run_queued"); r.State != "succeeded" {
		t.Fatalf("the run queued before the upgrade = %s: %s", r.State, r.Error)
	}
	first.stop()
	// Every local file of the old layout goes: what follows uses only
	// the database.
	for _, d := range []string{"addons", "runs"} {
		if err := os.RemoveAll(filepath.Join(data, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(data, "blob-cache")); err != nil {
		t.Fatal(err)
	}
	next := nodeOpts{dbURL: dbURL, dataDir: data, nodeID: "upgraded"}
	if dbURL != "" {
		next = nodeOpts{dbURL: dbURL, nodeID: "another"}
	}
	n := startNode(t, next)
	checkFiles(t, n, "run_old", "old-run")
	checkFiles(t, n, "run_queued", "queued-run")
	id := n.runAdhoc("ad_old", "after-upgrade")
	if r := n.waitFinal(id); r.State != "succeeded" {
		t.Fatalf("a new run of the upgraded addon = %s: %s", r.State, r.Error)
	}
	checkFiles(t, n, id, "after-upgrade")
}

// An output file over blob-max-size fails the run with a message that
// names the file and the setting; an addon package over it is refused.
func TestBlobsOverTheSizeLimitAreRefusedWithTheFileAndSetting(t *testing.T) {
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.BlobMaxSize = 1 << 20; s.Retries = 0 }})
	ad := n.install(fixture("files"))
	r := n.waitFinal(n.runAdhoc(ad.ID, "x"))
	if r.State != "failed" || !strings.Contains(r.Error, "big.bin") || !strings.Contains(r.Error, "blob-max-size") {
		t.Fatalf("run with a 2.5 MiB output file over a 1 MiB limit = %s %q; want failed naming big.bin and blob-max-size", r.State, r.Error)
	}
	small := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.BlobMaxSize = 100 }})
	var out map[string]any
	if code := small.call("POST", "/v1/addons", map[string]string{"path": fixture("files")}, &out); code != http.StatusRequestEntityTooLarge || !strings.Contains(fmt.Sprint(out), "blob-max-size") {
		t.Fatalf("installing an addon over blob-max-size = %d %v; want 413 naming blob-max-size", code, out)
	}
	_ = time.Second
}

// The files uploaded with an event are blobs too: a node that did not
// receive the upload runs the event's run with them, and a re-run on
// such a node (the receiving node gone with its data dir) as well.
func TestAnEventsFilesReachARunOnAnotherNode(t *testing.T) {
	db := storetest.Postgres(t)
	dataA := t.TempDir()
	a := startNode(t, nodeOpts{dbURL: db, dataDir: dataA, nodeID: "A", set: func(s *settings.Serve) { s.Concurrency = 1 }})
	ad := a.install(filesAddon(t))
	a.config(map[string]any{"name": "seen", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": ad.ID}}})
	// A's only slot is busy: B, started after the event, runs it.
	busy := a.runAdhoc(a.install(fixture("sleep")).ID, "60")
	a.wait(busy, "running", func(r runV) bool { return r.State == "running" })
	body, ct := multipartBody(t, [][3]string{
		{"event", "", `{"trigger":"existing-item","item":{"id":"i7"},"files":{"originals":[{"file":"scan.jpg","id":"att-9"}]}}`},
		{"original", "scan.jpg", "\xff\xd8\xff\xe0"},
	})
	req, _ := http.NewRequest("POST", a.URL+"/v1/events", body)
	req.Header.Set("Content-Type", ct)
	var ev struct{ Runs []runV }
	if code := a.do(req, &ev); code != http.StatusAccepted || len(ev.Runs) != 1 {
		t.Fatalf("event = %d %+v", code, ev)
	}
	b := startNode(t, nodeOpts{dbURL: db, nodeID: "B"})
	r := b.waitFinal(ev.Runs[0].ID)
	want := "att-9\n{\"id\":\"i7\"}\nsecret=\n"
	if got := get(t, b.URL+"/v1/runs/"+r.ID+"/files/seen.txt"); r.State != "succeeded" || r.Node != "B" || got != want {
		t.Fatalf("the event's run = %s on %s (%s), saw %q; want succeeded on B seeing %q", r.State, r.Node, r.Error, got, want)
	}
	a.mustCall(http.StatusAccepted, "POST", "/v1/runs/"+busy+"/cancel", nil, nil)
	a.stop()
	os.RemoveAll(dataA)
	var again runV
	b.mustCall(http.StatusAccepted, "POST", "/v1/runs/"+r.ID+"/rerun", nil, &again)
	again = b.waitFinal(again.ID)
	if got := get(t, b.URL+"/v1/runs/"+again.ID+"/files/seen.txt"); again.State != "succeeded" || got != want {
		t.Fatalf("the re-run on B = %s (%s), saw %q; want %q", again.State, again.Error, got, want)
	}
}
