package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/server/client"
	"github.com/berth-dev/berth/service"
)

// client.ServiceStatus mirrors service.Status so that the client needs
// nothing of the supervisor: the two must keep the same fields and JSON.
func TestTheClientsServiceStatusMirrorsServiceStatus(t *testing.T) {
	st, ct := reflect.TypeFor[service.Status](), reflect.TypeFor[client.ServiceStatus]()
	if st.NumField() != ct.NumField() {
		t.Errorf("service.Status has %d fields, client.ServiceStatus %d", st.NumField(), ct.NumField())
	}
	for i := range st.NumField() {
		sf := st.Field(i)
		cf, ok := ct.FieldByName(sf.Name)
		if !ok {
			t.Errorf("client.ServiceStatus lacks %s", sf.Name)
			continue
		}
		if sf.Tag.Get("json") != cf.Tag.Get("json") {
			t.Errorf("%s: json tag %q in service, %q in client", sf.Name, sf.Tag.Get("json"), cf.Tag.Get("json"))
		}
	}
	code := 3
	in := client.ServiceStatus{Name: "app", State: "backoff", Attempt: 2, LastExitCode: &code, Restarts: 4, Health: "unhealthy", LastErrorLine: "x"}
	got := toStatus(in)
	if got.Name != "app" || got.State != service.Backoff || got.Attempt != 2 || *got.LastExitCode != 3 || got.Restarts != 4 || got.Health != "unhealthy" || got.LastErrorLine != "x" {
		t.Errorf("toStatus = %+v", got)
	}
}

func TestLogsFollowFindsTheNewLinesAfterTheLastPrinted(t *testing.T) {
	tests := []struct {
		name        string
		lines, last []string
		want        int
		found       bool
	}{
		{"nothing printed yet: all", []string{"a", "b"}, nil, 0, true},
		{"no new lines", []string{"a", "b", "c"}, []string{"b", "c"}, 3, true},
		{"two new lines", []string{"b", "c", "d", "e"}, []string{"a", "b", "c"}, 2, true},
		{"the window starts inside the last printed", []string{"c", "d"}, []string{"a", "b", "c"}, 1, true},
		{"a repeated line is matched at its last run", []string{"x", "y", "x", "y", "z"}, []string{"x", "y"}, 4, true},
		{"a log that was cut: not found", []string{"p", "q"}, []string{"a", "b"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, found := after(tt.lines, tt.last)
			if i != tt.want || found != tt.found {
				t.Errorf("after(%q, %q) = %d, %v; want %d, %v", tt.lines, tt.last, i, found, tt.want, tt.found)
			}
		})
	}
}

func TestUpWaitSettlesOnRunningHealthyCompletedOrFailed(t *testing.T) {
	zero, one := 0, 1
	tests := []struct {
		name     string
		p        client.ServicesProject
		done     bool
		failures int
	}{
		{"all running", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{State: "running"}, {State: "running", Health: "healthy"}}}, true, 0},
		{"a check still starting", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{State: "running", Health: "starting"}}}, false, 0},
		{"not yet started", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{State: "stopped"}}}, false, 0},
		{"completed", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{State: "stopped", LastExitCode: &zero}}}, true, 0},
		{"exited non-zero for good", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{Name: "a", State: "stopped", LastExitCode: &one}, {State: "running"}}}, true, 1},
		{"in backoff: wait", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{State: "backoff"}}}, false, 0},
		{"failed", client.ServicesProject{State: "running", Services: []client.ServiceStatus{{Name: "a", State: "failed"}, {State: "running"}}}, true, 1},
		{"the project failed", client.ServicesProject{State: "failed", Error: "bad"}, true, 1},
		{"no services yet", client.ServicesProject{State: "running"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, failed := settled(tt.p)
			if done != tt.done || len(failed) != tt.failures {
				t.Errorf("settled = %v, %q; want %v with %d failed", done, failed, tt.done, tt.failures)
			}
		})
	}
}

func TestLogsFollowDropsTheTimesItAskedFor(t *testing.T) {
	tests := []struct {
		name, line string
		merged     bool
		want       string
	}{
		{"one container's line", "2026-12-03T12:00:00.123456Z hello", false, "hello"},
		{"a merged line keeps its prefix", "db  | 2026-12-03T12:00:00.123456Z hello", true, "db  | hello"},
		{"a line without a time", "db  | " + strings.Repeat(" ", 27) + " old line", true, "db  | old line"},
		{"a line the daemon did not stamp stays", "just text", false, "just text"},
		{"text that looks like a prefix stays", "a | b", true, "a | b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unstamp(tt.line, tt.merged); got != tt.want {
				t.Errorf("unstamp(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// `logs -f --tail N` through the daemon keeps the last N lines of each
// container, as without -f (the reviewer saw --tail 1 print only the
// last container's line).
func TestLogsFollowTailIsPerContainer(t *testing.T) {
	merged := []string{"cache | c1", "web   | w1", "cache | c2", "web   | w2", "web   | w3"}
	tests := []struct {
		n      int
		merged bool
		in     []string
		want   []string
	}{
		{1, true, merged, []string{"cache | c2", "web   | w3"}},
		{2, true, merged, []string{"cache | c1", "cache | c2", "web   | w2", "web   | w3"}},
		{0, true, merged, nil},
		{2, false, []string{"a", "b", "c"}, []string{"b", "c"}},
	}
	for _, tt := range tests {
		if got := lastOfEach(tt.in, tt.n, tt.merged); !slices.Equal(got, tt.want) {
			t.Errorf("lastOfEach(%q, %d, %v) = %q, want %q", tt.in, tt.n, tt.merged, got, tt.want)
		}
	}
}
