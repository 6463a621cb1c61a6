package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	envlib "github.com/caarlos0/env/v11"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/logging"
)

// Ranges of the numeric settings (doc.go explains each).
const (
	maxCredentialTTL  = 366 * 24 * time.Hour
	maxDrainTimeout   = 24 * time.Hour
	maxTCPIdleTimeout = 24 * time.Hour
	// minConnectTimeout is RFC 6062 §5.2's floor for the wait on a peer.
	minConnectTimeout  = 30 * time.Second
	maxConnectTimeout  = 10 * time.Minute
	maxTCPRelayConns   = 1 << 20
	minMaxLifetime     = 600 * time.Second // RFC 8656 §7.2: the default lifetime, the floor of any grant
	maxMaxLifetime     = 3600 * time.Second
	maxQuota           = 1 << 30
	maxPermissionLimit = 1 << 20
	maxConnections     = 1 << 30
	// minWriteBudget is relay.MinTCPWriteBudget: the data share of a
	// connection's write budget must hold a 64 KiB datagram.
	minWriteBudget = 128 << 10
	maxWriteBudget = 64 << 20
	// maxUnauthRate and maxUnauthBurst are sourcebudget.MaxRate and
	// MaxBurst.
	maxUnauthRate  = 1_000_000
	maxUnauthBurst = 1_000_000
	// minTCPFrame: every message a client may send without knowing the
	// path MTU fits (RFC 8489 §6.1: 1280 bytes for IPv6).
	minTCPFrame = 1280
	// maxTCPFrame is the largest STUN message: 20-byte header plus the
	// largest 16-bit Length that is a multiple of 4 (RFC 8489 §5).
	maxTCPFrame = 20 + 0xFFFC
)

// Load reads the configuration from environ, a list of "NAME=value" strings
// such as os.Environ returns (a later entry for a name wins; entries without
// '=' are ignored). It validates everything and returns all problems found,
// joined, each an *Error naming its variable. When environ holds no
// TURNSTILE_* variable at all, Load returns the development configuration
// (see the package comment).
func Load(environ []string) (*Config, error) {
	env := envlib.ToMap(environ)
	for name := range env {
		if strings.HasPrefix(name, envPrefix) {
			return load(env, false)
		}
	}
	return loadDev()
}

// loadDev builds the development configuration through the same path as a
// real one, from a synthetic environment.
func loadDev() (*Config, error) {
	var key [32]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (it aborts the program instead)
	return load(map[string]string{
		varUDPListen:   "127.0.0.1:3478",
		varTCPListen:   "127.0.0.1:3478",
		varRelayIPs:    "127.0.0.1",
		varAuthSecrets: hex.EncodeToString(key[:]),
		varPeerAllow:   "127.0.0.0/8,::1/128",
	}, true)
}

// load parses env, which must not be nil (env.ParseWithOptions would read
// the process environment instead).
func load(env map[string]string, dev bool) (*Config, error) {
	var raw rawEnv
	if err := envlib.ParseWithOptions(&raw, envlib.Options{Environment: env}); err != nil {
		// Unreachable with string fields and no required tags.
		return nil, fmt.Errorf("config: reading the environment: %w", err)
	}
	// The library gives a variable set to "" its default; for these two
	// the empty string means "off".
	if v, ok := env[varSoftware]; ok && v == "" {
		raw.Software = ""
	}
	if v, ok := env[varMetricsListen]; ok && v == "" {
		raw.MetricsListen = ""
	}

	var p problems
	c := &Config{Dev: dev}
	c.UDPListen = p.addrPorts(varUDPListen, raw.UDPListen, useSpecific)
	c.TCPListen = p.addrPorts(varTCPListen, raw.TCPListen, useSpecific)
	c.TLSListen = p.addrPorts(varTLSListen, raw.TLSListen, useSpecific)
	c.TLSCertFile, c.TLSKeyFile = raw.TLSCertFile, raw.TLSKeyFile

	c.Realm = p.realm(raw.Realm)
	c.Software = p.software(raw.Software)

	if raw.AuthSecrets != "" {
		c.AuthSecrets = p.authSecrets(raw.AuthSecrets)
	}
	if raw.AuthSecretsFile != "" {
		c.AuthSecretsFile = raw.AuthSecretsFile
		c.AuthSecrets = p.secretsFile(raw.AuthSecretsFile)
	}
	c.Users = p.users(raw.Users)
	c.CredentialMaxTTL = p.duration(varCredentialMaxTTL, raw.CredentialMaxTTL, 0, maxCredentialTTL, true)
	c.NonceLifetime = p.duration(varNonceLifetime, raw.NonceLifetime, time.Second, auth.MaxNonceLifetime, false)

	c.RelayIPs = p.addrs(varRelayIPs, raw.RelayIPs)
	c.ExternalIPs = p.addrs(varExternalIPs, raw.ExternalIPs)
	c.PortRange = p.portRange(varPortRange, raw.PortRange)

	c.UserQuota = p.integer(varUserQuota, raw.UserQuota, 0, maxQuota)
	c.TotalQuota = p.integer(varTotalQuota, raw.TotalQuota, 0, maxQuota)
	c.MaxLifetime = p.duration(varMaxLifetime, raw.MaxLifetime, minMaxLifetime, maxMaxLifetime, true)
	c.MaxPermissions = p.integer(varMaxPermissions, raw.MaxPermissions, 1, maxPermissionLimit)

	c.PeerAllow = p.prefixes(varPeerAllow, raw.PeerAllow)
	c.PeerDeny = p.prefixes(varPeerDeny, raw.PeerDeny)

	c.TCPMaxConnections = p.integer(varTCPMaxConnections, raw.TCPMaxConnections, 1, maxConnections)
	c.TCPMaxConnectionsPerSource = p.integer(varTCPMaxPerSource, raw.TCPMaxPerSource, 1, maxConnections)
	c.TCPWriteBudget = p.integer(varTCPWriteBudget, raw.TCPWriteBudget, minWriteBudget, maxWriteBudget)
	c.TCPIdleTimeout = p.duration(varTCPIdleTimeout, raw.TCPIdleTimeout, time.Second, maxTCPIdleTimeout, false)
	c.TCPMaxFrame = p.integer(varTCPMaxFrame, raw.TCPMaxFrame, minTCPFrame, maxTCPFrame)
	c.TCPRelay = TCPRelay{
		Enabled:          p.boolean(varTCPRelay, raw.TCPRelay),
		ConnectTimeout:   p.duration(varTCPRelayConnectTimeout, raw.TCPRelayConnect, minConnectTimeout, maxConnectTimeout, false),
		MaxPerAllocation: p.integer(varTCPRelayPerAllocation, raw.TCPRelayPerAlloc, 1, maxTCPRelayConns),
		MaxPerUser:       p.integer(varTCPRelayPerUser, raw.TCPRelayPerUser, 1, maxTCPRelayConns),
		MaxPending:       p.integer(varTCPRelayPending, raw.TCPRelayPending, 1, maxTCPRelayConns),
		IdleTimeout:      p.duration(varTCPRelayIdleTimeout, raw.TCPRelayIdle, time.Second, maxTCPIdleTimeout, false),
	}
	c.UnauthRate = p.integer(varUnauthRate, raw.UnauthRate, 0, maxUnauthRate)
	c.UnauthBurst = p.integer(varUnauthBurst, raw.UnauthBurst, 1, maxUnauthBurst)
	c.LegacyChannels = p.boolean(varLegacyChannels, raw.LegacyChannels)
	c.LegacyDualAllocation = p.boolean(varLegacyDual, raw.LegacyDual)
	c.UDPOffload = p.boolean(varUDPOffload, raw.UDPOffload)
	c.XDP = p.xdpMode(raw.XDP)

	c.LogLevel = p.logLevel(raw.LogLevel)
	if raw.MetricsListen != "" {
		c.MetricsListen, _ = p.addrPort(varMetricsListen, raw.MetricsListen, useAnyHost)
	}
	c.DrainTimeout = p.duration(varDrainTimeout, raw.DrainTimeout, 0, maxDrainTimeout, false)
	c.AlternateServers = p.addrPorts(varAlternateServers, raw.AlternateServers, useSpecific)

	p.crossChecks(c, &raw, env)
	c.Unrecognized = unrecognized(env)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// maxRealmBytes: RFC 8489 §14.9 requires fewer than 128 characters; the
// realm is kept to printable ASCII, where OpaqueString (RFC 8265) is the
// identity, as package auth requires.
const maxRealmBytes = 127

func (p *problems) realm(text string) string {
	if text == "" || len(text) > maxRealmBytes || !printableASCII(text) {
		p.add(varRealm, text, "must be 1 to %d printable ASCII characters (RFC 8489 §14.9)", maxRealmBytes)
		return ""
	}
	return text
}

// maxSoftwareChars: RFC 8489 §14.14 requires fewer than 128 characters.
const maxSoftwareChars = 127

func (p *problems) software(text string) string {
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) > maxSoftwareChars {
		p.add(varSoftware, text, "must be valid UTF-8 of at most %d characters (RFC 8489 §14.14)", maxSoftwareChars)
		return ""
	}
	return text
}

// The modes of TURNSTILE_XDP.
const (
	XDPOff     = "off"
	XDPNative  = "native"
	XDPGeneric = "generic"
	XDPAuto    = "auto"
)

func (p *problems) xdpMode(text string) string {
	switch text {
	case XDPOff, XDPNative, XDPGeneric, XDPAuto:
		return text
	}
	p.add(varXDP, text, "must be off, native, generic or auto")
	return XDPOff
}

func (p *problems) logLevel(text string) logging.Level {
	l, err := logging.ParseLevel(text)
	if err != nil {
		p.add(varLogLevel, text, "must be trace, debug, info, warn or error")
		return logging.LevelInfo
	}
	return l
}

// unrecognized returns the sorted TURNSTILE_* names in env that rawEnv does
// not read.
func unrecognized(env map[string]string) []string {
	params, err := envlib.GetFieldParams(&rawEnv{})
	if err != nil {
		return nil // unreachable: rawEnv is a struct of plain string fields
	}
	known := make(map[string]bool, len(params))
	for _, fp := range params {
		known[fp.Key] = true
	}
	var out []string
	for name := range env {
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
