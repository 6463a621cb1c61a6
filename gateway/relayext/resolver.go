package relayext

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/turnstile-relay/turnstile/gateway"
)

// DNSResolver is the gateway.Resolver the daemon uses for resource domains
// (TURNSTILE_GATEWAY_RESOLVER): Go's DNS client, either the system's
// configuration (/etc/resolv.conf) or one DNS server. Like every Go
// resolver it consults /etc/hosts before DNS. It is safe for concurrent
// use.
type DNSResolver struct {
	r *net.Resolver
}

// NewDNSResolver returns a resolver that asks server (UDP, and TCP when an
// answer is truncated, RFC 7766) or, when server is the zero AddrPort, the
// system's resolver configuration.
func NewDNSResolver(server netip.AddrPort) *DNSResolver {
	if !server.IsValid() {
		return &DNSResolver{r: &net.Resolver{}}
	}
	var d net.Dialer
	return &DNSResolver{r: &net.Resolver{
		PreferGo: true,
		// The Go client dials "udp" or "tcp" to the addresses of
		// resolv.conf; every such dial goes to server instead.
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server.String())
		},
	}}
}

// Resolve looks up the A and AAAA records of domain in parallel, within
// ctx and at most gateway.ResolveTimeout. The name is made absolute first so
// that no search domain is appended. A family that fails or has no records
// yields nil; the error is non-nil only when both failed, so one family's
// NXDOMAIN-like failure never hides the other's records.
func (d *DNSResolver) Resolve(ctx context.Context, domain string) (v4, v6 []netip.Addr, err error) {
	ctx, cancel := context.WithTimeout(ctx, gateway.ResolveTimeout)
	defer cancel()
	name := domain
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	type result struct {
		addrs []netip.Addr
		err   error
	}
	aaaa := make(chan result, 1)
	go func() {
		addrs, err := d.r.LookupNetIP(ctx, "ip6", name)
		aaaa <- result{addrs, err}
	}()
	v4, err4 := d.r.LookupNetIP(ctx, "ip4", name)
	r6 := <-aaaa
	v6, err6 := r6.addrs, r6.err
	if err4 != nil {
		v4 = nil
	}
	if err6 != nil {
		v6 = nil
	}
	if err4 != nil && err6 != nil {
		return nil, nil, errors.Join(err4, err6)
	}
	return unmapAll(v4), v6, nil
}

// unmapAll rewrites IPv4-mapped results of an A lookup to plain IPv4.
func unmapAll(addrs []netip.Addr) []netip.Addr {
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs
}
