package config

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/outbound"
)

func TestOutboundPolicyFollowsTheConfiguration(t *testing.T) {
	t.Run("by default loopback is refused and downloads get the default timeouts", func(t *testing.T) {
		cfg := Default()
		p := cfg.OutboundPolicy()
		if err := p.Check(context.Background(), "http://127.0.0.1:8080/a.zip"); !errors.Is(err, outbound.ErrDenied) {
			t.Errorf("Check(loopback) = %v, want a refusal", err)
		}
		if p.IdleTimeout != 30*time.Second || p.ConnectTimeout != 10*time.Second || cfg.Outbound.DownloadTimeout.Std() != 10*time.Minute {
			t.Errorf("timeouts = %v, %v, %v", p.ConnectTimeout, p.IdleTimeout, cfg.Outbound.DownloadTimeout.Std())
		}
	})
	t.Run("the environment allows loopback and one private network, with serve's patterns", func(t *testing.T) {
		cfg, _, err := Load("testdata/full.yaml", []string{
			"BERTH_OUTBOUND_ALLOW_LOOPBACK=true", "BERTH_OUTBOUND_ALLOW_NETS=192.168.1.20/32",
			"BERTH_SERVE_URL_DENY=*/denied/*", "BERTH_OUTBOUND_IDLE_TIMEOUT=5s",
		})
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.OutboundPolicy()
		if !p.AllowLoopback || p.AllowPrivate || !slices.Equal(p.AllowNets, []netip.Prefix{netip.MustParsePrefix("192.168.1.20/32")}) || p.IdleTimeout != 5*time.Second {
			t.Fatalf("policy = %+v", p)
		}
		for u, allowed := range map[string]bool{
			"http://127.0.0.1:8080/a.zip":        true,
			"http://192.168.1.20/hook":           true,
			"http://192.168.1.21/hook":           false,
			"http://127.0.0.1:8080/denied/a.zip": false,
		} {
			if err := p.Check(context.Background(), u); (err == nil) != allowed {
				t.Errorf("Check(%s) = %v, want allowed %v", u, err, allowed)
			}
		}
	})
}
