// Package runnertest is the contract suite every runner and sandbox
// combination must pass (containerd's snapshotter test suite is the
// model): directories, environment, arguments, user input, item data,
// cache persistence, exit codes, output decoding, the output cap and a
// timeout that kills the whole process tree. Each runner's tests supply
// a Harness that packages a POSIX shell script as an addon for it.
package runnertest
