// Package crashtest holds tests that run `berth serve` as real processes
// and kill them with SIGKILL: a run interrupted by a crash is run again
// when pure and failed when impure, and several nodes on one PostgreSQL
// share the queue with every run done exactly once. It has no code of
// its own besides the tests.
package crashtest
