//go:build linux

package builtin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

// Enforcement says how lim bounds a run: by the run's cgroup g, or,
// where cgroups were unavailable (unavailable says why), by rlimits:
// RLIMIT_DATA for memory (private writable memory, what a program
// allocates; not its address space, which runtimes such as Go's reserve
// far beyond what they use), RLIMIT_NPROC for pids, nothing for CPU,
// and no OOM report (an allocation over the limit fails, nothing is
// killed).
func Enforcement(lim Limits, g *cgroups.Group, unavailable error) *runner.Enforcement {
	applied := describe(lim)
	switch {
	case lim.Zero():
		return &runner.Enforcement{By: "none"}
	case g != nil:
		return &runner.Enforcement{By: "cgroup v" + strconv.Itoa(g.Version), Applied: applied, OOMReported: lim.MemoryBytes > 0}
	}
	e := &runner.Enforcement{By: "rlimits"}
	for _, a := range applied {
		switch {
		case strings.HasPrefix(a, "cpu "):
			e.Missing = append(e.Missing, a)
		case strings.HasPrefix(a, "memory "):
			e.Applied = append(e.Applied, a+" (RLIMIT_DATA)")
		default:
			e.Applied = append(e.Applied, a+" (RLIMIT_NPROC)")
		}
	}
	why := "cgroups unavailable"
	if unavailable != nil {
		why = strings.TrimPrefix(unavailable.Error(), cgroups.ErrUnavailable.Error()+": ")
		why = "cgroups unavailable: " + why
	}
	if !strings.Contains(why, cgroups.Fix) {
		why += "; " + cgroups.Fix
	}
	e.Why = why
	return e
}

// describe lists lim's limits as the result shows them.
func describe(lim Limits) []string {
	var out []string
	if lim.MemoryBytes > 0 {
		out = append(out, "memory "+bytesString(lim.MemoryBytes))
	}
	if lim.Pids > 0 {
		out = append(out, "pids "+strconv.FormatInt(lim.Pids, 10))
	}
	if lim.CPUs > 0 {
		out = append(out, "cpu "+strconv.FormatFloat(lim.CPUs, 'f', -1, 64))
	}
	return out
}

func bytesString(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// CheckLimits makes and removes one cgroup with lim, as a run would,
// and says what runs get here: for berth doctor. The error is that of
// a group that could not be made for a reason other than missing
// permission or delegation.
func CheckLimits(lim Limits) (*runner.Enforcement, error) {
	if lim.Zero() {
		return Enforcement(lim, nil, nil), nil
	}
	g, err := cgroups.New("doctor", lim)
	switch {
	case errors.Is(err, cgroups.ErrUnavailable):
		return Enforcement(lim, nil, err), nil
	case err != nil:
		return nil, fmt.Errorf("creating a cgroup: %w", err)
	}
	defer g.Remove()
	return Enforcement(lim, g, nil), nil
}
