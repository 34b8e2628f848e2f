// Package nixflake is the runner for addons that ship a flake.nix: it
// builds the flake with the nix CLI (offline by default, reading the out
// path from --json; nix's store is the cache), picks the executable from
// the out path's bin/, and runs it like the trivial runner, inside a
// sandbox that binds /nix/store read-only.
//
// It must not know how a sandbox isolates, nor how the executor lays out
// a run: it gets an Invocation and hands a command to runner.RunProcess.
package nixflake
