package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	recorded := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}, true
	}
	devel := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name         string
		v, c         string
		read         func() (*debug.BuildInfo, bool)
		wantV, wantC string
	}{
		{"ldflags win over the toolchain's record", "1.0.0", "fff", recorded, "1.0.0", "fff"},
		{"the toolchain's record fills what ldflags left out", "", "", recorded, "v1.2.3", "abc123"},
		{"a (devel) module version reads devel", "", "", devel, "devel", "unknown"},
		{"no build information at all reads devel and unknown", "", "", none, "devel", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.v, tt.c, tt.read)
			if got.Version != tt.wantV || got.Commit != tt.wantC {
				t.Errorf("resolve = %+v, want version %q commit %q", got, tt.wantV, tt.wantC)
			}
		})
	}
}
