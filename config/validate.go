package config

import (
	"crypto/tls"
	"net/netip"
	"slices"
	"strings"
)

// crossChecks validates what no single variable can: combinations, and
// defaults derived from other settings. It runs after every variable was
// parsed, and skips a check whose inputs already failed to parse, so that
// one mistake gives one error.
func (p *problems) crossChecks(c *Config, raw *rawEnv, env map[string]string) {
	p.checkListeners(c, raw, env)
	p.checkTLS(c, raw)
	p.checkCredentials(raw, env)
	p.defaultRelayIPs(c, raw)
	p.checkExternalIPs(c, raw)
	p.checkPortRange(c, raw)
	p.checkAlternates(c)
	p.checkTCPRelay(c)
	p.checkXDP(c)
}

// checkTCPRelay: TCP allocations are made on TCP or TLS control
// connections only (RFC 6062 §5.1).
func (p *problems) checkTCPRelay(c *Config) {
	if c.TCPRelay.Enabled && len(c.TCPListen) == 0 && len(c.TLSListen) == 0 {
		p.addVars([]string{varTCPRelay, varTCPListen, varTLSListen},
			"TCP relaying needs a TCP or TLS listener: RFC 6062 allocations are made over them")
	}
}

// maxXDPListenPorts is how many UDP listener ports the XDP program tells
// apart (MAX_LISTENERS in xdp/bpf/relay.c).
const maxXDPListenPorts = 8

func (p *problems) checkXDP(c *Config) {
	if c.XDP == XDPOff {
		return
	}
	if len(c.UDPListen) == 0 {
		p.add(varXDP, c.XDP, "needs a UDP listener (%s): the fast path relays ChannelData over UDP only", varUDPListen)
		return
	}
	var ports []uint16
	for _, ap := range c.UDPListen {
		if !slices.Contains(ports, ap.Port()) {
			ports = append(ports, ap.Port())
		}
	}
	if len(ports) > maxXDPListenPorts {
		p.add(varXDP, c.XDP, "supports at most %d distinct UDP listener ports, %s has %d", maxXDPListenPorts, varUDPListen, len(ports))
	}
}

func (p *problems) checkListeners(c *Config, raw *rawEnv, env map[string]string) {
	if raw.UDPListen == "" && raw.TCPListen == "" && raw.TLSListen == "" {
		p.addVars([]string{varUDPListen, varTCPListen, varTLSListen},
			"at least one listener is required (with no TURNSTILE_* variable set at all, a development "+
				"relay starts on 127.0.0.1:3478; set now: %s)", setNames(env))
	}
	for _, ap := range c.TLSListen {
		if slices.Contains(c.TCPListen, ap) {
			p.add(varTLSListen, ap.String(), "also listed in %s; TLS and plain TCP need different ports", varTCPListen)
		}
	}
}

// setNames lists the TURNSTILE_* variables present in env, for messages
// that explain why development mode did not apply.
func setNames(env map[string]string) string {
	var names []string
	for name := range env {
		if strings.HasPrefix(name, envPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (p *problems) checkTLS(c *Config, raw *rawEnv) {
	files := []string{varTLSCertFile, varTLSKeyFile}
	switch {
	case raw.TLSListen == "":
		if c.TLSCertFile != "" || c.TLSKeyFile != "" {
			p.addVars(files, "set without %s, which is the only user of them", varTLSListen)
		}
	case c.TLSCertFile == "" || c.TLSKeyFile == "":
		p.addVars(files, "both are required by %s", varTLSListen)
	default:
		// The key pair is loaded only to validate it: the daemon loads
		// (and reloads) it itself, so Config holds no key material.
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			p.addVars(files, "%s and %s do not load as a key pair: %v", c.TLSCertFile, c.TLSKeyFile, err)
		}
	}
}

func (p *problems) checkCredentials(raw *rawEnv, env map[string]string) {
	switch {
	case raw.AuthSecrets != "" && raw.AuthSecretsFile != "":
		p.addVars([]string{varAuthSecrets, varAuthSecretsFile},
			"both are set; use one (the file can be re-read to rotate secrets)")
	case raw.AuthSecrets == "" && raw.AuthSecretsFile == "" && raw.Users == "":
		p.addVars([]string{varAuthSecrets, varAuthSecretsFile, varUsers},
			"at least one is required: the relay authenticates every allocation (RFC 8656 §7.2); set now: %s",
			setNames(env))
	}
}

// defaultRelayIPs fills RelayIPs when the variable is unset: the UDP
// listeners' IPs, or the stream listeners' when there is no UDP listener.
func (p *problems) defaultRelayIPs(c *Config, raw *rawEnv) {
	if raw.RelayIPs != "" {
		return
	}
	from := c.UDPListen
	if len(from) == 0 {
		from = append(slices.Clone(c.TCPListen), c.TLSListen...)
	}
	for _, ap := range from {
		if !slices.Contains(c.RelayIPs, ap.Addr()) {
			c.RelayIPs = append(c.RelayIPs, ap.Addr())
		}
	}
}

func (p *problems) checkExternalIPs(c *Config, raw *rawEnv) {
	if len(c.ExternalIPs) == 0 || len(c.RelayIPs) == 0 {
		return
	}
	if len(c.ExternalIPs) != len(c.RelayIPs) {
		p.add(varExternalIPs, raw.ExternalIPs, "%d addresses for %d relay IPs (%s); they pair up one to one",
			len(c.ExternalIPs), len(c.RelayIPs), joinAddrs(c.RelayIPs))
		return
	}
	for i, ext := range c.ExternalIPs {
		if ext.Is4() != c.RelayIPs[i].Is4() {
			p.add(varExternalIPs, raw.ExternalIPs, "address %d (%s) is not of the family of relay IP %s",
				i+1, ext, c.RelayIPs[i])
		}
	}
}

// checkPortRange keeps every local listening port out of the relayed range:
// the peer filter lets clients reach the relay's own addresses on relayed
// ports (so that two clients of one relay can talk), which would otherwise
// expose the listener there.
func (p *problems) checkPortRange(c *Config, raw *rawEnv) {
	if c.PortRange == (PortRange{}) {
		return
	}
	check := func(name string, aps []netip.AddrPort) {
		for _, ap := range aps {
			if c.PortRange.Contains(ap.Port()) {
				p.add(varPortRange, raw.PortRange, "contains port %d of %s (%s); peers could reach it as a relayed port",
					ap.Port(), name, ap)
			}
		}
	}
	check(varUDPListen, c.UDPListen)
	check(varTCPListen, c.TCPListen)
	check(varTLSListen, c.TLSListen)
	if c.MetricsListen.IsValid() {
		check(varMetricsListen, []netip.AddrPort{c.MetricsListen})
	}
}

func (p *problems) checkAlternates(c *Config) {
	for _, ap := range c.AlternateServers {
		if slices.Contains(c.UDPListen, ap) || slices.Contains(c.TCPListen, ap) || slices.Contains(c.TLSListen, ap) {
			p.add(varAlternateServers, ap.String(), "is a listener of this relay; redirecting to it would loop")
		}
	}
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
