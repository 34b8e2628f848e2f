// Package runner defines what a runner is — a way to prepare (build or
// find in a cache) and start an addon program under berth's runtime
// contract — and how berth picks one from the admin's preference list.
//
// Implementations live in sub-packages (runner/trivial, runner/docker,
// runner/nixflake). This package must not know any of them; the
// executor wires them together.
package runner
