package config

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"

	"github.com/turnstile-relay/turnstile/peerpolicy"
)

func TestDevelopmentMode(t *testing.T) {
	for _, env := range [][]string{nil, {}, {"HOME=/root", "PATH=/usr/bin", "TURNSTILEX=1"}} {
		c, err := Load(env)
		if err != nil {
			t.Fatalf("Load(%q): %v", env, err)
		}
		if !c.Dev {
			t.Errorf("Load(%q) is not a development config", env)
		}
		local := []netip.AddrPort{ap("127.0.0.1:3478")}
		if !slices.Equal(c.UDPListen, local) || !slices.Equal(c.TCPListen, local) || len(c.TLSListen) != 0 {
			t.Errorf("listeners UDP %v TCP %v TLS %v", c.UDPListen, c.TCPListen, c.TLSListen)
		}
		if !slices.Equal(c.RelayIPs, []netip.Addr{ip("127.0.0.1")}) {
			t.Errorf("RelayIPs %v", c.RelayIPs)
		}
		if !slices.Equal(c.PeerAllow, []netip.Prefix{pfx("127.0.0.0/8"), pfx("::1/128")}) {
			t.Errorf("PeerAllow %v", c.PeerAllow)
		}
		if len(c.AuthSecrets) != 1 {
			t.Fatalf("%d secrets, want 1", len(c.AuthSecrets))
		}
		if key, err := hex.DecodeString(c.AuthSecrets[0].Expose()); err != nil || len(key) != 32 {
			t.Errorf("secret is not 32 hex-encoded bytes (%d, %v)", len(key), err)
		}
		if c.Realm != "turnstile" || c.PortRange != (PortRange{49152, 65535}) || c.MetricsListen != ap("127.0.0.1:9464") {
			t.Errorf("defaults not applied: %+v", c)
		}
	}
	a, _ := Load(nil)
	b, _ := Load(nil)
	if a.AuthSecrets[0].Expose() == b.AuthSecrets[0].Expose() {
		t.Error("two development configs share a secret")
	}
}

func TestAnyTurnstileVariableLeavesDevelopmentMode(t *testing.T) {
	_, err := Load([]string{"TURNSTILE_LOG_LEVEL="})
	wantError(t, err, varUDPListen, "at least one listener", "set now: TURNSTILE_LOG_LEVEL")
	wantError(t, err, varAuthSecrets, "at least one is required")
}

func TestDevelopmentPeerPolicy(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := peerpolicy.New(c.PeerPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		want peerpolicy.Verdict
	}{
		{"127.0.0.1:50000", peerpolicy.AllowConfig}, // another loopback client's relayed address
		{"[::1]:5000", peerpolicy.AllowConfig},
		{"10.0.0.1:5000", peerpolicy.DenyPrivate},
		{"169.254.169.254:80", peerpolicy.DenyLinkLocal},
	} {
		if got := f.CheckAddrPort(ap(tc.peer)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.peer, got, tc.want)
		}
	}
}

func TestPeerPolicy(t *testing.T) {
	c, err := loadWith(map[string]string{
		varUDPListen:     "198.51.100.1:3478,198.51.100.1:3479",
		varTCPListen:     "[2001:db8::1]:3478",
		varRelayIPs:      "10.0.0.5",
		varExternalIPs:   "203.0.113.5",
		varMetricsListen: "0.0.0.0:9464",
		varPeerAllow:     "10.1.0.0/16",
		varPeerDeny:      "8.8.8.8",
		varPortRange:     "50000-50100",
	})
	if err != nil {
		t.Fatal(err)
	}
	p := c.PeerPolicy()
	wantOwn := []netip.Addr{ip("198.51.100.1"), ip("2001:db8::1"), ip("10.0.0.5"), ip("203.0.113.5")}
	if !slices.Equal(p.OwnAddrs, wantOwn) {
		t.Errorf("OwnAddrs %v, want %v", p.OwnAddrs, wantOwn)
	}
	if p.RelayPorts.Min != 50000 || p.RelayPorts.Max != 50100 {
		t.Errorf("RelayPorts %+v", p.RelayPorts)
	}
	if !slices.Equal(p.Allow, c.PeerAllow) || !slices.Equal(p.Deny, c.PeerDeny) {
		t.Errorf("Allow %v Deny %v", p.Allow, p.Deny)
	}
	p.Allow[0] = pfx("0.0.0.0/0")
	if c.PeerAllow[0] != pfx("10.1.0.0/16") {
		t.Error("PeerPolicy shares its slices with the Config")
	}
	if _, err := peerpolicy.New(p); err != nil {
		t.Errorf("peerpolicy.New: %v", err)
	}
}
