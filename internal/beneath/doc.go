// Package beneath walks and changes a directory tree that someone else
// (an addon, possibly still running) may be changing at the same time,
// without ever leaving it: every step is relative to an open directory
// descriptor, no symbolic link is followed, and a directory swapped for a
// link between two steps is skipped instead of entered. berth uses it for
// the chown, set-id and size walks over a run's WORK, OUTPUT_DIR and
// CACHE_DIR.
//
// It must not know what the directories are for; it only keeps its
// operations inside them.
package beneath
