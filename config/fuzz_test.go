package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad checks that no berth.yaml panics or hangs Load and that a bad
// one fails with a *config.Error naming the file. Seeds: testdata and
// testdata/fuzz (issue 16's runners: !x and alias bomb).
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "berth.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _, err = Load(file, nil)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Load did not return within 5 s on %q", data)
		}
		var ce *Error
		if err != nil && (!errors.As(err, &ce) || ce.File != file) {
			t.Fatalf("error %v is %T, not a *config.Error naming the file", err, err)
		}
	})
}
