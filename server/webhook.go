package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/outbound"
	"github.com/berth-dev/berth/server/settings"
)

// webhookTimeout bounds one delivery attempt, answer included.
const webhookTimeout = 30 * time.Second

// outboundPolicy is cfg's outbound policy with the daemon's URL patterns
// (set may differ from cfg.Serve: flags win) and its listen address.
func outboundPolicy(cfg config.Config, set settings.Serve) *outbound.Policy {
	p := cfg.OutboundPolicy()
	p.Allow, p.Deny = slices.Clone(set.URLAllow), slices.Clone(set.URLDeny)
	p.Self = append(p.Self, outbound.SelfAddrs(set.Listen)...)
	return p
}

// refuseOwnAddress adds the address the API listens on (its real port
// when serve.listen asked for port 0) to the addresses the policy
// refuses. Serve calls it before it starts handlers or job workers.
func (s *Server) refuseOwnAddress(addr net.Addr) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return
	}
	ap := ta.AddrPort()
	if !ap.IsValid() || ap.Port() == 0 {
		return
	}
	p := *s.outbound
	p.Self = append(slices.Clone(p.Self), netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	s.outbound = &p
}

// checkWebhook says why a webhook URL is refused: not an absolute
// http(s) URL, or refused by the outbound policy (checked again at
// every delivery, on the address connected to).
func (s *Server) checkWebhook(ctx context.Context, hook string) error {
	u, err := url.Parse(hook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", redactHook(hook))
	}
	return s.outbound.Check(ctx, hook)
}

// redactHook is a webhook URL as it may be shown.
func redactHook(hook string) string {
	u, err := url.Parse(hook)
	if err != nil {
		return "(not a URL)"
	}
	return outbound.Redact(u)
}

// postWebhook POSTs body to hook under the outbound policy and returns
// the answer's status. An error wrapping outbound.ErrDenied will not
// change with another attempt.
func (s *Server) postWebhook(ctx context.Context, hook string, body []byte, runID string, attempt int) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s is not a URL", outbound.ErrDenied, redactHook(hook))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "berth")
	req.Header.Set("X-Berth-Run", runID)
	req.Header.Set("X-Berth-Delivery-Attempt", fmt.Sprint(attempt))
	resp, err := s.outbound.Do(req)
	if err != nil {
		if de, ok := errors.AsType[*outbound.DeniedError](err); ok {
			return 0, "", fmt.Errorf("refused by the outbound policy: %w", de)
		}
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Status, nil
}
