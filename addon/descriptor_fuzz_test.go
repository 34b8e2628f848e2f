package addon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParseDescriptor checks that no descriptor panics or hangs
// ParseDescriptor, that it fails only with a *DescriptorError naming the
// file, and that what it accepts has a safe name and version. The seeds
// are testdata/descriptors, testdata/docspell and testdata/fuzz (issue
// 16's alias bomb and tags on empty values among them). `go test` runs
// only the seeds; `make fuzz` fuzzes.
func FuzzParseDescriptor(f *testing.F) {
	for _, pattern := range []string{"testdata/descriptors/*", "testdata/docspell/*"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Descriptor
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			d, err = ParseDescriptor("d.yaml", data)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("ParseDescriptor did not return within 5 s on %q", data)
		}
		if err != nil {
			var de *DescriptorError
			if !errors.As(err, &de) || de.File != "d.yaml" {
				t.Fatalf("error %v is %T, not a *DescriptorError naming the file", err, err)
			}
			return
		}
		if !safeName().MatchString(d.Meta.Name) || !safeName().MatchString(d.Meta.Version) {
			t.Fatalf("accepted name %q version %q", d.Meta.Name, d.Meta.Version)
		}
		if img := d.Runner.Docker.Image; img != "" && imageRefProblem(img) != "" {
			t.Fatalf("accepted image %q", img)
		}
	})
}
