package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/server/client"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store/storetest"
)

type logsV struct {
	RunID string `json:"runId"`
	State string `json:"state"`
	Lines []struct {
		Seq     int64  `json:"seq"`
		Cursor  string `json:"cursor"`
		Attempt int    `json:"attempt"`
		Stream  string `json:"stream"`
		Line    string `json:"line"`
		Dropped int64  `json:"dropped"`
	} `json:"lines"`
	Dropped int64  `json:"dropped"`
	Next    string `json:"next"`
	More    bool   `json:"more"`
}

func (l logsV) texts() []string {
	var s []string
	for _, x := range l.Lines {
		s = append(s, x.Line)
	}
	return s
}

// Two nodes on one PostgreSQL, each with its own data dir: the node
// that does not run the run follows its log over HTTP, and gets the
// lines while the run is still running (the addon waits for a gate the
// test opens only after it saw them), then the end of the run.
func TestFollowingARunsLogFromAnotherNode(t *testing.T) {
	db := storetest.Postgres(t)
	// A loaded machine can delay a heartbeat past the tests' 2 s
	// node-timeout, and the other node would take the run over: not what
	// this test is about.
	patient := func(s *settings.Serve) { s.NodeTimeout = settings.Duration(time.Minute) }
	nodes := map[string]*node{
		"one": startNode(t, nodeOpts{dbURL: db, nodeID: "one", set: patient}),
		"two": startNode(t, nodeOpts{dbURL: db, nodeID: "two", set: patient}),
	}
	a := nodes["one"].install(fixture("chatty"))
	gate := filepath.Join(t.TempDir(), "gate")
	id := nodes["one"].runAdhoc(a.ID, gate)
	r := nodes["one"].wait(id, "running", func(r runV) bool { return r.State == "running" })
	other := nodes["one"]
	if r.Node == "one" {
		other = nodes["two"]
	}
	t.Logf("node %s runs %s; following from the other node", r.Node, id)

	got := make(chan client.LogLine, 100)
	done := make(chan error, 1)
	var state string
	go func() {
		var err error
		c := &client.Client{BaseURL: other.URL}
		state, err = c.FollowLogs(context.Background(), id, "", func(l client.LogLine) error { got <- l; return nil })
		close(got)
		done <- err
	}()
	var lines []client.LogLine
	for len(lines) < 4 {
		select {
		case l := <-got:
			lines = append(lines, l)
		case <-time.After(30 * time.Second):
			t.Fatalf("after 30 s the follower had %+v", lines)
		}
	}
	var now runV
	other.mustCall(http.StatusOK, "GET", "/v1/runs/"+id, nil, &now)
	if now.State != "running" {
		t.Fatalf("the run is %s when the follower has its first lines; the addon waits for the gate, so it must be running", now.State)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for l := range got {
		lines = append(lines, l)
	}
	if err := <-done; err != nil {
		t.Fatalf("FollowLogs: %v", err)
	}
	if state != "succeeded" {
		t.Fatalf("the follow ended with state %q", state)
	}
	var texts []string
	for i, l := range lines {
		texts = append(texts, l.Stream+" "+l.Line)
		if l.Attempt != 1 || (i > 0 && l.Seq <= lines[i-1].Seq) {
			t.Errorf("line %d: attempt %d seq %d", i, l.Attempt, l.Seq)
		}
	}
	want := []string{"berth attempt 1 of 3 on node " + r.Node, "stderr [chatty] chatty: line 1", "stderr [chatty] chatty: line 2",
		"stderr [chatty] chatty: line 3", "stderr [chatty] chatty: done"}
	if !slices.Equal(texts, want) {
		t.Fatalf("followed lines:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}

	t.Run("after= resumes after a line's cursor", func(t *testing.T) {
		var l logsV
		other.mustCall(http.StatusOK, "GET", "/v1/runs/"+id+"/logs?after="+lines[2].Cursor, nil, &l)
		if !slices.Equal(l.texts(), []string{"[chatty] chatty: line 3", "[chatty] chatty: done"}) || l.State != "succeeded" || l.Next != lines[4].Cursor {
			t.Fatalf("after %s: %+v", lines[2].Cursor, l)
		}
	})
	t.Run("Last-Event-ID resumes a follow stream, which ends with the run's state", func(t *testing.T) {
		req, _ := http.NewRequest("GET", other.URL+"/v1/runs/"+id+"/logs?follow=true", nil)
		req.Header.Set("Last-Event-ID", lines[3].Cursor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		var events []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "id:") || strings.HasPrefix(l, "event:") || strings.HasPrefix(l, "data: {\"state") {
				events = append(events, l)
			}
		}
		want := []string{"id: " + lines[4].Cursor, "event: line", "event: end", `data: {"state":"succeeded"}`}
		if !slices.Equal(events, want) {
			t.Fatalf("events %q, want %q", events, want)
		}
	})
}

// A retried run keeps the lines of every attempt, and GET /v1/runs/{id}
// shows them as the run's logs.
func TestEveryAttemptsLogLinesAreKept(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) {
			dbURL := ""
			if kind == "postgres" {
				dbURL = storetest.Postgres(t)
			}
			n := startNode(t, nodeOpts{dbURL: dbURL, set: func(s *settings.Serve) { s.LogLines = 50 }})
			a := n.install(fixture("flaky"))
			id := n.runAdhoc(a.ID, "")
			r := n.waitFinal(id)
			if r.State != "succeeded" || r.Attempts != 2 {
				t.Fatalf("run %s after %d attempts: %s", r.State, r.Attempts, r.Error)
			}
			var l logsV
			n.mustCall(http.StatusOK, "GET", "/v1/runs/"+id+"/logs", nil, &l)
			var got []string
			for _, x := range l.Lines {
				got = append(got, x.Stream+" "+strconv.Itoa(x.Attempt)+" "+x.Line)
			}
			want := []string{"berth 1 attempt 1 of 3 on node " + r.Node, "stderr 1 [flaky] flaky: first attempt fails", "berth 2 attempt 2 of 3 on node " + r.Node}
			if !slices.Equal(got, want) {
				t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if r.Logs == nil || !slices.Contains(r.Logs.Lines, "[flaky] flaky: first attempt fails") {
				t.Fatalf("GET /v1/runs/%s logs = %+v", id, r.Logs)
			}
			t.Run("bad cursors and flags are refused", func(t *testing.T) {
				for _, q := range []string{"after=x", "after=-1", "follow=maybe", "limit=0"} {
					if code := n.call("GET", "/v1/runs/"+id+"/logs?"+q, nil, nil); code != http.StatusBadRequest {
						t.Errorf("%s: %d, want 400", q, code)
					}
				}
			})
		})
	}
}

func TestTheOpenAPIDocumentDescribesLogsAndIdempotency(t *testing.T) {
	n := startNode(t, nodeOpts{})
	var doc struct {
		Paths map[string]pathItem[struct {
			Parameters []struct{ Name, In string }
			Responses  map[string]struct {
				Content map[string]any
			}
		}]
		Components struct{ Schemas map[string]any }
	}
	if err := json.Unmarshal([]byte(get(t, n.URL+"/openapi.json")), &doc); err != nil {
		t.Fatal(err)
	}
	params := func(path, method string) []string {
		var names []string
		for _, p := range doc.Paths[path][method].Parameters {
			names = append(names, p.In+":"+p.Name)
		}
		return names
	}
	for _, c := range []struct{ path, method, want string }{
		{"/v1/runs/{id}/logs", "get", "query:after"},
		{"/v1/runs/{id}/logs", "get", "query:follow"},
		{"/v1/runs/{id}/logs", "get", "query:limit"},
		{"/v1/runs/{id}/logs", "get", "header:Last-Event-ID"},
		{"/v1/events", "post", "header:Idempotency-Key"},
	} {
		if got := params(c.path, c.method); !slices.Contains(got, c.want) {
			t.Errorf("%s %s parameters %v lack %s", c.method, c.path, got, c.want)
		}
	}
	if _, ok := doc.Paths["/v1/runs/{id}/logs"]["get"].Responses["200"].Content["text/event-stream"]; !ok {
		t.Error("GET /v1/runs/{id}/logs does not say it answers text/event-stream")
	}
	if _, ok := doc.Paths["/v1/events"]["post"].Responses["422"]; !ok {
		t.Error("POST /v1/events does not list its 422 for a reused key")
	}
	if _, ok := doc.Components.Schemas["LogLine"]; !ok {
		t.Error("no LogLine schema")
	}
}

// A follow stream lasts as long as the run, not request-timeout: each
// write has its own deadline, and reading the request is over.
func TestAFollowStreamOutlivesTheRequestTimeout(t *testing.T) {
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.RequestTimeout = settings.Duration(time.Second) }})
	a := n.install(fixture("chatty"))
	gate := filepath.Join(t.TempDir(), "gate")
	id := n.runAdhoc(a.ID, gate)
	resp, err := http.Get(n.URL + "/v1/runs/" + id + "/logs?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		time.Sleep(3 * time.Second)
		os.WriteFile(gate, nil, 0o600)
	}()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "event:") || strings.HasPrefix(l, "data: {\"state") {
			events = append(events, l)
		}
	}
	if len(events) < 2 || events[len(events)-2] != "event: end" || events[len(events)-1] != `data: {"state":"succeeded"}` {
		t.Fatalf("a stream over 3 s with a 1 s request-timeout got %q (err %v), want it to end with the run", events, sc.Err())
	}
}
