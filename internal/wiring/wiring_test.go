package wiring

import (
	"log/slog"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/config"
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
