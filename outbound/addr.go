package outbound

import (
	"net"
	"net/netip"
)

// class is how the policy treats an address.
type class int

const (
	public   class = iota
	loopback       // allowed with AllowLoopback or AllowNets
	private        // allowed with AllowPrivate or AllowNets
	always         // never allowed
)

var (
	// Metadata services that are not link-local: AWS's IPv6 instance
	// metadata endpoint and Alibaba Cloud's.
	metadataAddrs = map[netip.Addr]bool{
		netip.MustParseAddr("fd00:ec2::254"):   true,
		netip.MustParseAddr("100.100.100.200"): true,
	}
	// Names of metadata services, refused before they are resolved (they
	// resolve only inside the cloud, to link-local addresses).
	metadataNames = map[string]bool{
		"metadata.google.internal":   true,
		"metadata.goog":              true,
		"metadata":                   true,
		"instance-data":              true,
		"instance-data.ec2.internal": true,
	}
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// canonical is a in the form the policy judges: an IPv4-mapped or NAT64
// IPv6 address as the IPv4 address it carries, without a zone.
func canonical(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return a
}

// classify says how the policy treats a (already canonical) and, for
// the addresses always refused, what they are.
func classify(a netip.Addr) (class, string) {
	switch {
	case !a.IsValid():
		return always, "not an address"
	case a.IsUnspecified() || thisNet.Contains(a):
		return always, "the unspecified address (a connection to it reaches this machine)"
	case metadataAddrs[a]:
		return always, "a cloud metadata address"
	case a.IsLinkLocalUnicast():
		return always, "link-local (cloud metadata services live there)"
	case a.IsMulticast() || a == broadcast:
		return always, "a multicast or broadcast address"
	case a.IsLoopback():
		return loopback, ""
	case a.IsPrivate() || cgnat.Contains(a) || benchmark.Contains(a):
		return private, ""
	}
	return public, ""
}

// isSelf reports whether a:port is berth's listen address s. An
// unspecified s is every loopback and interface address at its port.
func isSelf(s netip.AddrPort, a netip.Addr, port uint16) bool {
	if s.Port() != port {
		return false
	}
	sa := canonical(s.Addr())
	if sa == a {
		return true
	}
	if !sa.IsUnspecified() {
		return false
	}
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range ifaddrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && canonical(ip) == a {
				return true
			}
		}
	}
	return false
}
