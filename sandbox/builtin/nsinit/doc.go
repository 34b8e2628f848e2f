// Package nsinit is the code that runs inside berth's builtin sandbox:
// the init a sandbox starts as (see Main), which reads its Config from
// fd 3, builds the sandbox's root file system, drops capabilities,
// installs the seccomp filter and then starts and supervises the
// addon's program; and two small helpers berth starts the same way
// (joining cgroup v1 groups before exec, setting rlimits before exec).
//
// It imports only the standard library and golang.org/x/sys, so that
// the berth-sandbox-init binary built from it (cmd/berth-sandbox-init)
// is small and starts in about a millisecond: every sandboxed run pays
// for one start of it. The berth binary itself can be the init too
// (sandbox/builtin.Init), at the cost of its larger start-up.
//
// It must not know about runners, addons or the executor; what to set
// up is all in Config, which sandbox/builtin plans on the host.
package nsinit
