package relay

import (
	"bytes"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/relay/stunmsg"
)

// coturn 4.6's turnutils_uclient -Z asks for a dual allocation with the
// codepoints of the draft that became RFC 8656 — ADDITIONAL-ADDRESS-FAMILY
// as 0x8032 (RFC 8656 §18.11 assigns 0x8000), ADDRESS-ERROR-CODE as 0x8033
// (0x8001) — as a capture of its Allocate shows:
//
//	0x0019 REQUESTED-TRANSPORT, 0x000D LIFETIME, 0x0018 EVEN-PORT (R=0),
//	0x8032 02000000, 0x8028 FINGERPRINT
//
// Our relay is strict: 0x8032 is an unknown comprehension-optional
// attribute, ignored (RFC 8489 §14), so uclient gets an IPv4-only
// allocation. uclient then sends a test Refresh naming a random family, and
// when it names IPv6 the relay rightly answers 443 and uclient gives up.
// TestUclientDraftDualAllocationIsIgnored pins that behaviour down;
// TestUclientDualAllocation runs uclient through draftCodepointProxy, which
// renames the draft attribute to RFC 8656's and re-signs the request with
// the test credentials, so uclient's dual allocations are real and its runs
// must be lossless.
const draftAdditionalAddressFamily = 0x8032

// TestUclientDualAllocation: turnutils_uclient -Z (through
// draftCodepointProxy) gets dual allocations — every allocation has an IPv4
// and an IPv6 relayed address, every Refresh naming either family succeeds
// — and relays between two clients without loss, over channels and with
// Send indications. uclient uses the IPv4 relayed addresses as peers.
func TestUclientDualAllocation(t *testing.T) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"channels", []string{"-Z"}},
		{"Send indications", []string{"-Z", "-s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
			proxy := newDraftCodepointProxy(t, srv.udp)
			runUclient(t, uclient, proxy.Port(), tc.flags...)
			allocs := createdAllocations(srv)
			if len(allocs) < 2 {
				t.Fatalf("uclient made %d allocations, want at least 2", len(allocs))
			}
			for _, a := range allocs {
				if !a.Relayed4.IsValid() || !a.Relayed6.IsValid() {
					t.Fatalf("allocation relayed on %v / %v, want both families", a.Relayed4, a.Relayed6)
				}
			}
			if n := srv.Stats().Requests["refresh"]["443"]; n != 0 {
				t.Fatalf("%d of uclient's Refresh requests were refused with 443", n)
			}
		})
	}
}

// TestUclientDraftDualAllocationIsIgnored: without translation, uclient -Z's
// draft attribute is ignored and every allocation is IPv4-only; the relay
// answers uclient's Refresh requests naming IPv6 with 443 (uclient picks
// the family at random, so the run may or may not stop early).
func TestUclientDraftDualAllocationIsIgnored(t *testing.T) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
	user, pass := restCredentials("uclient")
	out, _ := exec.Command(uclient, "-y", "-Z", "-u", user, "-w", pass, "-p", strconv.Itoa(int(srv.udp.Port())),
		"-n", "5", "-m", "2", "-z", "5", "127.0.0.1").CombinedOutput()
	allocs := createdAllocations(srv)
	if len(allocs) == 0 {
		t.Fatalf("uclient made no allocation:\n%s", out)
	}
	for _, a := range allocs {
		if !a.Relayed4.IsValid() || a.Relayed6.IsValid() {
			t.Fatalf("allocation relayed on %v / %v, want IPv4 only", a.Relayed4, a.Relayed6)
		}
	}
	// uclient does not always read its test Refresh's answer, so a 443 it
	// reports must have come from the relay, not the other way round.
	if bytes.Contains(out, []byte("error 443")) && srv.Stats().Requests["refresh"]["443"] == 0 {
		t.Fatalf("uclient reports a 443 the relay did not send:\n%s", out)
	}
}

// draftCodepointProxy is a UDP proxy between uclient and the relay: a small
// NAT with one upstream socket per uclient socket, so each uclient 5-tuple
// maps to one relay 5-tuple. It forwards everything unchanged except
// Allocate requests carrying the draft ADDITIONAL-ADDRESS-FAMILY, which it
// rewrites to RFC 8656's codepoint and re-signs (MESSAGE-INTEGRITY with the
// test credentials' key, FINGERPRINT) so the relay accepts them.
type draftCodepointProxy struct {
	t        testing.TB
	listener *net.UDPConn
	relay    netip.AddrPort
	key      auth.Key
	mu       sync.Mutex
	upstream map[netip.AddrPort]*net.UDPConn
}

func newDraftCodepointProxy(t testing.TB, relay netip.AddrPort) *draftCodepointProxy {
	t.Helper()
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	user, pass := restCredentials("uclient")
	p := &draftCodepointProxy{t: t, listener: l, relay: relay, key: auth.LongTermKey(user, testRealm, pass),
		upstream: make(map[netip.AddrPort]*net.UDPConn)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.upstream {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := l.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			up := p.upstreamFor(from, &wg)
			if up == nil {
				return
			}
			up.Write(p.translate(buf[:n]))
		}
	}()
	return p
}

// Port is the proxy's port on 127.0.0.1 (runUclient's server address).
func (p *draftCodepointProxy) Port() uint16 {
	return p.listener.LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

// upstreamFor returns the relay-side socket of a uclient socket, starting
// the goroutine that copies the relay's datagrams back to it.
func (p *draftCodepointProxy) upstreamFor(client netip.AddrPort, wg *sync.WaitGroup) *net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.upstream[client]; ok {
		return c
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(p.relay))
	if err != nil {
		p.t.Errorf("proxy: %v", err)
		return nil
	}
	p.upstream[client] = c
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			p.listener.WriteToUDPAddrPort(buf[:n], client)
		}
	}()
	return c
}

// translate returns msg, or for an Allocate request with the draft
// attribute a re-encoded copy with RFC 8656's codepoint. Attributes keep
// their order; MESSAGE-INTEGRITY and FINGERPRINT are recomputed when msg
// had them.
func (p *draftCodepointProxy) translate(msg []byte) []byte {
	var m stunmsg.Message
	if stunmsg.Classify(msg) != stunmsg.KindSTUN || m.Parse(msg) != nil ||
		m.Method != stunmsg.Allocate || m.Class != stunmsg.Request || !m.Contains(draftAdditionalAddressFamily) {
		return msg
	}
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, len(msg)+64), m.Type, m.TransactionID)
	for _, a := range m.Attrs() {
		switch a.Type {
		case stunmsg.AttrMessageIntegrity, stunmsg.AttrFingerprint:
			continue
		case draftAdditionalAddressFamily:
			b.Add(stunmsg.AttrAdditionalAddressFamily, m.Value(a))
		default:
			b.Add(a.Type, m.Value(a))
		}
	}
	if m.IntegrityAt >= 0 {
		b.AddIntegrity(p.key[:])
	}
	if m.FingerprintAt >= 0 {
		b.AddFingerprint()
	}
	out, err := b.Bytes()
	if err != nil {
		p.t.Errorf("proxy: re-encoding an Allocate: %v", err)
		return msg
	}
	return out
}
