package wiring

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/relay"
)

// TestRelayCarriesTheSettings checks that every setting the daemon reads
// reaches the relay configuration and that the credentials accept a REST
// username minted with the configured secret.
func TestRelayCarriesTheSettings(t *testing.T) {
	secret := "wiring-test-secret-0123456789"
	cfg, err := config.Load([]string{
		"TURNSTILE_UDP_LISTEN=127.0.0.1:3478",
		"TURNSTILE_AUTH_SECRETS=" + secret,
		"TURNSTILE_REALM=wiring.test",
		"TURNSTILE_MAX_LIFETIME=20m",
		"TURNSTILE_USER_QUOTA=3",
		"TURNSTILE_LEGACY_CHANNELS=true",
		"TURNSTILE_LEGACY_DUAL_ALLOCATION=true",
		"TURNSTILE_ALTERNATE_SERVERS=127.0.0.2:3478",
		"TURNSTILE_UDP_OFFLOAD=false",
		"TURNSTILE_UNAUTH_RATE=7",
		"TURNSTILE_UNAUTH_BURST=70",
		"TURNSTILE_TCP_LISTEN=127.0.0.1:3478",
		"TURNSTILE_TCP_RELAY=true",
		"TURNSTILE_TCP_RELAY_CONNECT_TIMEOUT=40s",
		"TURNSTILE_TCP_RELAY_MAX_PER_ALLOCATION=5",
		"TURNSTILE_TCP_RELAY_MAX_PER_USER=6",
		"TURNSTILE_TCP_RELAY_MAX_PENDING=7",
		"TURNSTILE_TCP_RELAY_IDLE_TIMEOUT=8m",
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, creds, err := Relay(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Realm != "wiring.test" || rc.Allocation.MaxLifetime != 20*time.Minute || rc.Allocation.UserQuota != 3 ||
		!rc.LegacyChannels || !rc.LegacyDualAllocation || len(rc.AlternateServers) != 1 || !rc.NoUDPOffload ||
		rc.PortMin != cfg.PortRange.Min || rc.PortMax != cfg.PortRange.Max || rc.Nonces == nil || rc.Policy == nil ||
		rc.UnauthRate != 7 || rc.UnauthBurst != 70 || rc.NoUnauthBudget {
		t.Fatalf("settings lost: %+v", rc)
	}
	wantTCP := relay.TCPRelayConfig{Enabled: true, ConnectTimeout: 40 * time.Second, MaxPerAllocation: 5,
		MaxPerUser: 6, MaxPending: 7, IdleTimeout: 8 * time.Minute}
	if rc.TCPRelay != wantTCP {
		t.Fatalf("TCP relaying: %+v, want %+v", rc.TCPRelay, wantTCP)
	}
	user, pass := auth.MintREST([]byte(secret), "alice", time.Hour, time.Now())
	keys, who, err := creds.Keys(user, "wiring.test", time.Now())
	if err != nil || who != "alice" || keys.Len() != 1 || keys.At(0) != auth.LongTermKey(user, "wiring.test", pass) {
		t.Fatalf("credentials: keys %d, user %q, err %v", keys.Len(), who, err)
	}
}

// TestUnauthRateZeroTurnsTheBudgetOff: TURNSTILE_UNAUTH_RATE=0 is the
// documented switch (docs/configuration.md), so the relay gets no budget.
func TestUnauthRateZeroTurnsTheBudgetOff(t *testing.T) {
	cfg, err := config.Load([]string{
		"TURNSTILE_UDP_LISTEN=127.0.0.1:3478",
		"TURNSTILE_AUTH_SECRETS=wiring-test-secret-0123456789",
		"TURNSTILE_UNAUTH_RATE=0",
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := Relay(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !rc.NoUnauthBudget {
		t.Fatal("TURNSTILE_UNAUTH_RATE=0 left the unauthenticated budget on")
	}
}

// TestPeerAllowCoveringOwnAddressesWarnsOnce: an allow entry covering the
// relay's own address is said once at start, naming the address; without
// one nothing is said. The metrics listener reaches the relay as one of
// its own services, never to be a peer.
func TestPeerAllowCoveringOwnAddressesWarnsOnce(t *testing.T) {
	for _, tc := range []struct {
		allow string
		warn  bool
	}{
		{"10.0.0.0/8", true},
		{"192.168.0.0/16", false},
	} {
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logged, nil))
		cfg, err := config.Load([]string{
			"TURNSTILE_UDP_LISTEN=10.1.2.3:3478",
			"TURNSTILE_AUTH_SECRETS=wiring-test-secret-0123456789",
			"TURNSTILE_PEER_ALLOW=" + tc.allow,
			"TURNSTILE_METRICS_LISTEN=0.0.0.0:9464",
		})
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := Relay(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		warnings := strings.Count(logged.String(), "TURNSTILE_PEER_ALLOW covers the relay's own addresses")
		if tc.warn && (warnings != 1 || !strings.Contains(logged.String(), "10.1.2.3")) {
			t.Errorf("allow %s: log %q, want one warning naming 10.1.2.3", tc.allow, logged.String())
		}
		if !tc.warn && warnings != 0 {
			t.Errorf("allow %s: log %q, want no warning", tc.allow, logged.String())
		}
		if len(rc.OwnServices) != 1 || rc.OwnServices[0] != netip.MustParseAddrPort("0.0.0.0:9464") {
			t.Errorf("OwnServices %v, want the metrics listener", rc.OwnServices)
		}
	}
}
