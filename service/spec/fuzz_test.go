package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/service/spec"
)

// FuzzParse checks that no services file panics or hangs Parse and that
// it fails only with a *spec.Error naming the file. Seeds: every fixture
// under testdata and testdata/fuzz (issue 16's ports: !x and alias bomb).
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*/*.yaml", "testdata/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, err = spec.Parse(filepath.Join(dir, "services.yaml"), data)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse did not return within 5 s on %q", data)
		}
		var se *spec.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("error %v is %T, not a *spec.Error", err, err)
		}
	})
}
