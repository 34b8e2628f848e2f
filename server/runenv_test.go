package server_test

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writing.md:118-138 and AddonPrepare.scala:41-80: Docspell gives an
// addon DSC_SESSION and DSC_DOCSPELL_URL. Through berth, the host sends
// the session with the event ("env") and sets the URL on the run
// configuration ("hostUrl"); the secret reaches the addon and nothing
// else: not the node's files (database included), logs or API answers.
func TestAnEventsSecretEnvReachesTheAddonAndIsStoredOnlySealed(t *testing.T) {
	data := t.TempDir()
	logs := &syncBuffer{}
	n := startNode(t, nodeOpts{dataDir: data, log: logs})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: dsc, version: '1'}\ntriggers: [existing-item]\noptions: {networking: true, collectOutput: true}\nrunner: {trivial: {enable: true, exec: run.sh}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho \"${DSC_SESSION#sess-} $DSC_DOCSPELL_URL\" > \"$OUTPUT_DIR/dsc.txt\"\necho '{}'\n"), 0o755)
	a := n.install(dir)
	n.config(map[string]any{"name": "dsc", "enabled": true, "trigger": []string{"existing-item"}, "hostUrl": "http://docspell:7880",
		"addons": []map[string]string{{"addonId": a.ID}}})
	secret := "sess-" + strings.Repeat("Zq9", 12)
	var ev struct{ Runs []runV }
	if code := n.call("POST", "/v1/events", map[string]any{"trigger": "existing-item", "item": map[string]string{"id": "i1"}, "env": map[string]string{"DSC_SESSION": secret}}, &ev); code != http.StatusAccepted || len(ev.Runs) != 1 {
		t.Fatalf("event = %d %+v", code, ev)
	}
	r := n.waitFinal(ev.Runs[0].ID)
	if r.State != "succeeded" {
		t.Fatalf("run = %+v", r)
	}
	// The addon writes the secret without its prefix: its output files
	// are stored (in the database and the blob cache) as it wrote them.
	if got := get(t, n.URL+"/v1/runs/"+r.ID+"/files/dsc.txt"); got != strings.TrimPrefix(secret, "sess-")+" http://docspell:7880\n" {
		t.Errorf("the addon saw %q", got)
	}
	if view := get(t, n.URL+"/v1/runs/"+r.ID); strings.Contains(view, secret) {
		t.Errorf("GET /v1/runs/%s shows the secret", r.ID)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the node's log holds the secret")
	}
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.Contains(p, string(filepath.Separator)+"runs"+string(filepath.Separator)) {
			return nil // runs/<id>/output holds what the addon itself wrote
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret in plain text", p)
		}
		return nil
	})
}

func TestABadEventEnvOrHostURLIsRefusedWithoutEchoingTheValue(t *testing.T) {
	n := startNode(t, nodeOpts{})
	for _, c := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"/v1/events", map[string]any{"trigger": "existing-item", "env": map[string]string{"1X": "v"}}, `env: \"1X\" is not a variable name`},
		{"/v1/events", map[string]any{"trigger": "existing-item", "env": map[string]string{"X": "two\nlines-secret"}}, `env.X: the value holds a line break`},
		{"/v1/run-configs", map[string]any{"name": "c", "trigger": []string{"existing-item"}, "hostUrl": "docspell:7880", "addons": []map[string]string{}}, `hostUrl`},
	} {
		var out map[string]any
		code := n.call("POST", c.path, c.body, &out)
		msg, _ := out["error"].(map[string]any)
		text := ""
		if msg != nil {
			text, _ = msg["message"].(string)
		}
		if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity || strings.Contains(text, "secret") {
			t.Errorf("POST %s = %d %v", c.path, code, out)
		}
	}
}
