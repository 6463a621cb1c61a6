package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of the long-term credential mechanism (RFC 8489 §9.2, §6.3)
// as the relay applies it to TURN requests (RFC 8656 §5).

// requireChallenge checks a 401/438 challenge: REALM, a fresh NONCE with
// the RFC 8489 §9.2 cookie, and none of USERNAME, integrity (RFC 8489
// §9.2.4 steps 1 and 4–6) or SOFTWARE (an unauthenticated answer). It
// returns the nonce.
func requireChallenge(t testing.TB, m *stunmsg.Message, code int) []byte {
	t.Helper()
	requireCode(t, m, code)
	requireNoSoftware(t, m)
	if realm, ok := m.Get(stunmsg.AttrRealm); !ok || string(realm) != testRealm {
		t.Fatalf("challenge REALM %q (present %v), want %q", realm, ok, testRealm)
	}
	nonce, ok := m.Get(stunmsg.AttrNonce)
	if !ok {
		t.Fatal("challenge without NONCE")
	}
	if !strings.HasPrefix(string(nonce), "obMatJos2") || len(nonce) < 13 || len(nonce) >= 128 {
		t.Fatalf("NONCE %q does not start with the RFC 8489 §9.2 cookie", nonce)
	}
	if m.Contains(stunmsg.AttrUsername) || m.IntegrityAt >= 0 || m.IntegritySHA256At >= 0 {
		t.Fatal("challenge carries USERNAME or integrity (RFC 8489 §9.2.4 SHOULD NOT)")
	}
	return append([]byte(nil), nonce...)
}

// TestConformanceAuthChallenge: every TURN request without integrity gets a
// 401 with REALM and NONCE, before any other check — even 437 (RFC 8489
// §9.2.4 step 1; RFC 8656 §5, §7.2 step 1).
func TestConformanceAuthChallenge(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	peer := newUDPPeer(t, "udp4").addr()
	for _, tc := range []struct {
		method stunmsg.Method
		attrs  msgBuilder
	}{
		{stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) }},
		{stunmsg.Refresh, nil},
		{stunmsg.CreatePermission, func(b *stunmsg.Builder) { b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer) }},
		{stunmsg.ChannelBind, func(b *stunmsg.Builder) {
			b.AddChannelNumber(0x4000)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		}},
	} {
		t.Run(tc.method.String(), func(t *testing.T) {
			c.t = t
			m := c.roundTrip(c.build(tc.method, stunmsg.Request, newTxID(), false, tc.attrs))
			requireChallenge(t, m, 401)
		})
	}
}

// TestConformanceAuthMissingAttributes: integrity present but USERNAME,
// REALM or NONCE missing is a 400 that carries no integrity and no
// challenge (RFC 8489 §9.2.4 step 2).
func TestConformanceAuthMissingAttributes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate() // learns a nonce
	for _, missing := range []uint16{stunmsg.AttrUsername, stunmsg.AttrRealm, stunmsg.AttrNonce} {
		t.Run(attrName(missing), func(t *testing.T) {
			c.t = t
			req := c.build(stunmsg.Refresh, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
				if missing != stunmsg.AttrUsername {
					b.Add(stunmsg.AttrUsername, []byte(c.username))
				}
				if missing != stunmsg.AttrRealm {
					b.Add(stunmsg.AttrRealm, []byte(testRealm))
				}
				if missing != stunmsg.AttrNonce {
					b.Add(stunmsg.AttrNonce, c.nonce)
				}
				b.AddIntegrity(c.key[:])
			})
			m := c.roundTrip(req)
			requireCode(t, m, 400)
			requireNoSoftware(t, m)
			for _, a := range []uint16{stunmsg.AttrUsername, stunmsg.AttrRealm, stunmsg.AttrNonce} {
				if m.Contains(a) {
					t.Fatalf("400 carries %s (RFC 8489 §9.2.4 SHOULD NOT)", attrName(a))
				}
			}
			if m.IntegrityAt >= 0 || m.IntegritySHA256At >= 0 {
				t.Fatal("400 for missing credentials carries integrity")
			}
		})
	}
}

func attrName(t uint16) string {
	switch t {
	case stunmsg.AttrUsername:
		return "USERNAME"
	case stunmsg.AttrRealm:
		return "REALM"
	case stunmsg.AttrNonce:
		return "NONCE"
	}
	return "attribute"
}

// TestConformanceAuthRefusals: credentials that do not verify are answered
// with a fresh 401 challenge, a nonce we did not mint with 438
// (RFC 8489 §9.2.4 steps 4–6).
func TestConformanceAuthRefusals(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	restUser, restPass := restCredentials("raw")
	expiredUser, expiredPass := auth.MintREST(testSecret, "raw", time.Hour, time.Now().Add(-2*time.Hour))
	otherSecretUser, otherSecretPass := auth.MintREST([]byte("some-other-secret"), "raw", time.Hour, time.Now())
	cases := []struct {
		name, username, realm, password string
		forgeNonce                      bool
		code                            int
	}{
		{"wrong password", restUser, testRealm, "not-the-password", false, 401},
		{"unknown user", "mallory", testRealm, "whatever", false, 401},
		{"expired REST username", expiredUser, testRealm, expiredPass, false, 401},
		{"REST password from another secret", otherSecretUser, testRealm, otherSecretPass, false, 401},
		{"REST username with a realm not ours", restUser, "elsewhere.test", restPass, false, 401},
		{"static user, wrong password", "static", testRealm, "guess", false, 401},
		{"valid key, forged nonce", restUser, testRealm, restPass, true, 438},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, srv.udp, "udp4")
			first := c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil))
			nonce := requireChallenge(t, first, 401)
			if tc.forgeNonce {
				nonce = []byte("obMatJos2AAAA" + strings.Repeat("A", 32))
			}
			key := auth.LongTermKey(tc.username, tc.realm, tc.password)
			req := c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
				b.AddRequestedTransport(stunmsg.ProtoUDP)
				b.Add(stunmsg.AttrUsername, []byte(tc.username))
				b.Add(stunmsg.AttrRealm, []byte(tc.realm))
				b.Add(stunmsg.AttrNonce, nonce)
				b.AddIntegrity(key[:])
			})
			requireChallenge(t, c.roundTrip(req), tc.code)
			if srv.ActiveAllocations() != 0 {
				t.Fatal("a refused request created an allocation")
			}
		})
	}
}

// TestConformanceAuthStaleNonce: after the nonce lifetime the relay answers
// 438 with a new NONCE, and the new nonce works (RFC 8489 §9.2.4 step 6;
// RFC 8656 §5: nonces expire).
func TestConformanceAuthStaleNonce(t *testing.T) {
	t.Parallel()
	clock := monotest.New(time.Now())
	srv := newTestServer(t, withClock(clock))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	old := append([]byte(nil), c.nonce...)
	// The relay's own nonces live 10 minutes of wall-clock time; the
	// allocation (monotonic) is not what this test is about.
	clock.SetWall(clock.Wall().Add(11 * time.Minute))
	m := c.authedTx(stunmsg.Refresh, newTxID(), nil)
	fresh := requireChallenge(t, m, 438)
	if string(fresh) == string(old) {
		t.Fatal("438 repeats the stale nonce")
	}
	c.nonce = fresh
	m = c.authedTx(stunmsg.Refresh, newTxID(), nil)
	requireCode(t, m, 0)
	requireIntegrity(t, m, c.key)
}

// TestConformanceAuthNonceBoundToClient: a nonce minted for one client
// transport address is not accepted from another (RFC 8489 §9.2.4:
// a nonce must not be reused for another IP and port).
func TestConformanceAuthNonceBoundToClient(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	a := newRawClient(t, srv.udp, "udp4")
	a.allocate()
	b := newRawClient(t, srv.udp, "udp4")
	b.nonce = append([]byte(nil), a.nonce...)
	m := b.authedTx(stunmsg.Allocate, newTxID(), func(bd *stunmsg.Builder) { bd.AddRequestedTransport(stunmsg.ProtoUDP) })
	requireChallenge(t, m, 438)
	if srv.ActiveAllocations() != 1 {
		t.Fatalf("%d allocations, want only the first client's", srv.ActiveAllocations())
	}
}

// TestConformanceAuthResponseIntegrity: success and error responses to
// authenticated requests carry MESSAGE-INTEGRITY under the user's key, with
// FINGERPRINT after it when the request had one (RFC 8489 §9.2.4, §14.5,
// §14.7).
func TestConformanceAuthResponseIntegrity(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.allocateWith(nil)
	requireCode(t, m, 0)
	requireIntegrity(t, m, c.key)
	for _, tc := range []struct {
		name   string
		method stunmsg.Method
		attrs  msgBuilder
		code   int
	}{
		{"437 second Allocate", stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) }, 437},
		{"400 CreatePermission without peer", stunmsg.CreatePermission, nil, 400},
		{"success Refresh", stunmsg.Refresh, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			m := c.authedTx(tc.method, newTxID(), tc.attrs)
			requireCode(t, m, tc.code)
			requireSoftware(t, m)
			requireIntegrity(t, m, c.key)
		})
	}
	t.Run("with FINGERPRINT", func(t *testing.T) {
		c.t = t
		var b stunmsg.Builder
		b.Reset(make([]byte, 0, 512), stunmsg.MessageType(stunmsg.Refresh, stunmsg.Request), newTxID())
		b.Add(stunmsg.AttrUsername, []byte(c.username))
		b.Add(stunmsg.AttrRealm, []byte(testRealm))
		b.Add(stunmsg.AttrNonce, c.nonce)
		b.AddIntegrity(c.key[:])
		b.AddFingerprint()
		req, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m := c.roundTrip(req)
		requireCode(t, m, 0)
		requireIntegrity(t, m, c.key)
		if m.FingerprintAt < 0 || m.FingerprintAt < m.IntegrityAt {
			t.Fatal("FINGERPRINT missing or not after MESSAGE-INTEGRITY")
		}
	})
}

// TestConformanceAuthBeforeUnknownAttributes: authentication runs before the
// unknown-attribute check, so an unauthenticated Allocate with an unknown
// comprehension-required attribute gets 401 and an authenticated one 420
// with UNKNOWN-ATTRIBUTES and integrity (RFC 8489 §6.3, §6.3.1.1).
func TestConformanceAuthBeforeUnknownAttributes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	withUnknown := func(b *stunmsg.Builder) {
		b.AddRequestedTransport(stunmsg.ProtoUDP)
		b.Add(0x7777, []byte("unknown"))
	}
	m := c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, withUnknown))
	c.learnNonce(m)
	requireChallenge(t, m, 401)
	m = c.authedTx(stunmsg.Allocate, newTxID(), withUnknown)
	requireCode(t, m, 420)
	requireIntegrity(t, m, c.key)
	v, _ := m.Get(stunmsg.AttrUnknownAttributes)
	if listed, ok := stunmsg.DecodeUnknownAttributes(v, nil); !ok || len(listed) != 1 || listed[0] != 0x7777 {
		t.Fatalf("UNKNOWN-ATTRIBUTES %#04x, want [0x7777]", listed)
	}
	if srv.ActiveAllocations() != 0 {
		t.Fatal("an Allocate answered 420 created an allocation")
	}
}

// TestConformanceAuthSHA256: a request protected with
// MESSAGE-INTEGRITY-SHA256 is accepted and answered with
// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9.2.4, §14.6), and a wrong one is
// refused.
func TestConformanceAuthSHA256(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil))
	c.learnNonce(&c.resp)
	build := func(key auth.Key) []byte {
		var b stunmsg.Builder
		b.Reset(make([]byte, 0, 512), stunmsg.MessageType(stunmsg.Allocate, stunmsg.Request), newTxID())
		b.AddRequestedTransport(stunmsg.ProtoUDP)
		b.Add(stunmsg.AttrUsername, []byte(c.username))
		b.Add(stunmsg.AttrRealm, []byte(testRealm))
		b.Add(stunmsg.AttrNonce, c.nonce)
		b.AddIntegritySHA256(key[:])
		out, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	requireChallenge(t, c.roundTrip(build(auth.LongTermKey(c.username, testRealm, "wrong"))), 401)
	m := c.roundTrip(build(c.key))
	requireCode(t, m, 0)
	if m.IntegrityAt >= 0 {
		t.Fatal("response to a MESSAGE-INTEGRITY-SHA256 request carries MESSAGE-INTEGRITY")
	}
	if m.IntegritySHA256At < 0 || !m.CheckIntegritySHA256(c.key[:]) {
		t.Fatal("response has no valid MESSAGE-INTEGRITY-SHA256")
	}
}

// TestConformanceAuthStaticUser: a configured static user authenticates
// with its password (RFC 8489 §9.2.2 long-term key).
func TestConformanceAuthStaticUser(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.username = "static"
	c.key = auth.LongTermKey("static", testRealm, "static-password")
	relayed := c.allocate()
	if !relayed.IsValid() {
		t.Fatal("no relayed address")
	}
	requireIntegrity(t, &c.resp, c.key)
}

// TestConformanceAuthBothIntegrityAttributes: when a request carries both
// MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256, RFC 8489 §9.2.4 says the
// server computes MESSAGE-INTEGRITY-SHA256 ("If the MESSAGE-INTEGRITY-SHA256
// attribute is present, compute the value ... as described in Section
// 14.6 ... Otherwise ... Section 14.5") and MUST answer 401 when it does not
// match (step 5). A valid SHA-1 MAC must not let a forged SHA-256 one through,
// and a valid SHA-256 MAC authenticates the request.
func TestConformanceAuthBothIntegrityAttributes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, tc := range []struct {
		name        string
		validSHA1   bool
		validSHA256 bool
		code        int
	}{
		{"valid MESSAGE-INTEGRITY, forged MESSAGE-INTEGRITY-SHA256", true, false, 401},
		{"forged MESSAGE-INTEGRITY, valid MESSAGE-INTEGRITY-SHA256", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, srv.udp, "udp4")
			c.learnNonce(c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil)))
			var b stunmsg.Builder
			b.Reset(make([]byte, 0, 512), stunmsg.MessageType(stunmsg.Allocate, stunmsg.Request), newTxID())
			b.AddRequestedTransport(stunmsg.ProtoUDP)
			b.Add(stunmsg.AttrUsername, []byte(c.username))
			b.Add(stunmsg.AttrRealm, []byte(testRealm))
			b.Add(stunmsg.AttrNonce, c.nonce)
			if tc.validSHA1 {
				b.AddIntegrity(c.key[:])
			} else {
				b.Add(stunmsg.AttrMessageIntegrity, make([]byte, 20))
			}
			if tc.validSHA256 {
				b.AddIntegritySHA256(c.key[:])
			} else {
				b.Add(stunmsg.AttrMessageIntegritySHA256, make([]byte, 32))
			}
			req, err := b.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			requireCode(t, c.roundTrip(req), tc.code)
		})
	}
}
