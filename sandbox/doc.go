// Package sandbox chooses and builds the sandbox that process-based
// runners (trivial, nix-flake) run addons in: none (the host), nspawn
// (systemd-nspawn, as Docspell) or builtin (berth's own namespaces,
// cgroups and seccomp; the default where the kernel allows it).
//
// The sandboxes themselves live in sandbox/nspawn and sandbox/builtin,
// the adversarial suite every sandbox passes in sandbox/sandboxtest.
// This package must not know about runners or the executor beyond the
// runner.Sandbox interface it returns.
package sandbox
