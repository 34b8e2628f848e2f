package service_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
)

// Issue 14 §5: while an image is loaded or pulled, or a pre-start hook
// runs, the starting state's detail says which step runs, and a long
// load says how far it got.
func TestTheStartingDetailSaysWhichStepRunsAndHowFarALoadGot(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			testStartSteps(t, require(t))
		})
	}
}

func testStartSteps(t *testing.T, eng *engine.Client) {
	dir := t.TempDir()
	tag, archive := savedImage(t, eng, "steps", dir)
	// The stream stalls after its first 64 KiB, so that the detail is
	// refreshed with the bytes read so far.
	stream := filepath.Join(dir, "stream.sh")
	os.WriteFile(stream, []byte("#!/bin/sh\nhead -c 65536 "+archive+"\nsleep 1\nexec tail -c +65537 "+archive+"\n"), 0o755)

	s := newStack(t, eng, fmt.Sprintf(`
backend: {{BACKEND}}
containers:
  {{P}}loaded:
    image: "%s"
    imageStream: "%s"
    pull: never
    preStart: [["sh", "-c", "sleep 0.3"]]
    cmd: `+loop+`
    stopTimeout: 2s
  {{P}}absent:
    image: "localhost:1/berth-test/absent:1"
    cmd: `+loop+`
`, tag, stream))
	s.progress = 100 * time.Millisecond
	sup, stop := s.up()
	s.waitState(sup, s.p+"loaded", service.Running)
	s.wait(sup, s.p+"absent", "exited after the pull", func(st service.Status) bool {
		return st.State == service.Backoff || st.State == service.Failed
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ name, detail string }{
		{s.p + "loaded", `^pre-start: removing stale container ` + s.p + `loaded$`},
		{s.p + "loaded", `^pre-start: loading image stream ` + regexp.QuoteMeta(stream) + `$`},
		{s.p + "loaded", `^pre-start: loading image stream ` + regexp.QuoteMeta(stream) + `, 64\.0 KiB read in [01]s$`},
		{s.p + "loaded", `^pre-start: running preStart\[0\]: sh -c sleep 0\.3$`},
		{s.p + "loaded", `^creating the container from ` + regexp.QuoteMeta(tag) + `$`},
		{s.p + "absent", `^pulling image localhost:1/berth-test/absent:1 \(the engine does not have it; the engine's progress is in the log\)$`},
	} {
		if !s.seenMatching(tt.name, service.Starting, tt.detail) {
			t.Errorf("%s was never starting with a detail matching %s; its details: %q", tt.name, tt.detail, s.details(tt.name))
		}
	}
	// Each step is in the log as well, the refreshes are not.
	if log := s.logOf(s.p + "loaded"); !regexp.MustCompile(`pre-start: running preStart\[0\]`).MatchString(log) ||
		regexp.MustCompile(`KiB read in`).MatchString(log) {
		t.Errorf("the log should hold each step and no refresh:\n%s", log)
	}
}

// seenMatching reports whether name went through state with a reason
// matching the regular expression re.
func (s *stack) seenMatching(name string, state service.State, re string) bool {
	rx := regexp.MustCompile(re)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Name == name && e.State == state && rx.MatchString(e.Reason) {
			return true
		}
	}
	return false
}

// details lists the reasons name's events carried, in order.
func (s *stack) details(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d []string
	for _, e := range s.events {
		if e.Name == name {
			d = append(d, string(e.State)+": "+e.Reason)
		}
	}
	return d
}
