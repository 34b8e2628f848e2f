// Package docker holds no code: it tests berth's own container image
// (the Dockerfile at the repository's root) the way Docspell runs joex
// "Within Docker" (website/site/content/docs/addons/control.md:222-253):
// berth in a container, the host's docker daemon reached through its
// socket, the working directory bound at the same path on both sides or
// mapped with docker.path-map. The images the Dockerfile starts from are
// made locally (no registry is reachable): a Go toolchain image from the
// host's GOROOT, a docker CLI image from the host's static client, and
// the busybox test base.
package docker
