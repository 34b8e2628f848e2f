package config

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/berth-dev/berth/outbound"
)

// Outbound configures the policy for every URL berth fetches or posts to
// (addon sources, webhooks). The URL patterns are serve.url-allow and
// serve.url-deny.
type Outbound struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1.
	AllowLoopback bool `yaml:"allow-loopback"`
	// AllowPrivate permits the private ranges (10/8, 172.16/12,
	// 192.168/16, 100.64/10, 198.18/15, fc00::/7).
	AllowPrivate bool `yaml:"allow-private"`
	// AllowNets permits loopback or private addresses in these networks
	// (CIDR, e.g. 192.168.1.20/32).
	AllowNets []string `yaml:"allow-nets"`
	// ConnectTimeout bounds resolving, connecting and the TLS handshake.
	ConnectTimeout Duration `yaml:"connect-timeout"`
	// IdleTimeout is the longest a connection may stay silent.
	IdleTimeout Duration `yaml:"idle-timeout"`
	// DownloadTimeout bounds one whole addon download.
	DownloadTimeout Duration `yaml:"download-timeout"`
}

func defaultOutbound() Outbound {
	return Outbound{
		ConnectTimeout:  Duration(outbound.DefaultConnectTimeout),
		IdleTimeout:     Duration(outbound.DefaultIdleTimeout),
		DownloadTimeout: Duration(10 * time.Minute),
	}
}

// validate checks the outbound keys; file names the configuration.
func (o Outbound) validate(file string) error {
	for i, n := range o.AllowNets {
		if _, err := netip.ParsePrefix(n); err != nil {
			return &Error{File: file, Key: fmt.Sprintf("outbound.allow-nets[%d]", i), Reason: fmt.Sprintf("%q is not a network in CIDR form like 192.168.1.0/24 or 10.0.0.5/32", n)}
		}
	}
	for key, d := range map[string]Duration{"outbound.connect-timeout": o.ConnectTimeout, "outbound.idle-timeout": o.IdleTimeout, "outbound.download-timeout": o.DownloadTimeout} {
		if d <= 0 {
			return &Error{File: file, Key: key, Reason: "must be positive"}
		}
	}
	return nil
}

// OutboundPolicy returns the policy for URLs berth fetches or posts to:
// outbound.* with the patterns of serve.url-allow and serve.url-deny.
// The daemon adds its own listen addresses.
func (c *Config) OutboundPolicy() *outbound.Policy {
	p := &outbound.Policy{
		Allow:          slices.Clone(c.Serve.URLAllow),
		Deny:           slices.Clone(c.Serve.URLDeny),
		AllowLoopback:  c.Outbound.AllowLoopback,
		AllowPrivate:   c.Outbound.AllowPrivate,
		ConnectTimeout: c.Outbound.ConnectTimeout.Std(),
		IdleTimeout:    c.Outbound.IdleTimeout.Std(),
	}
	for _, n := range c.Outbound.AllowNets {
		if pfx, err := netip.ParsePrefix(n); err == nil { // Validate refused the others
			p.AllowNets = append(p.AllowNets, pfx.Masked())
		}
	}
	return p
}
