package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/service"
)

// collect runs service.Logs and returns its lines as "SERVICE|TEXT".
func collect(t *testing.T, ctx context.Context, dir string, names []string, opt service.LogOptions) ([]string, error) {
	t.Helper()
	var got []string
	err := service.Logs(ctx, dir, names, opt, func(l service.LogLine) error {
		got = append(got, l.Service+"|"+l.Text)
		return nil
	})
	return got, err
}

func TestLogsMergesByTimeAndTails(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		tail  int
		want  []string
	}{
		{"one log, whole", []string{"db"}, -1, []string{
			"db|berth 09:00:00: state starting ", "db|db ready", "db|db checkpoint"}},
		{"one log, last 2", []string{"db"}, 2, []string{"db|db ready", "db|db checkpoint"}},
		{"one log, none", []string{"db"}, 0, nil},
		{"one log, more than it has", []string{"db"}, 10, []string{
			"db|berth 09:00:00: state starting ", "db|db ready", "db|db checkpoint"}},
		// A line without a time (an older berth's) goes with the line before it.
		{"two logs merged", []string{"app", "db"}, -1, []string{
			"db|berth 09:00:00: state starting ",
			"app|berth 09:00:01: state waiting for db",
			"db|db ready",
			"app|app listening",
			"app|a line from an older berth, without a time",
			"db|db checkpoint",
			"app|app request 1"}},
		{"two logs, last 2 of each", []string{"app", "db"}, 2, []string{
			"db|db ready",
			"app|a line from an older berth, without a time",
			"db|db checkpoint",
			"app|app request 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t, context.Background(), "testdata/logstate", tt.names, service.LogOptions{Tail: tt.tail})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLogsOfAServiceWithoutALogIsErrNoLog(t *testing.T) {
	_, err := collect(t, context.Background(), "testdata/logstate", []string{"db", "nope"}, service.LogOptions{Tail: -1})
	if !errors.Is(err, service.ErrNoLog) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v, want ErrNoLog naming nope", err)
	}
}

func TestLogNamesListsTheLogs(t *testing.T) {
	names, err := service.LogNames("testdata/logstate")
	if err != nil || strings.Join(names, ",") != "app,db" {
		t.Errorf("LogNames = %q, %v", names, err)
	}
}

// Following prints what is appended (also to a log empty at first, and
// a line written in two parts once it is whole) and ends with the
// context.
func TestLogsFollowsUntilTheContextEnds(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "a.log"), []byte("2026-12-03T09:00:00.000000Z old 1\n2026-12-03T09:00:01.000000Z old 2\n"), 0o600)
	os.WriteFile(filepath.Join(logs, "b.log"), nil, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- service.Logs(ctx, dir, []string{"a", "b"}, service.LogOptions{Tail: 1, Follow: true, Poll: 10 * time.Millisecond},
			func(l service.LogLine) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, l.Service+"|"+l.Text)
				return nil
			})
	}()
	waitFor := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			s := strings.Join(got, "\n")
			mu.Unlock()
			if s == strings.Join(want, "\n") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got\n%s\nwant\n%s", s, strings.Join(want, "\n"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	appendTo := func(name, s string) {
		f, err := os.OpenFile(filepath.Join(logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(f, s)
		f.Close()
	}
	waitFor("a|old 2")
	appendTo("a", "2026-12-03T09:00:02.000000Z new ")
	time.Sleep(50 * time.Millisecond)
	appendTo("a", "line\n")
	waitFor("a|old 2", "a|new line")
	appendTo("b", "2026-12-03T09:00:03.000000Z b was late\n")
	waitFor("a|old 2", "a|new line", "b|b was late")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Logs after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Logs did not end with its context")
	}
}
