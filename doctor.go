package berth

import (
	"context"
	"slices"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/engine"
)

// Check is one line of `berth doctor`: whether something berth can use is
// usable here, and if not, why and what fixes it.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// fixes are the commands that make a runner or sandbox usable on a
// Debian-like machine; berth doctor prints them next to a failed check.
var fixes = map[string]string{
	"runner docker":    "apt-get install -y docker.io && dockerd & (or set docker.binary: podman)",
	"runner nix-flake": "apt-get install -y nix-bin (flakes are enabled on the command line)",
	"sandbox nspawn":   "apt-get install -y systemd-container; without systemd as PID 1: mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn",
	"sandbox builtin":  "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04) or run berth as root",
}

// pathProber is a runner that can prove the engine sees berth's working
// directory (the docker runner: berth in a container, daemon on the host).
type pathProber interface {
	Doctor(ctx context.Context, workDir string) error
}

// versioned is a runner that can name the engine version it drives.
type versioned interface {
	Version(ctx context.Context) (string, error)
}

// Doctor checks every runner and sandbox berth has against this machine.
func Doctor(ctx context.Context, cfg config.Config) []Check {
	var checks []Check
	runners := Runners(ctx, cfg)
	names := make([]string, 0, len(runners))
	for n := range runners {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := runners[n]
		c := Check{Name: "runner " + n, OK: true, Detail: "usable"}
		if !slices.Contains(cfg.Runners, n) {
			c.Detail = "usable, but not in the configured runners list"
		}
		if err := r.Available(ctx); err != nil {
			c.OK, c.Detail, c.Fix = false, err.Error(), fixes[c.Name]
		} else if v, ok := r.(versioned); ok {
			if ver, err := v.Version(ctx); err == nil {
				c.Detail = ver + ": " + c.Detail
			}
		} else if e, ok := r.(interface{ Engine() *engine.Client }); ok {
			if ver, err := e.Engine().Version(ctx); err == nil {
				c.Detail = e.Engine().Flavor() + " " + ver + ": " + c.Detail
			}
		}
		checks = append(checks, c)
		if p, ok := r.(pathProber); ok && c.OK {
			pc := Check{Name: n + " host paths", OK: true, Detail: "the engine sees files berth writes under " + cfg.WorkingDir}
			if err := p.Doctor(ctx, cfg.WorkingDir); err != nil {
				pc.OK, pc.Detail = false, err.Error()
			}
			checks = append(checks, pc)
		}
	}
	for _, kind := range SandboxKinds {
		sb, err := NewSandbox(ctx, cfg, kind)
		c := Check{Name: "sandbox " + kind, OK: true, Detail: "usable"}
		if err == nil {
			err = sb.Available(ctx)
		}
		if err != nil {
			c.OK, c.Detail, c.Fix = false, err.Error(), fixes[c.Name]
		}
		if kind == "none" {
			c.Detail = "usable; pure addons run unisolated (\"isolated\": false)"
		}
		checks = append(checks, c)
	}
	return checks
}
