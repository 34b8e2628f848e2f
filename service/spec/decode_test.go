package spec_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/service/spec"
)

// Issue 16: services files that crashed or exhausted berth.
func TestLoadRefusesHostileYAML(t *testing.T) {
	tests := []struct{ file, want string }{
		{"tag-ports", "line 4: the YAML tag !x has no value"},
		{"alias-bomb", "expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" is refused, not a panic or a hang", func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file+".yaml")
			_, err := spec.Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, path, tt.want)
			}
		})
	}
}
