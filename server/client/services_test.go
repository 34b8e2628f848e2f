package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/server/client"
)

// fakeDaemon answers the services API as the contract says, recording
// each request.
type fakeDaemon struct {
	t    *testing.T
	reqs []string
	put  client.PutServicesRequest
}

const projectJSON = `{"project":"web","file":"/srv/web/services.yaml","source":"api","stateDir":"/run/berth/services/web","state":"running",
"services":[{"name":"db","state":"running","since":"2026-12-03T12:00:00Z","containerId":"abc","pid":42,"health":"healthy","restarts":1},
{"name":"app","state":"backoff","since":"2026-12-03T12:00:01Z","attempt":2,"lastExitCode":3,"restarts":0}]}`

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":"unauthorized","message":"a valid API token is required"}}`)
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/services":
		io.WriteString(w, `{"projects":[`+projectJSON+`]}`)
	case r.Method == "GET" && r.URL.Path == "/v1/services/web":
		io.WriteString(w, projectJSON)
	case r.Method == "GET" && r.URL.Path == "/v1/services/web/logs":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "db  | one\napp | two\n")
	case r.Method == "PUT" && r.URL.Path == "/v1/services/web":
		if err := json.NewDecoder(r.Body).Decode(&f.put); err != nil {
			f.t.Errorf("PUT body: %v", err)
		}
		w.WriteHeader(201)
		io.WriteString(w, projectJSON)
	case r.Method == "PUT" && r.URL.Path == "/v1/services/held":
		w.WriteHeader(409)
		io.WriteString(w, `{"error":{"code":"conflict","message":"project held is held by berth services up (pid 7)"}}`)
	case r.Method == "DELETE" && r.URL.Path == "/v1/services/web":
		io.WriteString(w, strings.TrimSuffix(projectJSON, "}")+`,"stopped":["app","db"],"removed":["old"],"networks":["back"],"forgotten":true,"note":"the handed-over file is forgotten"}`)
	case r.Method == "POST" && r.URL.Path == "/v1/services/web/restart":
		w.WriteHeader(204)
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no such project"}}`)
	}
}

func TestServicesClientSpeaksTheServicesAPI(t *testing.T) {
	fake := &fakeDaemon{t: t}
	ts := httptest.NewServer(fake)
	defer ts.Close()
	c := &client.Client{BaseURL: ts.URL, Token: "tok"}
	ctx := context.Background()

	t.Run("list decodes every project and keeps the raw answer", func(t *testing.T) {
		l, err := c.ListServices(ctx)
		if err != nil || len(l.Projects) != 1 || l.Projects[0].Project != "web" || !bytes.Contains(l.Raw, []byte(`"projects"`)) {
			t.Fatalf("ListServices = %+v, %v", l, err)
		}
		if len(l.Projects[0].Raw) == 0 {
			t.Error("a listed project has no Raw")
		}
	})
	t.Run("get decodes the project and its services", func(t *testing.T) {
		p, err := c.GetServices(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if p.File != "/srv/web/services.yaml" || p.Source != "api" || p.State != "running" || p.StateDir == "" || len(p.Services) != 2 {
			t.Fatalf("GetServices = %+v", p)
		}
		db, app := p.Services[0], p.Services[1]
		if db.Health != "healthy" || db.Pid != 42 || db.Restarts != 1 || app.LastExitCode == nil || *app.LastExitCode != 3 || app.Attempt != 2 {
			t.Errorf("services = %+v", p.Services)
		}
	})
	t.Run("an unknown project is a 404", func(t *testing.T) {
		_, err := c.GetServices(ctx, "nope")
		if client.StatusOf(err) != 404 || !strings.Contains(err.Error(), "no such project") {
			t.Errorf("err = %v (status %d)", err, client.StatusOf(err))
		}
	})
	t.Run("put sends the file, its text, the names and replace", func(t *testing.T) {
		p, err := c.PutServices(ctx, "web", client.PutServicesRequest{File: "/srv/web/services.yaml", Spec: "containers: {}\n", Names: []string{"app"}, Replace: true})
		if err != nil || p.Project != "web" {
			t.Fatalf("PutServices = %+v, %v", p, err)
		}
		want := client.PutServicesRequest{File: "/srv/web/services.yaml", Spec: "containers: {}\n", Names: []string{"app"}, Replace: true}
		if fake.put.File != want.File || fake.put.Spec != want.Spec || len(fake.put.Names) != 1 || !fake.put.Replace {
			t.Errorf("the daemon got %+v", fake.put)
		}
	})
	t.Run("a conflict carries the daemon's message", func(t *testing.T) {
		_, err := c.PutServices(ctx, "held", client.PutServicesRequest{File: "/f", Spec: "x"})
		if client.StatusOf(err) != 409 || !strings.Contains(err.Error(), "held by berth services up") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("down, restart and logs reach their paths", func(t *testing.T) {
		fake.reqs = nil
		d, err := c.DownServices(ctx, "web")
		if err != nil || d.Project != "web" || len(d.Services) != 2 || strings.Join(d.Stopped, ",") != "app,db" || d.Removed[0] != "old" || d.Networks[0] != "back" || !d.Forgotten || d.Note == "" || len(d.Raw) == 0 {
			t.Errorf("DownServices = %+v, %v", d, err)
		}
		if err := c.RestartService(ctx, "web", "db"); err != nil {
			t.Error(err)
		}
		var buf bytes.Buffer
		if err := c.ServiceLogs(ctx, "web", "", client.ServiceLogsOptions{Tail: 5}, &buf); err != nil || buf.String() != "db  | one\napp | two\n" {
			t.Errorf("ServiceLogs = %q, %v", buf.String(), err)
		}
		if err := c.ServiceLogs(ctx, "web", "db", client.ServiceLogsOptions{Tail: -1, Timestamps: true}, io.Discard); err != nil {
			t.Error(err)
		}
		want := []string{"DELETE /v1/services/web", "POST /v1/services/web/restart?name=db", "GET /v1/services/web/logs?tail=5", "GET /v1/services/web/logs?name=db&timestamps=true"}
		if strings.Join(fake.reqs, "\n") != strings.Join(want, "\n") {
			t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(fake.reqs, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("logs of an unknown project are a 404", func(t *testing.T) {
		if err := c.ServiceLogs(ctx, "nope", "", client.ServiceLogsOptions{Tail: -1}, io.Discard); client.StatusOf(err) != 404 {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a wrong token is a 401", func(t *testing.T) {
		bad := &client.Client{BaseURL: ts.URL, Token: "wrong"}
		if _, err := bad.GetServices(ctx, "web"); client.StatusOf(err) != 401 {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no daemon is no status", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		_, err := (&client.Client{BaseURL: gone.URL}).GetServices(ctx, "web")
		if err == nil || client.StatusOf(err) != 0 || !strings.Contains(err.Error(), gone.URL) {
			t.Errorf("err = %v", err)
		}
	})
}
