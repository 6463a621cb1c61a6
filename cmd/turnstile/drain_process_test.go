package main

import (
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v2"

	"github.com/turnstile-relay/turnstile/auth"
)

// requestedTransportUDP is REQUESTED-TRANSPORT for UDP (RFC 8656 §18.7:
// protocol 17, then three RFFU bytes).
type requestedTransportUDP struct{}

func (requestedTransportUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

// rawAllocate sends an Allocate from a fresh loopback socket, answers the
// 401 challenge with long-term credentials (RFC 8489 §9.2), and returns the
// response to the authenticated request.
func rawAllocate(t *testing.T, server netip.AddrPort, username, password string) *stun.Message {
	t.Helper()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(setters ...stun.Setter) *stun.Message {
		t.Helper()
		all := append([]stun.Setter{stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransportUDP{}}, setters...)
		req := stun.MustBuild(append(all, stun.Fingerprint)...)
		buf := make([]byte, 1500)
		for attempt := 0; attempt < 5; attempt++ {
			if _, err := conn.Write(req.Raw); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := conn.Read(buf)
			if err != nil {
				continue
			}
			resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if err := resp.Decode(); err != nil {
				t.Fatalf("decoding the response: %v", err)
			}
			if resp.TransactionID != req.TransactionID {
				continue
			}
			return resp
		}
		t.Fatal("no answer to Allocate")
		return nil
	}
	challenge := exchange()
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(challenge); err != nil || code.Code != stun.CodeUnauthorized {
		t.Fatalf("unauthenticated Allocate: %v %v, want a 401 challenge", code, err)
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if err := realm.GetFrom(challenge); err != nil {
		t.Fatal(err)
	}
	if err := nonce.GetFrom(challenge); err != nil {
		t.Fatal(err)
	}
	return exchange(stun.NewUsername(username), realm, nonce,
		stun.NewLongTermIntegrity(username, realm.String(), password))
}

// TestDrainOnSIGTERM: on SIGTERM /readyz turns 503 at once, the existing
// allocation keeps relaying, a new Allocate is refused (403, or 300 with
// ALTERNATE-SERVER when alternates are configured, integrity-protected as
// RFC 8489 §10 requires), and the process exits 0 when the drain timeout
// passes with the allocation still live.
func TestDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	const drainTimeout = 2 * time.Second
	alternate := netip.MustParseAddrPort("127.0.0.2:3478")
	for _, tc := range []struct {
		name       string
		alternates string
		wantCode   int
	}{
		{"refuses with 403", "", 403},
		{"redirects with 300 Try Alternate", "[::1]:3478," + alternate.String(), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{
				"TURNSTILE_AUTH_SECRETS":  testSecret,
				"TURNSTILE_PEER_ALLOW":    "127.0.0.0/8",
				"TURNSTILE_DRAIN_TIMEOUT": drainTimeout.String(),
			}
			if tc.alternates != "" {
				extra["TURNSTILE_ALTERNATE_SERVERS"] = tc.alternates
			}
			p := startDaemon(t, extra)
			username, password := auth.MintREST([]byte(testSecret), "drain", time.Hour, time.Now())
			relayConn, err := pionClient(t, p.udp, username, password).Allocate()
			if err != nil {
				t.Fatalf("allocate before the drain: %v", err)
			}
			peer := echoPeer(t)
			roundTrips(t, relayConn, peer, 3, 64)
			if code, _ := get(t, p.metricsURL+"/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz %d before SIGTERM, want 200", code)
			}

			sentAt := time.Now()
			p.signal(t, syscall.SIGTERM)
			for {
				code, _ := get(t, p.metricsURL+"/readyz")
				if code == http.StatusServiceUnavailable {
					break
				}
				if code != http.StatusOK || time.Since(sentAt) > time.Second {
					t.Fatalf("/readyz %d %v after SIGTERM, want 503 at once", code, time.Since(sentAt))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if code, _ := get(t, p.metricsURL+"/healthz"); code != http.StatusOK {
				t.Fatalf("/healthz %d while draining, want 200 (the process is alive)", code)
			}
			if v := sample(t, p.scrape(t), "turnstile_draining", ""); v != 1 {
				t.Fatalf("turnstile_draining %g while draining, want 1", v)
			}

			// The existing allocation keeps relaying.
			roundTrips(t, relayConn, peer, 10, 64)

			// A new one is refused.
			resp := rawAllocate(t, p.udp, username, password)
			var code stun.ErrorCodeAttribute
			if resp.Type.Class != stun.ClassErrorResponse || code.GetFrom(resp) != nil || int(code.Code) != tc.wantCode {
				t.Fatalf("Allocate while draining: %v %v, want error %d", resp.Type, code, tc.wantCode)
			}
			if err := stun.NewLongTermIntegrity(username, testRealm, password).Check(resp); err != nil {
				t.Fatalf("refusal of an authenticated Allocate is not integrity-protected: %v", err)
			}
			var alt stun.AlternateServer
			altErr := alt.GetFrom(resp)
			if tc.wantCode == 300 {
				got, _ := netip.AddrFromSlice(alt.IP)
				if altErr != nil || netip.AddrPortFrom(got.Unmap(), uint16(alt.Port)) != alternate {
					t.Fatalf("ALTERNATE-SERVER %v (%v), want %v (the IPv4 alternate for an IPv4 client)", alt, altErr, alternate)
				}
			} else if altErr == nil {
				t.Fatalf("403 carries ALTERNATE-SERVER %v", alt)
			}

			// The allocation is still live, so the process waits for the
			// drain timeout, then exits 0.
			if exit := p.wait(t, drainTimeout+5*time.Second); exit != 0 {
				t.Fatalf("exit code %d after the drain, want 0", exit)
			}
			if took := p.exitedAt.Sub(sentAt); took < drainTimeout-100*time.Millisecond {
				t.Fatalf("exited %v after SIGTERM with an allocation live, before the %v drain timeout", took, drainTimeout)
			}
			line := p.waitLog(t, "drain timeout reached", 0)
			if line["allocations"] != 1.0 {
				t.Fatalf("drain timeout line reports %v allocations, want 1", line["allocations"])
			}
			p.waitLog(t, "stopped", 0)
		})
	}
}

// TestSecondSignalStopsAtOnce: a second SIGTERM/SIGINT during a long drain
// ends the process at once, with exit code 0.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	p := startDaemon(t, map[string]string{
		"TURNSTILE_AUTH_SECRETS":  testSecret,
		"TURNSTILE_DRAIN_TIMEOUT": "1m",
	})
	username, password := auth.MintREST([]byte(testSecret), "second", time.Hour, time.Now())
	if _, err := pionClient(t, p.udp, username, password).Allocate(); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, "draining", 5*time.Second)
	sentAt := time.Now()
	p.signal(t, syscall.SIGINT)
	if exit := p.wait(t, 5*time.Second); exit != 0 {
		t.Fatalf("exit code %d, want 0", exit)
	}
	if took := p.exitedAt.Sub(sentAt); took > 3*time.Second {
		t.Fatalf("second signal took %v to stop the process", took)
	}
	p.waitLog(t, "second signal: stopping now", 0)
	ended := p.waitLog(t, "allocation ended", 0)
	if ended["reason"] != "closed" {
		t.Fatalf("the live allocation ended with reason %v, want closed", ended["reason"])
	}
}
