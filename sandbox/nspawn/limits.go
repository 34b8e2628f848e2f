package nspawn

import (
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

// Enforcement says how lim bounds an nspawn run: as the builtin
// sandbox's (the run's cgroup, or rlimits where cgroups are unavailable),
// or, where nspawn registers the container (registered), by the
// properties of the scope machined makes, whose memory events berth
// cannot read.
func Enforcement(lim Limits, g *cgroups.Group, unavailable error, registered bool) *runner.Enforcement {
	e := builtin.Enforcement(lim, g, unavailable)
	if registered && g == nil && !lim.Zero() {
		e.By = "systemd scope"
		e.Applied, e.Missing = Properties(lim), nil
		e.Why = "the container runs in the scope machined makes (machine.slice), whose memory events berth does not read: an OOM kill shows as exit 137; " + e.Why
	}
	return e
}
