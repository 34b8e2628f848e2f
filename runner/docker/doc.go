// Package docker is the runner that builds, caches and runs addons in
// containers through the docker or podman command-line client (one
// runner, a configurable binary).
//
// An addon naming runner.docker.image runs that image, pulled per the
// configured policy; otherwise its Dockerfile is built once with the
// addon directory as context and tagged by the content hash of the
// addon's files, so an unchanged addon never builds twice. Every run is
// one container under berth's contract (WORK at /mnt/work, OUTPUT_DIR at
// /mnt/output, CACHE_DIR at /mnt/cache), hardened by default (berth's
// uid:gid, no capabilities, no-new-privileges, read-only root, limits),
// cut off from the network when the addon is pure, and removed afterwards
// whatever happened.
//
// Besides the runner.Runner methods, Build (`berth addon build`, with
// progress), Doctor (proves the daemon sees berth's working dir through
// Config.PathMap) and RemoveLeftovers (containers a dead berth left) are
// for the CLI and the daemon. docs/runner-docker.md is the user's guide.
//
// The docker run, build and probe argument lists are each built by one
// pure function (RunArgs, BuildArgs, ProbeArgs), golden-tested. Engine
// processes are started through package engine (short commands) and
// package proc (the run itself, for its stdout cap and kill handling).
//
// It must not know how the executor lays out a run, how output is
// decoded, or which other runners exist.
package docker
