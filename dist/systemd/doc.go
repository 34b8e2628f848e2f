// Package systemd holds no code: its directory holds the systemd unit of
// `berth serve` (berth.service.in) and the sysusers.d entry for its user
// (berth.sysusers) that `make install` ships, and its test checks both
// with systemd's own tools.
package systemd
