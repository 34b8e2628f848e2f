package yamlsafe

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzUnmarshal checks that no YAML panics or hangs Unmarshal into
// generic values, whatever the YAML library does with it.
func FuzzUnmarshal(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"args: !x\n", "a: &a [*a]\n", "<<: *x\n", "- !!binary x\n", "{a: [b, {c: d}]}\n", "a: |\n  x\n", "? [a]\n: b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			var v any
			_ = Unmarshal(data, &v)
			var m map[string][]string
			_ = Unmarshal(data, &m)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Unmarshal did not return within 5 s on %q", data)
		}
	})
}
