package config

import (
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// Config is the validated configuration of one turnstile process. Load builds
// it; nothing in it changes afterwards, so it may be read from any goroutine.
// Each field names its variable; doc.go has defaults and ranges. Secrets are
// logging.Secret values, so printing or JSON-encoding a Config shows
// "[redacted]" for them.
type Config struct {
	// Dev is true for the development configuration Load returns when no
	// TURNSTILE_* variable is set; the daemon then prints a credential and
	// a turnutils_uclient command line.
	Dev bool

	// Client-facing listeners (TURNSTILE_UDP_LISTEN, _TCP_LISTEN,
	// _TLS_LISTEN): specific addresses with non-zero ports, no duplicates
	// within a list, none shared by TCP and TLS.
	UDPListen, TCPListen, TLSListen []netip.AddrPort
	// TLSCertFile and TLSKeyFile are PEM files (TURNSTILE_TLS_CERT_FILE,
	// TURNSTILE_TLS_KEY_FILE), set exactly when TLSListen is. Load checked
	// that they form a key pair; the daemon loads them itself (and may
	// reload them), so no key material is kept here.
	TLSCertFile, TLSKeyFile string

	// Realm is the REALM value (TURNSTILE_REALM).
	Realm string
	// Software is the SOFTWARE value; empty means the attribute is left
	// out (TURNSTILE_SOFTWARE).
	Software string

	// AuthSecrets are the TURN REST shared secrets, the minting one first,
	// from TURNSTILE_AUTH_SECRETS or read from TURNSTILE_AUTH_SECRETS_FILE.
	AuthSecrets []logging.Secret
	// AuthSecretsFile is the file AuthSecrets came from, empty when they
	// came from the environment; the daemon re-reads it with
	// ReadAuthSecretsFile to rotate secrets.
	AuthSecretsFile string
	// Users are the static long-term users (TURNSTILE_USERS).
	Users []User
	// CredentialMaxTTL bounds the remaining lifetime of a TURN REST
	// credential; 0 means unlimited (TURNSTILE_CREDENTIAL_MAX_TTL).
	CredentialMaxTTL time.Duration
	// NonceLifetime is how long a nonce stays valid
	// (TURNSTILE_NONCE_LIFETIME).
	NonceLifetime time.Duration

	// RelayIPs are the local addresses relayed sockets bind to
	// (TURNSTILE_RELAY_IPS, defaulting to the listeners' IPs).
	RelayIPs []netip.Addr
	// ExternalIPs, when not empty, pairwise name the address advertised
	// for each RelayIPs entry (TURNSTILE_EXTERNAL_IPS).
	ExternalIPs []netip.Addr
	// PortRange is the relayed port range (TURNSTILE_PORT_RANGE).
	PortRange PortRange

	// UserQuota and TotalQuota bound concurrent allocations per user and
	// in total; 0 means unlimited (TURNSTILE_USER_QUOTA,
	// TURNSTILE_TOTAL_QUOTA).
	UserQuota, TotalQuota int
	// MaxLifetime is the largest allocation lifetime granted, whole
	// seconds (TURNSTILE_MAX_LIFETIME).
	MaxLifetime time.Duration
	// MaxPermissions bounds the peer IPs with permissions per allocation
	// (TURNSTILE_MAX_PERMISSIONS).
	MaxPermissions int

	// PeerAllow and PeerDeny are the operator's peer prefixes, masked
	// (TURNSTILE_PEER_ALLOW, TURNSTILE_PEER_DENY). See PeerPolicy.
	PeerAllow, PeerDeny []netip.Prefix

	// TCPMaxConnections bounds concurrent TCP and TLS client connections
	// (TURNSTILE_TCP_MAX_CONNECTIONS).
	TCPMaxConnections int
	// TCPMaxConnectionsPerSource bounds the concurrent TCP and TLS
	// connections of one IPv4 address or IPv6 /64
	// (TURNSTILE_TCP_MAX_CONNECTIONS_PER_SOURCE).
	TCPMaxConnectionsPerSource int
	// TCPWriteBudget bounds the bytes of frames one TCP/TLS connection
	// holds waiting to be written (TURNSTILE_TCP_WRITE_BUDGET).
	TCPWriteBudget int
	// TCPIdleTimeout closes a stream connection that sends no complete
	// frame for this long (TURNSTILE_TCP_IDLE_TIMEOUT).
	TCPIdleTimeout time.Duration
	// TCPRelay turns on TCP relaying (RFC 6062) with its limits
	// (TURNSTILE_TCP_RELAY and TURNSTILE_TCP_RELAY_*).
	TCPRelay TCPRelay
	// TCPMaxFrame is the largest frame accepted on a stream, in bytes
	// (TURNSTILE_TCP_MAX_FRAME).
	TCPMaxFrame int
	// UnauthRate and UnauthBurst are the per-source budget of
	// unauthenticated answers over UDP: answers a second, and answers at
	// once (TURNSTILE_UNAUTH_RATE, TURNSTILE_UNAUTH_BURST). UnauthRate 0
	// turns the budget off.
	UnauthRate, UnauthBurst int
	// LegacyChannels accepts RFC 5766's channel numbers 0x5000–0x7FFF,
	// which RFC 8656 §12 reserves, for old clients
	// (TURNSTILE_LEGACY_CHANNELS).
	LegacyChannels bool
	// LegacyDualAllocation reads ADDITIONAL-ADDRESS-FAMILY at the draft
	// codepoint 0x8032 that coturn 4.x clients send
	// (TURNSTILE_LEGACY_DUAL_ALLOCATION).
	LegacyDualAllocation bool
	// UDPOffload lets the kernel batch datagrams: UDP GSO on sends, UDP GRO
	// on receives (TURNSTILE_UDP_OFFLOAD).
	UDPOffload bool
	// XDP is the in-kernel ChannelData fast path's mode (TURNSTILE_XDP,
	// docs/xdp.md): XDPOff, XDPNative, XDPGeneric or XDPAuto.
	XDP string

	// LogLevel is the lowest severity logged (TURNSTILE_LOG_LEVEL).
	LogLevel logging.Level
	// MetricsListen is the metrics and health HTTP address; the zero
	// AddrPort (IsValid false) means disabled (TURNSTILE_METRICS_LISTEN).
	MetricsListen netip.AddrPort
	// DrainTimeout is how long existing allocations keep relaying after
	// SIGTERM (TURNSTILE_DRAIN_TIMEOUT).
	DrainTimeout time.Duration
	// AlternateServers are offered with 300 Try Alternate while draining
	// (TURNSTILE_ALTERNATE_SERVERS).
	AlternateServers []netip.AddrPort

	// Unrecognized lists, sorted, the names of TURNSTILE_* variables in the
	// environment that this package does not read: typos, or settings of
	// other modules (the gateway reads TURNSTILE_GATEWAY_*). The daemon
	// warns about those nobody reads. Only names are kept, never values.
	Unrecognized []string
}

// User is one static long-term credential (RFC 8489 §9.2).
type User struct {
	Name     string
	Password logging.Secret
}

// PortRange is an inclusive range of UDP ports.
type PortRange struct{ Min, Max uint16 }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.Min && port <= r.Max }

// PeerPolicy returns the configuration of the default peer filter: the
// operator's prefixes, the relayed port range, and as own addresses every
// address the relay is known by — listeners, relay and external IPs, and
// the metrics address when it is specific. A metrics listener on 0.0.0.0 or
// :: answers on every address of the host; those not named here are
// protected only by the built-in deny list (loopback, private, ...) and
// TURNSTILE_PEER_DENY.
func (c *Config) PeerPolicy() peerpolicy.Config {
	var p peerpolicy.Config
	p.Allow = append([]netip.Prefix(nil), c.PeerAllow...)
	p.Deny = append([]netip.Prefix(nil), c.PeerDeny...)
	p.RelayPorts.Min, p.RelayPorts.Max = c.PortRange.Min, c.PortRange.Max
	seen := make(map[netip.Addr]bool)
	add := func(a netip.Addr) {
		if a.IsValid() && !a.IsUnspecified() && !seen[a] {
			seen[a] = true
			p.OwnAddrs = append(p.OwnAddrs, a)
		}
	}
	for _, list := range [][]netip.AddrPort{c.UDPListen, c.TCPListen, c.TLSListen, {c.MetricsListen}} {
		for _, ap := range list {
			add(ap.Addr())
		}
	}
	for _, a := range c.RelayIPs {
		add(a)
	}
	for _, a := range c.ExternalIPs {
		add(a)
	}
	return p
}

// TCPRelay is TCP relaying (RFC 6062): off unless Enabled.
type TCPRelay struct {
	Enabled bool
	// ConnectTimeout bounds a Connect's outbound connection (RFC 6062
	// §5.2: at least 30 s).
	ConnectTimeout time.Duration
	// MaxPerAllocation, MaxPerUser and MaxPending bound peer data
	// connections per allocation, per user, and those being opened or
	// waiting for their ConnectionBind in the whole relay.
	MaxPerAllocation, MaxPerUser, MaxPending int
	// IdleTimeout closes a relayed connection idle both ways this long.
	IdleTimeout time.Duration
}
