package sandbox

import (
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin"
)

// CheckLimits makes and removes one cgroup with cfg's limits, as a
// builtin or nspawn run would, and says what those runs get here
// (cgroup v2 or v1, rlimits, none), whether an OOM kill is reported,
// and why not with the fix: for berth doctor.
func CheckLimits(cfg Config) (*runner.Enforcement, error) {
	return builtin.CheckLimits(cfg.Limits.internal())
}
