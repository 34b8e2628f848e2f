package nixflake_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/nixflake"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The daemon stores a run's build output as its "build" lines: the
// executor hands nix build's stderr to BuildOutput, line by line, each
// prefixed with the addon's name as its stderr lines are.
func TestABuildsOutputReachesTheExecutorsBuildOutput(t *testing.T) {
	requireNix(t)
	r := nixflake.New(offline(), nil)
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildBroken)
	var out lockedBuffer
	ex := &executor.Executor{Runners: map[string]runner.Runner{r.Name(): r}, Preference: []string{r.Name()},
		WorkRoot: t.TempDir(), CacheRoot: t.TempDir(), Timeout: time.Minute, BuildOutput: &out}
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed {
		t.Fatalf("a broken build gave %s: %s", res.Kind, res.Error)
	}
	got := out.String()
	if !strings.Contains(got, "[flaky] ") || !strings.Contains(got, "missing semicolon") {
		t.Fatalf("BuildOutput got:\n%s\nwant the build's lines, each prefixed [flaky]", got)
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(l, "[flaky] ") {
			t.Errorf("line %q lacks the addon's prefix", l)
		}
	}
}
