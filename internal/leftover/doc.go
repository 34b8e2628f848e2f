// Package leftover keeps the temporary directories a run needs while it
// lasts (an engine client's working directory, an nspawn container's
// root) findable after the berth process that made them died without
// cleaning up (SIGKILL, a crash, a power cut): each holds a lock file
// that its berth keeps locked, and Sweep removes every such directory
// whose lock is free.
//
// It knows nothing about runs, engines or sandboxes: only directories
// under os.TempDir() with a given name prefix.
package leftover
