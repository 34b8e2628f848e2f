// Package berth assembles berth from its configuration: the runners the
// admin enabled, their sandboxes and engines, and an executor that runs
// addons with them. It is the entry point for using berth as a Go
// library; cmd/berth is a thin CLI over it.
//
// It knows which implementations exist and how config maps onto them,
// and nothing about how any of them works.
package berth
