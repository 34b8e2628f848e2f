package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by the Makefile:
//
//	-ldflags "-X github.com/berth-dev/berth/internal/buildinfo.version=… -X …buildinfo.commit=…"
var (
	version string
	commit  string
)

// Info is what a build knows about itself.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

var (
	once sync.Once
	info Info
)

// Get returns this binary's build information. Version is "devel" and
// Commit "unknown" when neither -ldflags nor the toolchain recorded them.
func Get() Info {
	once.Do(func() { info = resolve(version, commit, debug.ReadBuildInfo) })
	return info
}

// resolve prefers the -ldflags values and fills the gaps from the build
// information the toolchain embedded.
func resolve(v, c string, read func() (*debug.BuildInfo, bool)) Info {
	out := Info{Version: v, Commit: c, GoVersion: runtime.Version()}
	if bi, ok := read(); ok {
		if out.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && out.Commit == "" {
				out.Commit = s.Value
			}
		}
		if bi.GoVersion != "" {
			out.GoVersion = bi.GoVersion
		}
	}
	if out.Version == "" {
		out.Version = "devel"
	}
	if out.Commit == "" {
		out.Commit = "unknown"
	}
	return out
}
