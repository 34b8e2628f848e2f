package berth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/sandbox"
)

// Check is one line of `berth doctor`: whether something berth can use is
// usable here, and if not, why and what fixes it.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// fixes are the commands that make a runner usable on a Debian-like
// machine; berth doctor prints them next to a failed check. Sandboxes
// put their fix in their error.
var fixes = map[string]string{
	"runner docker":    "apt-get install -y docker.io && dockerd & (or set docker.binary: podman)",
	"runner nix-flake": "apt-get install -y nix-bin (flakes are enabled on the command line)",
	"runner wasm":      "make cache-dir writable by berth (compiled modules are kept in cache-dir/" + config.WasmCacheDir + ")",
}

// fixHinter is an error that knows the step that fixes it (a nix that
// cannot build names the build users to create).
type fixHinter interface{ FixHint() string }

// pathProber is a runner that can prove the engine sees berth's working
// directory (the docker runner: berth in a container, daemon on the host).
type pathProber interface {
	Doctor(ctx context.Context, workDir string) error
}

// versioned is a runner that can name the tool version it drives.
type versioned interface {
	Version(ctx context.Context) (string, error)
}

// Doctor checks every runner and sandbox berth has against this machine.
func Doctor(ctx context.Context, cfg config.Config) []Check {
	var checks []Check
	sb := Sandbox(ctx, cfg, slog.Default())
	runners := runnersIn(cfg, sb)
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
			c.OK, c.Detail, c.Fix = false, err.Error(), runnerFix(c.Name, err)
			var h fixHinter
			if errors.As(err, &h) {
				c.Detail, c.Fix = strings.TrimSuffix(err.Error(), " (fix: "+h.FixHint()+")"), h.FixHint()
			}
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
	for _, st := range sandbox.Check(ctx, cfg.SandboxConfig(cfg.Sandbox)) {
		c := Check{Name: "sandbox " + st.Kind, OK: st.Err == nil, Detail: "usable"}
		if st.Detail != "" {
			c.Detail += "; " + st.Detail
		}
		if st.Err != nil {
			c.Detail = st.Err.Error()
		}
		checks = append(checks, c)
	}
	in := Check{Name: "sandbox in use", OK: true, Detail: sb.Name()}
	if w := sandbox.Warning(sb); w != "" {
		in.Detail += ": " + w
	}
	if err := sb.Available(ctx); err != nil {
		in.OK, in.Detail = false, sb.Name()+": "+err.Error()
	}
	checks = append(checks, in)
	return append(checks, hostChecks(cfg)...)
}
