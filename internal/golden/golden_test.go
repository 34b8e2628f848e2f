package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder keeps what Check reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errors = append(r.errors, f) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = true }
func (r *recorder) Fatal(a ...any)            { r.fatal = true }

func TestCheckReportsEachDifferingLineAndAMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		got    string
		errors int
	}{
		{"the same", "a\nb\nc\n", 0},
		{"one line changed", "a\nB\nc\n", 1},
		{"a line added", "a\nb\nc\nd\n", 1},
		{"two lines changed", "A\nb\nC\n", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Check(r, path, []byte(c.got))
			if len(r.errors) != c.errors || r.fatal {
				t.Errorf("%d errors (fatal %v), want %d", len(r.errors), r.fatal, c.errors)
			}
		})
	}
	r := &recorder{TB: t}
	Lines(r, filepath.Join(t.TempDir(), "missing.golden"), []string{"a"})
	if !r.fatal {
		t.Error("a missing golden file did not fail the test")
	}
	r = &recorder{TB: t}
	Lines(r, path, strings.Split("a\nb\nc", "\n"))
	if len(r.errors) != 0 || r.fatal {
		t.Errorf("Lines of the same lines reported %v", r.errors)
	}
}
