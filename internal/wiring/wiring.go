// Package wiring turns a validated config.Config into a relay.Config: the
// credentials, the peer policy, the nonces and the allocation limits, the
// way the daemon runs them. It exists so the daemon and the profiling
// harness build the relay the same way and cannot drift apart.
//
// TLS certificates, the gateway's resources and event hooks are left to the
// caller: they carry process state (reloads, metrics) that belongs to the
// caller; Gateway puts a gateway the caller built on the relay.
package wiring

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/gateway/relayext"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/relay"
)

// Relay returns the relay configuration for cfg and the credentials it
// authenticates with (the daemon rotates their secrets on SIGHUP). A fresh
// random key signs the nonces of this process.
func Relay(cfg *config.Config, log *slog.Logger) (relay.Config, *auth.Credentials, error) {
	secrets := make([][]byte, len(cfg.AuthSecrets))
	for i, s := range cfg.AuthSecrets {
		secrets[i] = []byte(s.Expose())
	}
	users := make(map[string]string, len(cfg.Users))
	for _, u := range cfg.Users {
		users[u.Name] = u.Password.Expose()
	}
	creds, err := auth.NewCredentials(auth.CredentialsConfig{
		Realm:       cfg.Realm,
		Secrets:     secrets,
		StaticUsers: users,
		MaxTTL:      cfg.CredentialMaxTTL,
	})
	if err != nil {
		return relay.Config{}, nil, err
	}
	peers, err := peerpolicy.New(cfg.PeerPolicy())
	if err != nil {
		return relay.Config{}, nil, err
	}
	if own := peers.OwnAllowed(); len(own) > 0 {
		log.Warn("TURNSTILE_PEER_ALLOW covers the relay's own addresses: clients may reach their other services as peers (the relay's listeners and metrics port stay refused)",
			"addresses", fmt.Sprint(own))
	}
	var ownServices []netip.AddrPort
	if cfg.MetricsListen.IsValid() {
		ownServices = append(ownServices, cfg.MetricsListen)
	}
	nonceKey := make([]byte, 32)
	if _, err := rand.Read(nonceKey); err != nil {
		return relay.Config{}, nil, err
	}
	nonces, err := auth.NewNonces(nonceKey, cfg.NonceLifetime)
	if err != nil {
		return relay.Config{}, nil, err
	}
	alloc := allocation.Defaults
	alloc.MaxLifetime = cfg.MaxLifetime
	alloc.MaxPermissions = cfg.MaxPermissions
	alloc.UserQuota = cfg.UserQuota
	alloc.TotalQuota = cfg.TotalQuota
	return relay.Config{
		UDPListen:                  cfg.UDPListen,
		TCPListen:                  cfg.TCPListen,
		TLSListen:                  cfg.TLSListen,
		Realm:                      cfg.Realm,
		Software:                   cfg.Software,
		RelayIPs:                   cfg.RelayIPs,
		ExternalIPs:                cfg.ExternalIPs,
		PortMin:                    cfg.PortRange.Min,
		PortMax:                    cfg.PortRange.Max,
		Allocation:                 alloc,
		Policy:                     &relay.DefaultPolicy{Credentials: creds, Peers: peers},
		Nonces:                     nonces,
		AlternateServers:           cfg.AlternateServers,
		TCPMaxConnections:          cfg.TCPMaxConnections,
		TCPMaxConnectionsPerSource: cfg.TCPMaxConnectionsPerSource,
		TCPWriteBudget:             cfg.TCPWriteBudget,
		TCPIdleTimeout:             cfg.TCPIdleTimeout,
		TCPMaxFrame:                cfg.TCPMaxFrame,
		TCPRelay: relay.TCPRelayConfig{
			Enabled:          cfg.TCPRelay.Enabled,
			ConnectTimeout:   cfg.TCPRelay.ConnectTimeout,
			MaxPerAllocation: cfg.TCPRelay.MaxPerAllocation,
			MaxPerUser:       cfg.TCPRelay.MaxPerUser,
			MaxPending:       cfg.TCPRelay.MaxPending,
			IdleTimeout:      cfg.TCPRelay.IdleTimeout,
		},
		UnauthRate:           cfg.UnauthRate,
		UnauthBurst:          cfg.UnauthBurst,
		NoUnauthBudget:       cfg.UnauthRate == 0,
		LegacyChannels:       cfg.LegacyChannels,
		NoUDPOffload:         !cfg.UDPOffload,
		LegacyDualAllocation: cfg.LegacyDualAllocation,
		OwnServices:          ownServices,
		Logger:               log,
	}, creds, nil
}

// Gateway returns the relay extension (relay.Config.Extension) that puts
// core on the relay's peer path; resolver answers the DNS sentinel's
// resolutions (nil: the system's resolver configuration).
func Gateway(core *gateway.Gateway, resolver gateway.Resolver) relay.Extension {
	return relayext.New(core, resolver)
}
