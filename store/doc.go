// Package store keeps the daemon's records — installed addons, run
// configurations, runs and the live nodes — in SQLite (one file, one
// writer connection) or PostgreSQL (shared by several nodes), behind one
// small query interface so that the same SQL serves both.
//
// It must not know about HTTP, the job queue's internals, runners or how
// an addon is executed: it stores what it is given and answers queries.
package store
