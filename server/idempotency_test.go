package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/store/storetest"
)

// sendEvent posts an event body (JSON, or multipart when ctype says
// so) with an Idempotency-Key and returns the status, the run ids and
// the error code of the answer.
func (n *node) sendEvent(key, ctype string, body io.Reader) (status int, ids []string, code string, replayed bool) {
	n.t.Helper()
	req, err := http.NewRequest("POST", n.URL+"/v1/events", body)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	var out struct {
		Runs  []runV
		Error struct{ Code, Message string }
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(data, &out); err != nil {
		n.t.Fatalf("POST /v1/events: %d: not JSON: %v\n%s", resp.StatusCode, err, data)
	}
	status = resp.StatusCode
	for _, r := range out.Runs {
		ids = append(ids, r.ID)
	}
	return status, ids, out.Error.Code, resp.Header.Get("Idempotent-Replayed") == "true"
}

// A resend of an event with the same Idempotency-Key, to the same node
// or another one on the same PostgreSQL, returns the runs the first
// send queued and queues none; with another event it is refused (the
// 422 of draft-ietf-httpapi-idempotency-key-header-06, "Error
// Scenarios"), and concurrent sends of one key to both
// nodes queue the event once.
func TestAnIdempotencyKeyQueuesAnEventOnceAcrossNodes(t *testing.T) {
	db := storetest.Postgres(t)
	n1 := startNode(t, nodeOpts{dbURL: db, nodeID: "one"})
	n2 := startNode(t, nodeOpts{dbURL: db, nodeID: "two"})
	a := n1.install(fixture("tick"))
	n1.config(map[string]any{"name": "a", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	n1.config(map[string]any{"name": "b", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	countRuns := func() int {
		var page struct{ Runs []runV }
		n2.mustCall(http.StatusOK, "GET", "/v1/runs?limit=1000", nil, &page)
		return len(page.Runs)
	}
	event := func(item string) io.Reader {
		return strings.NewReader(`{"trigger": "existing-item", "item": {"id": "` + item + `"}}`)
	}

	status, first, _, replayed := n1.sendEvent("key-1", "application/json", event("item-1"))
	if status != http.StatusAccepted || len(first) != 2 || replayed {
		t.Fatalf("first send: %d %v replayed=%v", status, first, replayed)
	}
	t.Run("a resend to the other node returns the same runs", func(t *testing.T) {
		// The same event with other spacing and key order is the same event.
		body := strings.NewReader(`{"item":{"id":"item-1"},"trigger":"existing-item"}`)
		status, again, _, replayed := n2.sendEvent("key-1", "application/json", body)
		if status != http.StatusAccepted || !slices.Equal(again, first) || !replayed {
			t.Fatalf("resend: %d %v replayed=%v, want %v", status, again, replayed, first)
		}
		if c := countRuns(); c != 2 {
			t.Fatalf("%d runs after the resend, want 2", c)
		}
	})
	t.Run("the same key with another event is refused", func(t *testing.T) {
		status, ids, code, _ := n2.sendEvent("key-1", "application/json", event("item-2"))
		if status != http.StatusUnprocessableEntity || code != "idempotency_key_reused" || ids != nil {
			t.Fatalf("other event, same key: %d %s %v", status, code, ids)
		}
		if c := countRuns(); c != 2 {
			t.Fatalf("%d runs after the refused send, want 2", c)
		}
	})
	t.Run("without a key every send queues runs", func(t *testing.T) {
		n1.sendEvent("", "application/json", event("item-1"))
		if c := countRuns(); c != 4 {
			t.Fatalf("%d runs, want 4", c)
		}
	})
	t.Run("concurrent sends of one key to both nodes queue the event once", func(t *testing.T) {
		before := countRuns()
		var wg sync.WaitGroup
		results := make([][]string, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := []*node{n1, n2}[i%2]
				status, ids, code, _ := n.sendEvent("key-race", "application/json", event("item-3"))
				if status != http.StatusAccepted {
					t.Errorf("send %d: %d %s", i, status, code)
				}
				results[i] = ids
			}()
		}
		wg.Wait()
		for i, ids := range results {
			if len(ids) != 2 || !slices.Equal(ids, results[0]) {
				t.Fatalf("send %d got runs %v, send 0 got %v", i, ids, results[0])
			}
		}
		if c := countRuns(); c != before+2 {
			t.Fatalf("%d runs after 8 concurrent sends, want %d", c, before+2)
		}
	})
	t.Run("a multipart event is the same event with another boundary, not with other file contents", func(t *testing.T) {
		form := func(content string) (io.Reader, string) {
			return multipartBody(t, [][3]string{{"event", "", `{"trigger": "existing-item"}`}, {"original", "a.txt", content}})
		}
		body, ct := form("hello")
		status, ids, _, _ := n1.sendEvent("key-files", ct, body)
		if status != http.StatusAccepted || len(ids) != 2 {
			t.Fatalf("multipart send: %d %v", status, ids)
		}
		body, ct = form("hello")
		if status, again, _, replayed := n2.sendEvent("key-files", ct, body); status != http.StatusAccepted || !slices.Equal(again, ids) || !replayed {
			t.Fatalf("multipart resend: %d %v replayed=%v, want %v", status, again, replayed, ids)
		}
		body, ct = form("other bytes")
		if status, _, code, _ := n2.sendEvent("key-files", ct, body); status != http.StatusUnprocessableEntity || code != "idempotency_key_reused" {
			t.Fatalf("other file contents, same key: %d %s", status, code)
		}
	})
	t.Run("a malformed key is refused", func(t *testing.T) {
		for _, k := range []string{strings.Repeat("k", 256), "tab\there"} {
			if status, _, _, _ := n1.sendEvent(k, "application/json", event("item-9")); status != http.StatusBadRequest {
				t.Errorf("key %q: %d, want 400", k, status)
			}
		}
	})
}
