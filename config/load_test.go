package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/logging"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ip(s string) netip.Addr     { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix  { return netip.MustParsePrefix(s) }

func TestDefaults(t *testing.T) {
	c, err := Load(environ(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	secrets := c.AuthSecrets
	c.AuthSecrets = nil
	want := &Config{
		UDPListen:                  []netip.AddrPort{ap("192.0.2.1:3478")},
		Realm:                      "turnstile",
		Software:                   "turnstile",
		CredentialMaxTTL:           24 * time.Hour,
		NonceLifetime:              10 * time.Minute,
		RelayIPs:                   []netip.Addr{ip("192.0.2.1")},
		PortRange:                  PortRange{Min: 49152, Max: 65535},
		UserQuota:                  10,
		TotalQuota:                 0,
		MaxLifetime:                time.Hour,
		MaxPermissions:             256,
		TCPMaxConnections:          10000,
		TCPMaxConnectionsPerSource: 1000,
		TCPWriteBudget:             256 << 10,
		TCPIdleTimeout:             2 * time.Minute,
		TCPMaxFrame:                65535 + 4,
		TCPRelay: TCPRelay{
			ConnectTimeout: 30 * time.Second, MaxPerAllocation: 64, MaxPerUser: 256, MaxPending: 4096,
			IdleTimeout: time.Hour,
		},
		UnauthRate:    10,
		UnauthBurst:   100,
		UDPOffload:    true,
		XDP:           XDPOff,
		LogLevel:      logging.LevelInfo,
		MetricsListen: ap("127.0.0.1:9464"),
		DrainTimeout:  30 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if len(secrets) != 1 || secrets[0].Expose() != testSecret {
		t.Errorf("AuthSecrets = %d secrets", len(secrets))
	}
}

// varCase sets some variables on top of baseEnv and expects either an error
// naming wantVar or a Config passing check.
type varCase struct {
	name      string
	set       map[string]string
	wantVar   string
	fragments []string
	check     func(*Config) bool
}

func runVarCases(t *testing.T, cases []varCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWith(tc.set)
			if tc.wantVar != "" {
				wantError(t, err, tc.wantVar, tc.fragments...)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestListenVariables(t *testing.T) {
	runVarCases(t, []varCase{
		{name: "udp list", set: map[string]string{varUDPListen: "192.0.2.1:3478, [2001:db8::1]:3478"},
			check: func(c *Config) bool {
				return slices.Equal(c.UDPListen, []netip.AddrPort{ap("192.0.2.1:3478"), ap("[2001:db8::1]:3478")}) &&
					slices.Equal(c.RelayIPs, []netip.Addr{ip("192.0.2.1"), ip("2001:db8::1")})
			}},
		{name: "tcp only", set: map[string]string{varUDPListen: "<unset>", varTCPListen: "192.0.2.2:3478"},
			check: func(c *Config) bool {
				return len(c.UDPListen) == 0 && slices.Equal(c.RelayIPs, []netip.Addr{ip("192.0.2.2")})
			}},
		{name: "relay IPs from several ports of one IP are deduplicated",
			set:   map[string]string{varUDPListen: "192.0.2.1:3478,192.0.2.1:3479"},
			check: func(c *Config) bool { return slices.Equal(c.RelayIPs, []netip.Addr{ip("192.0.2.1")}) }},
		{name: "udp unspecified IPv4", set: map[string]string{varUDPListen: "0.0.0.0:3478"},
			wantVar: varUDPListen, fragments: []string{`"0.0.0.0:3478"`, "unspecified", "RFC 8656 §2"}},
		{name: "tcp unspecified IPv6", set: map[string]string{varTCPListen: "[::]:3478"},
			wantVar: varTCPListen, fragments: []string{"unspecified"}},
		{name: "tls unspecified", set: map[string]string{varTLSListen: "0.0.0.0:5349"},
			wantVar: varTLSListen, fragments: []string{"unspecified"}},
		{name: "no port", set: map[string]string{varUDPListen: "192.0.2.1"},
			wantVar: varUDPListen, fragments: []string{"not an ip:port"}},
		{name: "port zero", set: map[string]string{varUDPListen: "192.0.2.1:0"},
			wantVar: varUDPListen, fragments: []string{"port 0"}},
		{name: "hostname", set: map[string]string{varUDPListen: "turn.example.org:3478"},
			wantVar: varUDPListen, fragments: []string{"not an ip:port"}},
		{name: "duplicate", set: map[string]string{varUDPListen: "192.0.2.1:3478,192.0.2.1:3478"},
			wantVar: varUDPListen, fragments: []string{"listed twice"}},
		{name: "empty item", set: map[string]string{varUDPListen: "192.0.2.1:3478,"},
			wantVar: varUDPListen, fragments: []string{"item 2 of 2 is empty"}},
		{name: "mapped", set: map[string]string{varUDPListen: "[::ffff:192.0.2.1]:3478"},
			wantVar: varUDPListen, fragments: []string{"IPv4-mapped", "192.0.2.1"}},
		{name: "zone", set: map[string]string{varUDPListen: "[fe80::1%eth0]:3478"},
			wantVar: varUDPListen, fragments: []string{"zone"}},
		{name: "multicast", set: map[string]string{varUDPListen: "239.1.1.1:3478"},
			wantVar: varUDPListen, fragments: []string{"multicast"}},
		{name: "tcp and tls share an address",
			set:     map[string]string{varTCPListen: "192.0.2.1:443", varTLSListen: "192.0.2.1:443"},
			wantVar: varTLSListen, fragments: []string{"also listed in TURNSTILE_TCP_LISTEN"}},
		{name: "no listener at all", set: map[string]string{varUDPListen: "<unset>"},
			wantVar: varUDPListen, fragments: []string{"at least one listener", "TURNSTILE_AUTH_SECRETS"}},
	})
}

func TestStringVariables(t *testing.T) {
	runVarCases(t, []varCase{
		{name: "realm", set: map[string]string{varRealm: "turn.example.org"},
			check: func(c *Config) bool { return c.Realm == "turn.example.org" }},
		{name: "empty realm keeps the default", set: map[string]string{varRealm: ""},
			check: func(c *Config) bool { return c.Realm == "turnstile" }},
		{name: "realm too long", set: map[string]string{varRealm: strings.Repeat("r", 128)},
			wantVar: varRealm, fragments: []string{"1 to 127 printable ASCII"}},
		{name: "realm not ASCII", set: map[string]string{varRealm: "réalm"},
			wantVar: varRealm, fragments: []string{"printable ASCII"}},
		{name: "realm control character", set: map[string]string{varRealm: "a\tb"},
			wantVar: varRealm},
		{name: "software", set: map[string]string{varSoftware: "relay 1.0 ✓"},
			check: func(c *Config) bool { return c.Software == "relay 1.0 ✓" }},
		{name: "empty software disables it", set: map[string]string{varSoftware: ""},
			check: func(c *Config) bool { return c.Software == "" }},
		{name: "software too long", set: map[string]string{varSoftware: strings.Repeat("é", 128)},
			wantVar: varSoftware, fragments: []string{"at most 127 characters"}},
		{name: "software invalid UTF-8", set: map[string]string{varSoftware: "a\xffb"},
			wantVar: varSoftware, fragments: []string{"UTF-8"}},
		{name: "log level", set: map[string]string{varLogLevel: "DEBUG"},
			check: func(c *Config) bool { return c.LogLevel == logging.LevelDebug }},
		{name: "log level trace", set: map[string]string{varLogLevel: "trace"},
			check: func(c *Config) bool { return c.LogLevel == logging.LevelTrace }},
		{name: "xdp native", set: map[string]string{varXDP: "native"},
			check: func(c *Config) bool { return c.XDP == XDPNative }},
		{name: "xdp default off", set: map[string]string{},
			check: func(c *Config) bool { return c.XDP == XDPOff }},
		{name: "bad xdp mode", set: map[string]string{varXDP: "fast"},
			wantVar: varXDP, fragments: []string{`"fast"`, "off, native, generic or auto"}},
		{name: "xdp without a UDP listener", set: map[string]string{varXDP: "auto", varUDPListen: "", varTCPListen: "192.0.2.1:3478"},
			wantVar: varXDP, fragments: []string{"needs a UDP listener"}},
		{name: "xdp with 9 listener ports", set: map[string]string{varXDP: "generic", varUDPListen: "192.0.2.1:1,192.0.2.1:2,192.0.2.1:3,192.0.2.1:4,192.0.2.1:5,192.0.2.1:6,192.0.2.1:7,192.0.2.1:8,192.0.2.1:9"},
			wantVar: varXDP, fragments: []string{"at most 8 distinct UDP listener ports", "has 9"}},
		{name: "bad log level", set: map[string]string{varLogLevel: "verbose"},
			wantVar: varLogLevel, fragments: []string{`"verbose"`, "trace, debug, info, warn or error"}},
	})
}

func TestDurationAndNumberVariables(t *testing.T) {
	runVarCases(t, []varCase{
		{name: "credential ttl unlimited", set: map[string]string{varCredentialMaxTTL: "0"},
			check: func(c *Config) bool { return c.CredentialMaxTTL == 0 }},
		{name: "credential ttl", set: map[string]string{varCredentialMaxTTL: "12h"},
			check: func(c *Config) bool { return c.CredentialMaxTTL == 12*time.Hour }},
		{name: "credential ttl negative", set: map[string]string{varCredentialMaxTTL: "-1h"},
			wantVar: varCredentialMaxTTL, fragments: []string{"must be from"}},
		{name: "credential ttl fraction", set: map[string]string{varCredentialMaxTTL: "1.5s"},
			wantVar: varCredentialMaxTTL, fragments: []string{"whole seconds"}},
		{name: "credential ttl not a duration", set: map[string]string{varCredentialMaxTTL: "24"},
			wantVar: varCredentialMaxTTL, fragments: []string{"not a duration"}},
		{name: "nonce lifetime", set: map[string]string{varNonceLifetime: "1h"},
			check: func(c *Config) bool { return c.NonceLifetime == time.Hour }},
		{name: "nonce lifetime above an hour", set: map[string]string{varNonceLifetime: "61m"},
			wantVar: varNonceLifetime, fragments: []string{`"61m"`, "must be from 1s to 1h0m0s"}},
		{name: "nonce lifetime zero", set: map[string]string{varNonceLifetime: "0s"},
			wantVar: varNonceLifetime},
		{name: "max lifetime", set: map[string]string{varMaxLifetime: "20m"},
			check: func(c *Config) bool { return c.MaxLifetime == 20*time.Minute }},
		{name: "max lifetime below the default lifetime", set: map[string]string{varMaxLifetime: "599s"},
			wantVar: varMaxLifetime, fragments: []string{"must be from 10m0s to 1h0m0s"}},
		{name: "max lifetime above an hour", set: map[string]string{varMaxLifetime: "2h"},
			wantVar: varMaxLifetime},
		{name: "max lifetime fraction", set: map[string]string{varMaxLifetime: "900.5s"},
			wantVar: varMaxLifetime, fragments: []string{"whole seconds"}},
		{name: "user quota unlimited", set: map[string]string{varUserQuota: "0"},
			check: func(c *Config) bool { return c.UserQuota == 0 }},
		{name: "user quota", set: map[string]string{varUserQuota: "3"},
			check: func(c *Config) bool { return c.UserQuota == 3 }},
		{name: "user quota negative", set: map[string]string{varUserQuota: "-1"},
			wantVar: varUserQuota, fragments: []string{"must be from 0"}},
		{name: "user quota not a number", set: map[string]string{varUserQuota: "ten"},
			wantVar: varUserQuota, fragments: []string{"not a whole number"}},
		{name: "total quota", set: map[string]string{varTotalQuota: "5000"},
			check: func(c *Config) bool { return c.TotalQuota == 5000 }},
		{name: "total quota too large", set: map[string]string{varTotalQuota: "99999999999"},
			wantVar: varTotalQuota},
		{name: "max permissions", set: map[string]string{varMaxPermissions: "1"},
			check: func(c *Config) bool { return c.MaxPermissions == 1 }},
		{name: "max permissions zero", set: map[string]string{varMaxPermissions: "0"},
			wantVar: varMaxPermissions, fragments: []string{"must be from 1 to 1048576"}},
		{name: "tcp max connections", set: map[string]string{varTCPMaxConnections: "20"},
			check: func(c *Config) bool { return c.TCPMaxConnections == 20 }},
		{name: "tcp max connections zero", set: map[string]string{varTCPMaxConnections: "0"},
			wantVar: varTCPMaxConnections},
		{name: "tcp idle timeout", set: map[string]string{varTCPIdleTimeout: "30s"},
			check: func(c *Config) bool { return c.TCPIdleTimeout == 30*time.Second }},
		{name: "tcp idle timeout too short", set: map[string]string{varTCPIdleTimeout: "10ms"},
			wantVar: varTCPIdleTimeout},
		{name: "tcp max connections per source", set: map[string]string{varTCPMaxPerSource: "4"},
			check: func(c *Config) bool { return c.TCPMaxConnectionsPerSource == 4 }},
		{name: "tcp max connections per source zero", set: map[string]string{varTCPMaxPerSource: "0"},
			wantVar: varTCPMaxPerSource},
		{name: "tcp write budget smallest", set: map[string]string{varTCPWriteBudget: "131072"},
			check: func(c *Config) bool { return c.TCPWriteBudget == 128<<10 }},
		{name: "tcp write budget below a 64 KiB datagram and the reserve", set: map[string]string{varTCPWriteBudget: "131071"},
			wantVar: varTCPWriteBudget, fragments: []string{"must be from 131072 to 67108864"}},
		{name: "unauthenticated budget off", set: map[string]string{varUnauthRate: "0"},
			check: func(c *Config) bool { return c.UnauthRate == 0 }},
		{name: "unauthenticated rate too high", set: map[string]string{varUnauthRate: "1000001"},
			wantVar: varUnauthRate, fragments: []string{"must be from 0 to 1000000"}},
		{name: "unauthenticated burst", set: map[string]string{varUnauthBurst: "5"},
			check: func(c *Config) bool { return c.UnauthBurst == 5 }},
		{name: "unauthenticated burst zero", set: map[string]string{varUnauthBurst: "0"},
			wantVar: varUnauthBurst, fragments: []string{"must be from 1 to 1000000"}},
		{name: "tcp relay with a tcp listener", set: map[string]string{varTCPRelay: "true", varTCPListen: "192.0.2.1:3478",
			varTCPRelayConnectTimeout: "45s", varTCPRelayPerAllocation: "8", varTCPRelayPerUser: "9", varTCPRelayPending: "10",
			varTCPRelayIdleTimeout: "5m"},
			check: func(c *Config) bool {
				return c.TCPRelay == TCPRelay{Enabled: true, ConnectTimeout: 45 * time.Second, MaxPerAllocation: 8,
					MaxPerUser: 9, MaxPending: 10, IdleTimeout: 5 * time.Minute}
			}},
		{name: "tcp relay without a tcp or tls listener", set: map[string]string{varTCPRelay: "true"},
			wantVar: varTCPRelay, fragments: []string{"needs a TCP or TLS listener"}},
		{name: "tcp relay connect timeout below rfc 6062's 30 s", set: map[string]string{varTCPRelayConnectTimeout: "29s"},
			wantVar: varTCPRelayConnectTimeout},
		{name: "tcp relay per allocation zero", set: map[string]string{varTCPRelayPerAllocation: "0"},
			wantVar: varTCPRelayPerAllocation, fragments: []string{"must be from 1 to 1048576"}},
		{name: "tcp relay idle timeout too short", set: map[string]string{varTCPRelayIdleTimeout: "10ms"},
			wantVar: varTCPRelayIdleTimeout},
		{name: "tcp max frame largest", set: map[string]string{varTCPMaxFrame: "65552"},
			check: func(c *Config) bool { return c.TCPMaxFrame == 65552 }},
		{name: "tcp max frame too large", set: map[string]string{varTCPMaxFrame: "65553"},
			wantVar: varTCPMaxFrame, fragments: []string{"must be from 1280 to 65552"}},
		{name: "tcp max frame too small", set: map[string]string{varTCPMaxFrame: "1279"},
			wantVar: varTCPMaxFrame},
		{name: "legacy channels default off", set: map[string]string{},
			check: func(c *Config) bool { return !c.LegacyChannels }},
		{name: "legacy channels on", set: map[string]string{varLegacyChannels: "true"},
			check: func(c *Config) bool { return c.LegacyChannels }},
		{name: "legacy dual allocation on", set: map[string]string{varLegacyDual: "true"},
			check: func(c *Config) bool { return c.LegacyDualAllocation && !c.LegacyChannels }},
		{name: "UDP offload on by default", set: map[string]string{},
			check: func(c *Config) bool { return c.UDPOffload }},
		{name: "UDP offload off", set: map[string]string{varUDPOffload: "false"},
			check: func(c *Config) bool { return !c.UDPOffload }},
		{name: "UDP offload not a boolean", set: map[string]string{varUDPOffload: "off"},
			wantVar: varUDPOffload, fragments: []string{"must be true or false"}},
		{name: "legacy channels not a boolean", set: map[string]string{varLegacyChannels: "yes"},
			wantVar: varLegacyChannels, fragments: []string{"must be true or false"}},
		{name: "drain timeout zero", set: map[string]string{varDrainTimeout: "0s"},
			check: func(c *Config) bool { return c.DrainTimeout == 0 }},
		{name: "drain timeout", set: map[string]string{varDrainTimeout: "5m"},
			check: func(c *Config) bool { return c.DrainTimeout == 5*time.Minute }},
		{name: "drain timeout negative", set: map[string]string{varDrainTimeout: "-1s"},
			wantVar: varDrainTimeout},
		{name: "drain timeout in plain seconds", set: map[string]string{varDrainTimeout: "30"},
			wantVar: varDrainTimeout, fragments: []string{"not a duration"}},
	})
}

func TestRelayVariables(t *testing.T) {
	runVarCases(t, []varCase{
		{name: "relay IPs", set: map[string]string{varRelayIPs: "192.0.2.10,2001:db8::10"},
			check: func(c *Config) bool {
				return slices.Equal(c.RelayIPs, []netip.Addr{ip("192.0.2.10"), ip("2001:db8::10")})
			}},
		{name: "relay IP unspecified", set: map[string]string{varRelayIPs: "0.0.0.0"},
			wantVar: varRelayIPs, fragments: []string{"unspecified"}},
		{name: "relay IP not an IP", set: map[string]string{varRelayIPs: "192.0.2.10:3478"},
			wantVar: varRelayIPs, fragments: []string{"not an IP address"}},
		{name: "relay IP duplicate", set: map[string]string{varRelayIPs: "192.0.2.10,192.0.2.10"},
			wantVar: varRelayIPs, fragments: []string{"listed twice"}},
		{name: "external IPs pair with the default relay IPs", set: map[string]string{varExternalIPs: "203.0.113.7"},
			check: func(c *Config) bool {
				return slices.Equal(c.ExternalIPs, []netip.Addr{ip("203.0.113.7")}) &&
					slices.Equal(c.RelayIPs, []netip.Addr{ip("192.0.2.1")})
			}},
		{name: "external IPs count", set: map[string]string{varRelayIPs: "10.0.0.1,10.0.0.2", varExternalIPs: "203.0.113.7"},
			wantVar: varExternalIPs, fragments: []string{"1 addresses for 2 relay IPs (10.0.0.1,10.0.0.2)"}},
		{name: "external IPs family", set: map[string]string{varExternalIPs: "2001:db8::7"},
			wantVar: varExternalIPs, fragments: []string{"family"}},
		{name: "port range", set: map[string]string{varPortRange: "50000-50100"},
			check: func(c *Config) bool { return c.PortRange == PortRange{Min: 50000, Max: 50100} }},
		{name: "port range of one port", set: map[string]string{varPortRange: "50000-50000"},
			check: func(c *Config) bool { return c.PortRange == PortRange{Min: 50000, Max: 50000} }},
		{name: "port range reversed", set: map[string]string{varPortRange: "60000-50000"},
			wantVar: varPortRange, fragments: []string{`TURNSTILE_PORT_RANGE: "60000-50000": min above max`}},
		{name: "port range system ports", set: map[string]string{varPortRange: "1023-2000"},
			wantVar: varPortRange, fragments: []string{"min below 1024"}},
		{name: "port range above 65535", set: map[string]string{varPortRange: "50000-65536"},
			wantVar: varPortRange, fragments: []string{"whole numbers"}},
		{name: "port range single number", set: map[string]string{varPortRange: "50000"},
			wantVar: varPortRange, fragments: []string{"not a range"}},
		{name: "port range holds the UDP listener", set: map[string]string{varPortRange: "3000-4000"},
			wantVar: varPortRange, fragments: []string{"contains port 3478 of TURNSTILE_UDP_LISTEN"}},
		{name: "port range holds the metrics listener", set: map[string]string{varPortRange: "9000-10000"},
			wantVar: varPortRange, fragments: []string{"contains port 9464 of TURNSTILE_METRICS_LISTEN"}},
		{name: "port range may hold the metrics port when metrics are off",
			set:   map[string]string{varPortRange: "9000-10000", varMetricsListen: ""},
			check: func(c *Config) bool { return !c.MetricsListen.IsValid() }},
	})
}

func TestPeerAndOperationsVariables(t *testing.T) {
	runVarCases(t, []varCase{
		{name: "peer lists", set: map[string]string{varPeerAllow: "10.0.0.0/8, 192.0.2.7", varPeerDeny: "2001:db8::/32"},
			check: func(c *Config) bool {
				return slices.Equal(c.PeerAllow, []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.7/32")}) &&
					slices.Equal(c.PeerDeny, []netip.Prefix{pfx("2001:db8::/32")})
			}},
		{name: "peer allow host bits", set: map[string]string{varPeerAllow: "10.1.2.3/8"},
			wantVar: varPeerAllow, fragments: []string{"host bits", "10.0.0.0/8"}},
		{name: "peer deny garbage", set: map[string]string{varPeerDeny: "10.0.0.0/33"},
			wantVar: varPeerDeny, fragments: []string{"not a CIDR prefix"}},
		{name: "metrics on all addresses", set: map[string]string{varMetricsListen: "0.0.0.0:9100"},
			check: func(c *Config) bool { return c.MetricsListen == ap("0.0.0.0:9100") }},
		{name: "metrics disabled", set: map[string]string{varMetricsListen: ""},
			check: func(c *Config) bool { return !c.MetricsListen.IsValid() }},
		{name: "metrics without port", set: map[string]string{varMetricsListen: "127.0.0.1"},
			wantVar: varMetricsListen, fragments: []string{"not an ip:port"}},
		{name: "alternate servers", set: map[string]string{varAlternateServers: "198.51.100.1:3478,[2001:db8::2]:3478"},
			check: func(c *Config) bool {
				return slices.Equal(c.AlternateServers, []netip.AddrPort{ap("198.51.100.1:3478"), ap("[2001:db8::2]:3478")})
			}},
		{name: "alternate server is ourselves", set: map[string]string{varAlternateServers: "192.0.2.1:3478"},
			wantVar: varAlternateServers, fragments: []string{"loop"}},
		{name: "alternate server unspecified", set: map[string]string{varAlternateServers: "0.0.0.0:3478"},
			wantVar: varAlternateServers, fragments: []string{"unspecified"}},
	})
}

func TestAllProblemsAreReported(t *testing.T) {
	_, err := loadWith(map[string]string{varPortRange: "9-1", varLogLevel: "loud", varUserQuota: "x"})
	wantError(t, err, varPortRange, "min above max")
	wantError(t, err, varLogLevel)
	wantError(t, err, varUserQuota)
	if n := len(configErrors(t, err)); n != 3 {
		t.Errorf("%d problems reported, want 3: %v", n, err)
	}
}

func TestEnvironParsing(t *testing.T) {
	c, err := Load([]string{
		varUDPListen + "=192.0.2.1:3478", varAuthSecrets + "=" + testSecret,
		varRealm + "=first", varRealm + "=second", // the later entry wins
		"NOT_A_PAIR", "=", varSoftware + "=a=b", // '=' inside a value is kept
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "second" || c.Software != "a=b" {
		t.Errorf("Realm %q, Software %q", c.Realm, c.Software)
	}
}

func TestUnrecognizedVariables(t *testing.T) {
	c, err := loadWith(map[string]string{"TURNSTILE_REALMS": "typo-value", "TURNSTILE_GATEWAY_DNS": "x", "OTHER": "y"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"TURNSTILE_GATEWAY_DNS", "TURNSTILE_REALMS"}; !slices.Equal(c.Unrecognized, want) {
		t.Errorf("Unrecognized = %v, want %v", c.Unrecognized, want)
	}
}
