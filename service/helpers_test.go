package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// waitLimit bounds every wait for a state: a guard against hanging, not a
// speed assertion.
const waitLimit = 90 * time.Second

// stack is a spec under test with a unique prefix for its container names
// (container names are global to the engine) and its own project label.
type stack struct {
	t       testing.TB
	eng     *engine.Client
	file    *spec.File
	p       string // prefix, e.g. "b1234-"
	project string
	dir     string
	// progress, when set, is the supervisor's ProgressInterval.
	progress time.Duration

	mu     sync.Mutex
	events []service.Status
}

// newStack parses yamlText after replacing {{P}} with a unique prefix,
// {{IMG}} with the busybox test image and {{DIR}} with a temp dir.
func newStack(t testing.TB, eng *engine.Client, yamlText string) *stack {
	t.Helper()
	img := enginetest.BusyboxImage(t, eng)
	p := fmt.Sprintf("b%d%03d-", os.Getpid()%100000, time.Now().UnixNano()%1000)
	dir := t.TempDir()
	text := strings.NewReplacer("{{P}}", p, "{{IMG}}", img, "{{DIR}}", dir, "{{BACKEND}}", eng.Flavor()).Replace(yamlText)
	path := filepath.Join(dir, "services.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, eng: eng, file: f, p: p, project: "test-" + p[:len(p)-1], dir: dir}
	t.Cleanup(func() {
		ctx := context.Background()
		names, _ := eng.ListContainers(ctx, service.LabelProject+"="+s.project)
		for n := range f.Containers {
			names = append(names, n)
		}
		for _, n := range names {
			eng.RemoveContainer(ctx, n, true)
		}
	})
	return s
}

// up runs a supervisor in the background; the returned stop cancels it and
// waits for Run to return, reporting its error.
func (s *stack) up(names ...string) (*service.Supervisor, func() error) {
	s.t.Helper()
	sup, err := service.New(service.Config{
		Spec: s.file, Engine: s.eng, StateDir: filepath.Join(s.dir, "state"), Project: s.project, Names: names,
		NoJournald: true, PollInterval: 20 * time.Millisecond, ProgressInterval: s.progress,
		OnChange: func(st service.Status) {
			s.mu.Lock()
			s.events = append(s.events, st)
			s.mu.Unlock()
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitLimit):
				runErr = fmt.Errorf("supervisor did not stop within %s", waitLimit)
			}
		})
		return runErr
	}
	s.t.Cleanup(func() { stop() })
	return sup, stop
}

// wait polls until cond holds for name's status, failing after waitLimit.
func (s *stack) wait(sup *service.Supervisor, name string, what string, cond func(service.Status) bool) service.Status {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, st := range sup.Status() {
			if st.Name == name && cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never became %s; status: %+v\nlog:\n%s", name, what, sup.Status(), s.logOf(name))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) waitState(sup *service.Supervisor, name string, state service.State) service.Status {
	s.t.Helper()
	return s.wait(sup, name, string(state), func(st service.Status) bool { return st.State == state })
}

func (s *stack) logOf(name string) string {
	b, _ := os.ReadFile(service.LogPath(filepath.Join(s.dir, "state"), name))
	return string(b)
}

// index returns the position of the first event of name in state, or -1.
func (s *stack) index(name string, state service.State) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.events {
		if e.Name == name && e.State == state {
			return i
		}
	}
	return -1
}

// lastIndex returns the position of the last event of name in state, or -1.
func (s *stack) lastIndex(name string, state service.State) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].Name == name && s.events[i].State == state {
			return i
		}
	}
	return -1
}

// leftovers lists containers still labelled with the stack's project.
func (s *stack) leftovers() []string {
	names, err := s.eng.ListContainers(context.Background(), service.LabelProject+"="+s.project)
	if err != nil {
		s.t.Fatal(err)
	}
	return names
}

// loop is a container command that runs until stopped and exits 0 on TERM.
const loop = `["sh", "-c", "` + loopScript + `"]`

// loopScript runs until SIGTERM.
const loopScript = "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done"

// seen reports whether name went through state with a reason containing reason.
func (s *stack) seen(name string, state service.State, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Name == name && e.State == state && strings.Contains(e.Reason, reason) {
			return true
		}
	}
	return false
}

func engineRunOpts() engine.RunOpts { return engine.RunOpts{} }

func stoppedWithError(st service.Status) bool {
	return st.State == service.Stopped && st.LastError != ""
}

// savedImage tags the busybox test image as berth-test/NAME-ENGINE:PID,
// saves it to an archive in dir and removes the tag, so that a
// services file's imageFile or imageStream must load it again; the
// tag is removed when the test ends.
func savedImage(t *testing.T, eng *engine.Client, name, dir string) (tag, archive string) {
	t.Helper()
	ctx := context.Background()
	img := enginetest.BusyboxImage(t, eng)
	tag = fmt.Sprintf("berth-test/%s-%s:%d", name, eng.Flavor(), os.Getpid())
	if _, err := eng.Run(ctx, []string{"tag", img, tag}, engineRunOpts()); err != nil {
		t.Fatal(err)
	}
	archive = filepath.Join(dir, "image.tar")
	if _, err := eng.Run(ctx, []string{"save", "-o", archive, tag}, engineRunOpts()); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Run(ctx, []string{"rmi", tag}, engineRunOpts()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Run(context.Background(), []string{"rmi", tag}, engineRunOpts()) })
	return tag, archive
}
