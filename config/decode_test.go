package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/yamlsafe"
)

// Issue 16: berth.yaml inputs that crashed or exhausted berth.
func TestLoadRefusesHostileYAML(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"a tag on an empty runners (panicked the YAML library)", "testdata/tag-runners.yaml", "line 1: the YAML tag !x has no value"},
		{"an alias bomb of 7 levels of 10", "testdata/alias-bomb.yaml", "expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.file, nil)
			var ce *Error
			if !errors.As(err, &ce) || ce.File != tt.file || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a *config.Error naming %s and saying %q", err, tt.file, tt.want)
			}
			var ye *yamlsafe.Error
			if !errors.As(err, &ye) {
				t.Errorf("err = %v does not wrap the *yamlsafe.Error", err)
			}
		})
	}
}
