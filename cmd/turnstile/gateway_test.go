package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gatewayResourcesV1 is a valid resources file with one resource.
const gatewayResourcesV1 = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}]}
]}`

// writeFile writes text to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadGateway: the gateway is off without a resources file, and a
// gateway setting without one is an error; with one, gateway.Config's
// variables overlay the defaults, TURNSTILE_GATEWAY_RESOLVER takes an
// address with or without port, and every error names its variable (or
// the file and the place in it).
func TestLoadGateway(t *testing.T) {
	dir := t.TempDir()
	valid := writeFile(t, dir, "valid.json", gatewayResourcesV1)
	invalid := writeFile(t, dir, "invalid.json", `{"resources": [{"name": "x", "domain": "a.test", "users": ["*"], "filtres": []}]}`)
	for _, tc := range []struct {
		name    string
		env     []string
		off     bool
		wantErr string // substring; "" for success
		check   func(t *testing.T, g *gatewaySetup)
	}{
		{name: "nothing set", env: nil, off: true},
		{name: "setting without resources file", env: []string{"TURNSTILE_GATEWAY_DNS=100.100.111.1:53"},
			wantErr: "TURNSTILE_GATEWAY_DNS is set but TURNSTILE_GATEWAY_RESOURCES_FILE is not"},
		{name: "defaults", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid},
			check: func(t *testing.T, g *gatewaySetup) {
				cfg := g.core.Config()
				if cfg.DNS.V4 != netip.MustParseAddrPort("100.100.111.1:53") || cfg.MaxFlows != 1024 || g.server.IsValid() {
					t.Fatalf("defaults: %+v, resolver %v", cfg, g.server)
				}
				if g.core.Snapshot().Len() != 1 {
					t.Fatalf("%d resources, want 1", g.core.Snapshot().Len())
				}
			}},
		{name: "settings", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid,
			"TURNSTILE_GATEWAY_DNS=100.100.111.2:5353", "TURNSTILE_GATEWAY_MAX_FLOWS=10",
			"TURNSTILE_GATEWAY_TOMBSTONE_LIFETIME=30s", "TURNSTILE_GATEWAY_RESOLVER=192.0.2.53"},
			check: func(t *testing.T, g *gatewaySetup) {
				cfg := g.core.Config()
				if cfg.DNS.V4 != netip.MustParseAddrPort("100.100.111.2:5353") || cfg.DNS.V6.IsValid() ||
					cfg.MaxFlows != 10 || cfg.TombstoneLifetime != 30*time.Second {
					t.Fatalf("settings not applied: %+v", cfg)
				}
				if g.server != netip.MustParseAddrPort("192.0.2.53:53") {
					t.Fatalf("resolver %v, want 192.0.2.53:53", g.server)
				}
			}},
		{name: "IPv6 resolver with port", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_RESOLVER=[2001:db8::53]:5353"},
			check: func(t *testing.T, g *gatewaySetup) {
				if g.server != netip.MustParseAddrPort("[2001:db8::53]:5353") {
					t.Fatalf("resolver %v", g.server)
				}
			}},
		{name: "bad resolver", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_RESOLVER=dns.example"},
			wantErr: "TURNSTILE_GATEWAY_RESOLVER"},
		{name: "unspecified resolver", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_RESOLVER=0.0.0.0"},
			wantErr: "TURNSTILE_GATEWAY_RESOLVER"},
		{name: "bad sentinel", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_DNS=nowhere"},
			wantErr: "TURNSTILE_GATEWAY_DNS"},
		{name: "bad number", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_MAX_FLOWS=many"},
			wantErr: "TURNSTILE_GATEWAY_MAX_FLOWS"},
		{name: "number out of range", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + valid, "TURNSTILE_GATEWAY_ICMP_RATE=0"},
			wantErr: "TURNSTILE_GATEWAY_ICMP_RATE"},
		{name: "missing file", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + filepath.Join(dir, "absent.json")},
			wantErr: "TURNSTILE_GATEWAY_RESOURCES_FILE"},
		{name: "invalid file", env: []string{"TURNSTILE_GATEWAY_RESOURCES_FILE=" + invalid},
			wantErr: "filtres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := loadGateway(tc.env)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.off:
				if g != nil {
					t.Fatalf("gateway on without resources file: %+v", g)
				}
			default:
				tc.check(t, g)
			}
		})
	}
}

// TestUnknownGatewayVariables: misspelt TURNSTILE_GATEWAY_* names are
// reported, the real ones are not.
func TestUnknownGatewayVariables(t *testing.T) {
	got := unknownGatewayVariables([]string{
		"TURNSTILE_GATEWAY_DNS", "TURNSTILE_GATEWAY_DSN", "TURNSTILE_GATEWAY_RESOLVER",
		"TURNSTILE_GATEWAY_RESOURCE_FILE", "TURNSTILE_REALMS",
	})
	if want := []string{"TURNSTILE_GATEWAY_DSN", "TURNSTILE_GATEWAY_RESOURCE_FILE"}; !slices.Equal(got, want) {
		t.Fatalf("unknown %v, want %v", got, want)
	}
}
