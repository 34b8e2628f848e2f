// Package runlog keeps a run's log lines in the database as they
// arrive: an addon's stderr and the output of the builds it needed,
// per attempt, batched (every Interval or BatchLines lines), within a
// per-run cap that keeps the first and the last lines of each attempt
// and a stored "… N lines dropped" marker between them. Follow reads
// them back from any node by cursor (the line's seq) until the run is
// final.
//
// It must not know about HTTP, the job queue or how an addon runs: it
// is handed lines and a run id, and stores them with package store.
package runlog
