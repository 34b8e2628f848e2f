// Package proc runs one program as the root of a process tree that berth
// owns: its own session and process group, stdout captured up to a cap,
// stderr read line by line, and the whole tree — grandchildren and
// double-forked daemons included — killed when the program ends, times
// out or is cancelled (SIGTERM first, SIGKILL after a grace period).
//
// It knows nothing about addons; runners and sandboxes build on it.
package proc
