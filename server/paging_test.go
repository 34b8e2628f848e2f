package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// storeRuns stores finished runs of config "paging", all created in the
// same millisecond, directly in the database at dbURL (or the SQLite
// file of dataDir), and returns their ids newest first as the API lists
// them.
func storeRuns(t *testing.T, dbURL, dataDir string, n int) []string {
	t.Helper()
	ctx := context.Background()
	db, st := migratedStore(t, dbURL, dataDir)
	defer db.Close()
	same := time.Now().Add(-time.Minute)
	var ids []string
	for i := range n {
		id := fmt.Sprintf("run_same_%02d", i)
		if _, err := st.InsertRun(ctx, nil, store.Run{ID: id, ConfigID: "paging", Trigger: "manual", State: store.Succeeded, Spec: []byte(`{}`), Created: same}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	slices.Reverse(ids)
	return ids
}

func TestPagingThroughRunsCreatedInOneMillisecondSkipsNone(t *testing.T) {
	t.Run("on sqlite", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		want := storeRuns(t, "", dataDir, 7)
		pageThrough(t, startNode(t, nodeOpts{dataDir: dataDir}), want)
	})
	t.Run("on postgres", func(t *testing.T) {
		db := storetest.Postgres(t)
		n := startNode(t, nodeOpts{dbURL: db})
		pageThrough(t, n, storeRuns(t, db, "", 7))
	})
}

func pageThrough(t *testing.T, n *node, want []string) {
	t.Run("the next cursor of each full page leads to the rest", func(t *testing.T) {
		var got []string
		cursor := ""
		for range 10 {
			var page struct {
				Runs []runV
				Next string
			}
			n.mustCall(200, "GET", "/v1/runs?config=paging&limit=3&cursor="+url.QueryEscape(cursor), nil, &page)
			for _, r := range page.Runs {
				got = append(got, r.ID)
			}
			if page.Next == "" {
				if len(page.Runs) == 3 {
					t.Fatalf("a full page has no next cursor")
				}
				break
			}
			cursor = page.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paging gave %v, want each run once: %v", got, want)
		}
	})
	t.Run("a malformed cursor is refused naming the parameter", func(t *testing.T) {
		var e apiErr
		if code := n.call("GET", "/v1/runs?cursor=%21%21", nil, &e); code != 400 || e.Error.Code != "validation_failed" {
			t.Fatalf("GET /v1/runs?cursor=!! = %d %+v, want 400 validation_failed", code, e)
		}
	})
	t.Run("a tampered cursor is refused with 400, not answered or failed with 500", func(t *testing.T) {
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for name, c := range map[string]string{
			"negative time":             enc("-5:run_x"),
			"time before the epoch":     enc("-9223372036854775808:run_x"),
			"time far in the future":    enc("9223372036854775807:run_x"),
			"no id":                     enc("1700000000000:"),
			"no separator":              enc("1700000000000"),
			"not a number":              enc("soon:run_x"),
			"padded base64":             base64.URLEncoding.EncodeToString([]byte("1700000000000:run_x")),
			"an id with a control byte": enc("1700000000000:run_\x00"),
			"an id not in UTF-8":        enc("1700000000000:run_\xff"),
		} {
			var e apiErr
			code := n.call("GET", "/v1/runs?cursor="+url.QueryEscape(c), nil, &e)
			if code != 400 || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Message, "cursor") {
				t.Errorf("cursor with %s = %d %+v, want 400 validation_failed naming the cursor", name, code, e)
			}
		}
	})
	t.Run("a config filter that cannot be an id is refused with 400", func(t *testing.T) {
		var e apiErr
		if code := n.call("GET", "/v1/runs?config=rc_%00", nil, &e); code != 400 || !strings.Contains(e.Error.Message, "config") {
			t.Fatalf("GET /v1/runs?config=rc_%%00 = %d %+v, want 400 naming config", code, e)
		}
	})
	t.Run("a cursor combines with the state and config filters", func(t *testing.T) {
		var first struct {
			Runs []runV
			Next string
		}
		n.mustCall(200, "GET", "/v1/runs?config=paging&state=succeeded&limit=2", nil, &first)
		var rest struct{ Runs []runV }
		n.mustCall(200, "GET", "/v1/runs?config=paging&state=succeeded&limit=100&cursor="+url.QueryEscape(first.Next), nil, &rest)
		if len(first.Runs)+len(rest.Runs) != len(want) {
			t.Fatalf("two pages with filters gave %d+%d runs, want %d", len(first.Runs), len(rest.Runs), len(want))
		}
		var none struct{ Runs []runV }
		n.mustCall(200, "GET", "/v1/runs?config=paging&state=failed&cursor="+url.QueryEscape(first.Next), nil, &none)
		if len(none.Runs) != 0 {
			t.Fatalf("state=failed after a cursor listed %d runs, want none", len(none.Runs))
		}
	})
	t.Run("the old before parameter still pages by time", func(t *testing.T) {
		var all struct{ Runs []json.RawMessage }
		n.mustCall(200, "GET", "/v1/runs?config=paging&before="+url.QueryEscape(time.Now().Format(time.RFC3339Nano)), nil, &all)
		if len(all.Runs) != len(want) {
			t.Fatalf("before=now listed %d runs, want %d", len(all.Runs), len(want))
		}
	})
}

func TestTheOpenAPIDocumentDescribesRunPaging(t *testing.T) {
	n := startNode(t, nodeOpts{})
	var doc struct {
		Paths map[string]pathItem[struct {
			Parameters []struct{ Name, In string }
			Responses  map[string]struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]any
					}
				}
			}
		}]
	}
	if err := json.Unmarshal([]byte(get(t, n.URL+"/openapi.json")), &doc); err != nil {
		t.Fatal(err)
	}
	list := doc.Paths["/v1/runs"]["get"]
	var names []string
	for _, p := range list.Parameters {
		names = append(names, p.In+":"+p.Name)
	}
	for _, want := range []string{"query:state", "query:config", "query:limit", "query:before", "query:cursor"} {
		if !slices.Contains(names, want) {
			t.Errorf("GET /v1/runs parameters %v lack %s", names, want)
		}
	}
	props := list.Responses["200"].Content["application/json"].Schema.Properties
	for _, want := range []string{"runs", "next"} {
		if _, ok := props[want]; !ok {
			t.Errorf("GET /v1/runs answer properties lack %s", want)
		}
	}
}

func TestAnIDThatCannotBeOneIsNotFoundRatherThanAnError(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"on sqlite", func(*testing.T) string { return "" }},
		{"on postgres", func(t *testing.T) string { return storetest.Postgres(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			n := startNode(t, nodeOpts{dbURL: db.url(t)})
			for _, path := range []string{"/v1/runs/run_%00x", "/v1/runs/run_%FFx", "/v1/addons/a%01b", "/v1/run-configs/rc_%00", "/ui/runs/run_%00", "/v1/runs/run_%00x/logs"} {
				n.mustCall(404, "GET", path, nil, nil)
			}
		})
	}
}
