package leftover_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leftover"
)

// TestMain lets the test binary play a berth that makes a directory and
// is then killed (the helper mode below).
func TestMain(m *testing.M) {
	if prefix := os.Getenv("LEFTOVER_TEST_MAKE"); prefix != "" {
		d, err := leftover.Make(prefix)
		if err != nil {
			os.Exit(3)
		}
		os.WriteFile(filepath.Join(d.Path, "secret"), []byte("s3cret"), 0o600)
		os.Stdout.WriteString(d.Path + "\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func prefix(t *testing.T) string {
	return "berth-leftover-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
}

func TestSweepRemovesOnlyWhatADeadBerthLeft(t *testing.T) {
	p := prefix(t)
	live, err := leftover.Make(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Remove() })

	// A berth killed outright, with SIGKILL, mid-run.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LEFTOVER_TEST_MAKE="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := out.Read(buf)
	dead := string(buf[:n-1])
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dead, "secret")); err != nil {
		t.Fatalf("the killed process left nothing to sweep: %v", err)
	}

	// An older berth's directory without a lock, long ago, and a fresh one.
	old, _ := os.MkdirTemp("", p)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	fresh, _ := os.MkdirTemp("", p)
	t.Cleanup(func() { os.RemoveAll(fresh) })

	var seen []string
	removed, err := leftover.Sweep(p, time.Minute, func(d string) { seen = append(seen, d) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{dead, old}
	slices.Sort(want)
	if !slices.Equal(removed, want) || !slices.Equal(seen, removed) && len(seen) != 2 {
		t.Errorf("Sweep removed %v (called before for %v), want %v", removed, seen, want)
	}
	for _, d := range []string{live.Path, fresh} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Sweep removed %s, which a live berth (or a moment ago) made: %v", d, err)
		}
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s: %v", live.Path, err)
	}
}

func TestSweepRefusesAPatternForAPrefix(t *testing.T) {
	for _, p := range []string{"", "berth-*", "a/b"} {
		if _, err := leftover.Sweep(p, 0, nil); err == nil {
			t.Errorf("Sweep(%q) = nil error", p)
		}
	}
}
