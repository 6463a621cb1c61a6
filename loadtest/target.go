package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
)

// target is the resolved server address and the TLS settings to reach it.
type target struct {
	addr netip.AddrPort
	tls  *tls.Config // nil unless Transport is TLS
}

// resolveTarget resolves cfg.Server and refuses addresses that are not
// loopback unless cfg.AllowNonLoopback is set: every resolved address must be
// loopback, so a name cannot smuggle a remote target past the check.
func resolveTarget(ctx context.Context, cfg *Config) (target, error) {
	host, portStr, err := net.SplitHostPort(cfg.Server)
	if err != nil {
		return target{}, fmt.Errorf("loadtest: Config.Server %q: %w", cfg.Server, err)
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
	if err != nil || port == 0 {
		return target{}, fmt.Errorf("loadtest: Config.Server %q: bad port", cfg.Server)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return target{}, fmt.Errorf("loadtest: Config.Server %q: %w", cfg.Server, err)
	}
	if len(addrs) == 0 {
		return target{}, fmt.Errorf("loadtest: Config.Server %q: no address", cfg.Server)
	}
	if !cfg.AllowNonLoopback {
		for _, a := range addrs {
			if !a.Unmap().IsLoopback() {
				return target{}, fmt.Errorf("loadtest: Config.Server %q resolves to %v, which is not loopback (set AllowNonLoopback to load other hosts)", cfg.Server, a)
			}
		}
	}
	t := target{addr: netip.AddrPortFrom(addrs[0].Unmap(), uint16(port))}
	if cfg.Transport == TransportTLS {
		if t.tls, err = tlsConfig(cfg, host); err != nil {
			return target{}, err
		}
	}
	return t, nil
}

// tlsConfig builds the client TLS configuration: TLS 1.2 or later, verified
// against TLSCAFile (or the system roots) under TLSServerName or the host.
func tlsConfig(cfg *Config, host string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify,
		// One handshake per allocation: resuming sessions keeps setup cheap.
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if cfg.TLSServerName != "" {
		tc.ServerName = cfg.TLSServerName
	}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("loadtest: Config.TLSCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("loadtest: Config.TLSCAFile %q holds no PEM certificate", cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
