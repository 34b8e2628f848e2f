// Package server is berth's daemon: it installs addons, keeps run
// configurations, turns events into queued runs, executes them through
// the executor on a job queue shared by every node, posts results to
// webhooks, and serves all of it as a JSON API (with a plain web page and
// Prometheus metrics).
//
// It decides when a chain runs and where its result goes; it must not
// know how a runner or a sandbox works (it asks package runner which
// runners are usable and hands chains to package executor).
package server
