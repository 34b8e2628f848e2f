// Package queue carries berth's runs and webhook deliveries as jobs of
// riverqueue/river, on the same database as package store (SQLite or
// PostgreSQL), and recovers the runs of nodes that died mid-run.
//
// It knows when a job starts and whether it is to be tried again, not
// what a run does: the daemon hands it a Handler. It must not know about
// HTTP, addons or runners.
package queue
