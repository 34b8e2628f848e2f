// Package enginetest holds test helpers for code that drives docker or
// podman through package engine: RequireDocker / RequirePodman, which skip
// only when the binary is absent and fail clearly when it is present but
// unusable, and BusyboxImage, which builds the shared base test image
// berth-test/busybox:1 from the host's busybox-static binary (no registry
// needed), once per engine, safely from parallel test binaries.
//
// It must not know about addons, runners or services.
package enginetest
