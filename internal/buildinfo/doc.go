// Package buildinfo says which berth this is: the version and commit that
// `berth version`, /healthz, the OpenAPI document and the berth_build_info
// metric report.
//
// The Makefile sets them with -ldflags; a plain `go build` or `go install`
// falls back to what the Go toolchain recorded (runtime/debug.ReadBuildInfo:
// the module version and the vcs.revision setting). It knows nothing about
// the rest of berth.
package buildinfo
