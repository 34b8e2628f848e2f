package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// The issue: a pure addon's 15 MB output was stored three times per run
// (the combined output and each addon's, inside the result) and decoded
// in full by every list request and by the web page (10 such runs: one
// listing 450 MB, the daemon's RSS 2.4 GB). The output is stored once
// now, lists neither read nor decode it, and GET /v1/runs/{id}/output
// serves it as stored, in ranges when asked.
func TestABigOutputIsStoredOnceAndListedWithoutIt(t *testing.T) {
	const size, runs = 4 << 20, 3
	dbURL := storetest.Postgres(t)
	n := startNode(t, nodeOpts{dbURL: dbURL})
	a := n.install(fixture("big-output"))
	var ids []string
	for range runs {
		var r runV
		n.mustCall(202, "POST", "/v1/runs", map[string]any{"addonId": a.ID, "args": fmt.Sprint(size), "item": map[string]string{"id": "x"}}, &r)
		ids = append(ids, r.ID)
	}
	for _, id := range ids {
		if r := n.waitFinal(id); r.State != "succeeded" {
			t.Fatalf("run %+v", r)
		}
	}

	t.Run("the record keeps the output once", func(t *testing.T) {
		db, err := store.Open(context.Background(), dbURL, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(context.Background(), `SELECT id, LENGTH(result) + LENGTH(logs) + LENGTH(spec) + LENGTH(output) FROM berth_runs`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var stored int64
			if err := rows.Scan(&id, &stored); err != nil {
				t.Fatal(err)
			}
			t.Logf("run %s: %d bytes stored for a %d-byte output", id, stored, size)
			if stored > size+size/4 {
				t.Errorf("run %s: %d bytes stored for a %d-byte output: it is kept more than once", id, stored, size)
			}
		}
	})
	t.Run("the answer of one run says how big the output is, without it", func(t *testing.T) {
		var r struct {
			Output     json.RawMessage
			OutputSize int64
			Result     struct {
				Addons []struct{ Output json.RawMessage }
			}
		}
		n.mustCall(200, "GET", "/v1/runs/"+ids[0], nil, &r)
		if r.OutputSize < size || len(r.Output) != 0 {
			t.Fatalf("outputSize %d, output inline %d bytes; want the size (over %d) and no output inline", r.OutputSize, len(r.Output), size)
		}
		for i, ad := range r.Result.Addons {
			if len(ad.Output) != 0 {
				t.Fatalf("result.addons[%d] carries the output again (%d bytes)", i, len(ad.Output))
			}
		}
	})
	t.Run("a list of the runs neither carries nor decodes the outputs", func(t *testing.T) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		body := rawGet(t, n, "/v1/runs", nil)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("listing %d runs with %d MiB outputs: answer %d bytes, %d KiB allocated in the process (client and daemon)", runs, size>>20, len(body), alloc>>10)
		if len(body) > 64<<10 {
			t.Errorf("the list is %d bytes for %d runs: it carries the outputs", len(body), runs)
		}
		if alloc > size {
			t.Errorf("listing allocated %d bytes, more than one output (%d): the outputs are read or decoded", alloc, size)
		}
	})
	t.Run("the web page does not carry the output either", func(t *testing.T) {
		if body := rawGet(t, n, "/ui/runs/"+ids[0], nil); len(body) > 64<<10 {
			t.Errorf("the run's page is %d bytes", len(body))
		}
		if body := rawGet(t, n, "/", nil); len(body) > 64<<10 {
			t.Errorf("the main page is %d bytes", len(body))
		}
	})
	t.Run("the output is downloaded whole, or in ranges", func(t *testing.T) {
		whole := rawGet(t, n, "/v1/runs/"+ids[1]+"/output", nil)
		var out struct {
			Commands []struct {
				Actions []struct{ Notes string }
			}
		}
		if err := json.Unmarshal(whole, &out); err != nil || len(out.Commands) != 1 || len(out.Commands[0].Actions[0].Notes) != size {
			t.Fatalf("the downloaded output (%d bytes) is not the addon's: %v", len(whole), err)
		}
		part := rawGet(t, n, "/v1/runs/"+ids[1]+"/output", http.Header{"Range": {"bytes=100-199"}})
		if string(part) != string(whole[100:200]) {
			t.Fatalf("bytes 100-199 = %q, want %q", part, whole[100:200])
		}
	})
}

func rawGet(t *testing.T, n *node, path string, h http.Header) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("GET %s = %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 500)])))
	}
	return b
}
