// Package svcmgr is the daemon's services manager: it runs one
// service.Supervisor per services file that `berth serve` supervises —
// those of berth.yaml's services: list and those handed over through the
// API (PUT /v1/services/{project}), which it keeps under
// DATA_DIR/services/PROJECT so that the next start supervises them again.
//
// Each supervisor uses the state directory `berth services up` would use
// for the project (service.DefaultStateDir for the daemon's user, else
// DATA_DIR/services/PROJECT/state), so the CLI's status, logs, restart and
// down work against the daemon's projects as against a foreground one.
// When the daemon stops, Close leaves every container running
// (Supervisor.Leave); the next start adopts the unchanged ones without
// restarting them. A project whose state directory another supervisor
// holds (a foreground `berth services up`) is reported as held, not
// fought over, and taken up once that supervisor is gone.
//
// It must not know HTTP, the queue, the database or metrics: the server
// package presents what it reports.
package svcmgr
