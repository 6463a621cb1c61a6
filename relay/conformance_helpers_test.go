package relay

import (
	"encoding/binary"
	"hash/crc32"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// This file holds the shared pieces of the conformance tests
// (conformance_*_test.go): server options, hand-made wire encodings for
// malformed input, response checks and drop-counter reads. Every
// conformance test talks to a running relay over real loopback sockets and
// never sends to any other address.

// testSoftware is the SOFTWARE value of test servers (harness_test.go).
const testSoftware = "turnstile-test"

// withUDP6Listener adds a client-facing UDP listener on [::1].
func withUDP6Listener(c *Config) {
	c.UDPListen = append(c.UDPListen, netip.MustParseAddrPort("[::1]:0"))
}

// withRelayIPs replaces the relay addresses (e.g. IPv4 only, to see 440).
func withRelayIPs(ips ...string) serverOption {
	return func(c *Config) {
		c.RelayIPs = nil
		for _, ip := range ips {
			c.RelayIPs = append(c.RelayIPs, netip.MustParseAddr(ip))
		}
	}
}

// withAllocationConfig lets a test change the allocation table's limits.
func withAllocationConfig(change func(*allocation.Config)) serverOption {
	return func(c *Config) { change(&c.Allocation) }
}

// withPeerFilter replaces the default policy's peer filter, keeping its
// credentials.
func withPeerFilter(f *peerpolicy.Filter) serverOption {
	return func(c *Config) {
		p := *c.Policy.(*DefaultPolicy)
		p.Peers = f
		c.Policy = &p
	}
}

// mustFilter builds a peer filter or fails the test.
func mustFilter(t testing.TB, cfg peerpolicy.Config) *peerpolicy.Filter {
	t.Helper()
	f, err := peerpolicy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withClock gives the relay a fake clock the test moves by hand: lifetimes,
// nonces and REST expiries pass without sleeping, and the relay's expiry
// timer runs inside clock.Advance.
func withClock(clock *monotest.Clock) serverOption {
	return func(c *Config) { c.Clock = clock }
}

// newClockedServer is newTestServer on a fake clock set to the current
// wall-clock time (so REST credentials minted now are valid).
func newClockedServer(t testing.TB, opts ...serverOption) (*testServer, *monotest.Clock) {
	t.Helper()
	clock := monotest.New(time.Now())
	return newTestServer(t, append(opts, withClock(clock))...), clock
}

// dropTotal sums one drop counter over every packet loop and the stream
// connections.
func dropTotal(srv *testServer, d Drop) uint64 {
	n := srv.streamCounters.drops[d].Load()
	for _, w := range srv.workers {
		n += w.c.drops[d].Load()
	}
	return n
}

// dropSnapshot remembers drop counters so a test can assert on the
// difference its own traffic made.
type dropSnapshot [dropCount]uint64

func takeDrops(srv *testServer) (s dropSnapshot) {
	for d := Drop(0); d < dropCount; d++ {
		s[d] = dropTotal(srv, d)
	}
	return s
}

// requireDropped fails unless counter d grew by at least want since s.
func (s *dropSnapshot) requireDropped(t testing.TB, srv *testServer, d Drop, want uint64) {
	t.Helper()
	if got := dropTotal(srv, d) - s[d]; got < want {
		t.Fatalf("drop counter %s grew by %d, want at least %d", d, got, want)
	}
}

// requireDroppedAny fails unless one of the counters in ds grew since s:
// for input whose drop reason depends on a conformant design choice.
func (s *dropSnapshot) requireDroppedAny(t testing.TB, srv *testServer, ds ...Drop) {
	t.Helper()
	for _, d := range ds {
		if dropTotal(srv, d) > s[d] {
			return
		}
	}
	t.Fatalf("none of the drop counters %v grew", ds)
}

// confirmNothingElse proves the relay stayed silent about everything c sent
// before, and still works: it sends a Binding request and requires that the
// first datagram to come back is its success response. A client's datagrams
// reach one packet loop (SO_REUSEPORT hashes the 4-tuple) and are handled in
// order, so any answer to earlier input would arrive first.
func (c *rawClient) confirmNothingElse() {
	c.t.Helper()
	txid := newTxID()
	c.sendRaw(c.build(stunmsg.Binding, stunmsg.Request, txid, false, nil))
	b := c.recvRaw(3 * time.Second)
	if b == nil {
		c.t.Fatal("relay no longer answers a Binding request")
	}
	var m stunmsg.Message
	if err := m.Parse(b); err != nil || m.TransactionID != txid || m.Class != stunmsg.Success {
		c.t.Fatalf("expected only the Binding response, got %d bytes first: % x", len(b), b[:min(len(b), 32)])
	}
}

// authedTx sends one authenticated request with a chosen transaction ID, so
// the test can encode XOR attributes by hand; the client must already hold
// a nonce (after allocate or any request).
func (c *rawClient) authedTx(method stunmsg.Method, txid [12]byte, attrs msgBuilder) *stunmsg.Message {
	c.t.Helper()
	if c.nonce == nil {
		c.t.Fatal("authedTx needs a nonce; make a request first")
	}
	return c.roundTrip(c.build(method, stunmsg.Request, txid, true, attrs))
}

// allocateWith runs an authenticated Allocate carrying REQUESTED-TRANSPORT
// UDP and the attributes attrs adds, and returns the response.
func (c *rawClient) allocateWith(attrs msgBuilder) *stunmsg.Message {
	c.t.Helper()
	return c.request(stunmsg.Allocate, func(b *stunmsg.Builder) {
		b.AddRequestedTransport(stunmsg.ProtoUDP)
		if attrs != nil {
			attrs(b)
		}
	})
}

// sendIndication sends a Send indication to peer with data and extra
// attributes.
func (c *rawClient) sendIndication(peer netip.AddrPort, data []byte, extra msgBuilder) {
	c.t.Helper()
	c.sendRaw(c.build(stunmsg.Send, stunmsg.Indication, newTxID(), false, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		if data != nil {
			b.Add(stunmsg.AttrData, data)
		}
		if extra != nil {
			extra(b)
		}
	}))
}

// fiveTuple is the client's UDP 5-tuple at srv.
func (c *rawClient) fiveTuple() allocation.FiveTuple {
	return allocation.FiveTuple{Client: c.addr(), Server: c.server, Transport: allocation.TransportUDP}
}

// lookupAllocation returns the allocation of c's 5-tuple, or nil.
func lookupAllocation(srv *testServer, ft allocation.FiveTuple) *allocation.Allocation {
	return srv.table.Lookup(ft, srv.clock.Now())
}

// withUser switches the client to another REST user's credentials (same
// socket, so same 5-tuple and nonce).
func (c *rawClient) withUser(user string) {
	name, pass := restCredentials(user)
	c.username = name
	c.key = auth.LongTermKey(name, testRealm, pass)
}

// requireCode fails unless m is the response with the given code (0 for
// success).
func requireCode(t testing.TB, m *stunmsg.Message, want int) {
	t.Helper()
	if got := errorCode(m); got != want {
		t.Fatalf("%s response: code %d, want %d", m.Method, got, want)
	}
}

// requireSoftware checks SOFTWARE in an answer to an authenticated request
// (RFC 8489 §14.14, RFC 8656 §5: SHOULD be in every Allocate and Refresh
// response, success or error).
func requireSoftware(t testing.TB, m *stunmsg.Message) {
	t.Helper()
	v, ok := m.Get(stunmsg.AttrSoftware)
	if !ok || string(v) != testSoftware {
		t.Fatalf("SOFTWARE = %q (present %v), want %q", v, ok, testSoftware)
	}
}

// requireNoSoftware checks that an answer to an unauthenticated request
// (Binding, 400, 401, 420, 438) goes without SOFTWARE: it may go to a spoofed
// source, and the attribute would add to what it reflects
// (docs/protocol.md, "Unauthenticated answers").
func requireNoSoftware(t testing.TB, m *stunmsg.Message) {
	t.Helper()
	if v, ok := m.Get(stunmsg.AttrSoftware); ok {
		t.Fatalf("unauthenticated %s answer carries SOFTWARE %q", m.Method, v)
	}
}

// requireIntegrity checks the response's MESSAGE-INTEGRITY under key
// (RFC 8489 §9.2.4: responses to authenticated requests are protected).
func requireIntegrity(t testing.TB, m *stunmsg.Message, key auth.Key) {
	t.Helper()
	if m.IntegrityAt < 0 {
		t.Fatal("response has no MESSAGE-INTEGRITY")
	}
	if !m.CheckIntegrity(key[:]) {
		t.Fatal("response MESSAGE-INTEGRITY does not verify under the user's key")
	}
}

// xorAddr decodes the first XOR address attribute of type typ.
func xorAddr(t testing.TB, m *stunmsg.Message, typ uint16) netip.AddrPort {
	t.Helper()
	v, ok := m.Get(typ)
	if !ok {
		t.Fatalf("%s response without attribute %#04x", m.Method, typ)
	}
	ap, err := stunmsg.DecodeXORAddress(v, m.TransactionID)
	if err != nil {
		t.Fatalf("attribute %#04x: %v", typ, err)
	}
	return ap
}

// allXORAddrs decodes every XOR address attribute of type typ, in order.
func allXORAddrs(t testing.TB, m *stunmsg.Message, typ uint16) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	for v := range m.All(typ) {
		ap, err := stunmsg.DecodeXORAddress(v, m.TransactionID)
		if err != nil {
			t.Fatalf("attribute %#04x: %v", typ, err)
		}
		out = append(out, ap)
	}
	return out
}

// lifetimeOf returns the LIFETIME of a response in seconds.
func lifetimeOf(t testing.TB, m *stunmsg.Message) uint32 {
	t.Helper()
	v, ok := m.Get(stunmsg.AttrLifetime)
	if !ok {
		t.Fatal("response without LIFETIME")
	}
	s, ok := stunmsg.DecodeLifetime(v)
	if !ok {
		t.Fatal("malformed LIFETIME")
	}
	return s
}

// rawAttr is one attribute of a hand-encoded message.
type rawAttr struct {
	typ   uint16
	value []byte
}

// encodeRaw encodes a STUN message attribute by attribute without any of
// the Builder's checks, padding each value with zeros and setting Length
// to cover everything, so tests can produce any malformed shape.
func encodeRaw(typ uint16, txid [12]byte, attrs ...rawAttr) []byte {
	b := make([]byte, stunmsg.HeaderSize, 512)
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint32(b[4:8], stunmsg.MagicCookie)
	copy(b[8:20], txid[:])
	for _, a := range attrs {
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.value)))
		b = append(b, a.value...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-stunmsg.HeaderSize))
	return b
}

// fingerprintValue is the FINGERPRINT value for msg, whose Length must
// already count the 8-byte FINGERPRINT attribute (RFC 8489 §14.7).
func fingerprintValue(msg []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(msg)^0x5354554e)
}

// xorAddressValue encodes an XOR address value by hand (RFC 8489 §14.2).
// With asIPv6 an IPv4 address is sent as its IPv4-mapped IPv6 form
// (::ffff:a.b.c.d, family 0x02), which Builder never produces.
func xorAddressValue(ap netip.AddrPort, txid [12]byte, asIPv6 bool) []byte {
	var mask [16]byte
	binary.BigEndian.PutUint32(mask[0:4], stunmsg.MagicCookie)
	copy(mask[4:], txid[:])
	port := ap.Port() ^ uint16(stunmsg.MagicCookie>>16)
	if ap.Addr().Is4() && !asIPv6 {
		ip := ap.Addr().As4()
		v := []byte{0, byte(stunmsg.FamilyIPv4), byte(port >> 8), byte(port)}
		for i := range ip {
			v = append(v, ip[i]^mask[i])
		}
		return v
	}
	ip := ap.Addr().As16()
	v := []byte{0, byte(stunmsg.FamilyIPv6), byte(port >> 8), byte(port)}
	for i := range ip {
		v = append(v, ip[i]^mask[i])
	}
	return v
}

// newUDPPeerAt is a peer socket bound to a given loopback address (e.g.
// 127.0.0.2:0), so tests can tell peers apart by IP.
func newUDPPeerAt(t testing.TB, addr string) *udpPeer {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	if !ap.Addr().IsLoopback() {
		t.Fatalf("peer %s is not on loopback", addr)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, conn: c, buf: make([]byte, 65536)}
}

// expectNothing asserts the peer receives nothing for a short while.
func (p *udpPeer) expectNothing() {
	p.t.Helper()
	if b, from, ok := p.recv(100 * time.Millisecond); ok {
		p.t.Fatalf("peer received %d bytes from %s, want nothing", len(b), from)
	}
}

// mustRecv waits for one datagram at the peer.
func (p *udpPeer) mustRecv() ([]byte, netip.AddrPort) {
	p.t.Helper()
	b, from, ok := p.recv(3 * time.Second)
	if !ok {
		p.t.Fatal("peer received nothing")
	}
	return b, from
}

// recvFromPeer waits for the next datagram at the client that is not a STUN
// response and returns it raw (a Data indication or ChannelData).
func (c *rawClient) recvFromPeer() []byte {
	c.t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		b := c.recvRaw(time.Until(deadline))
		if b == nil {
			break
		}
		var m stunmsg.Message
		if stunmsg.Classify(b) == stunmsg.KindSTUN && m.Parse(b) == nil && m.Class != stunmsg.Indication {
			continue
		}
		return b
	}
	c.t.Fatal("client received nothing from the peer")
	return nil
}

// parseDataIndication checks b as a Data indication (RFC 8656 §11.3) and
// returns its XOR-PEER-ADDRESS and DATA.
func parseDataIndication(t testing.TB, b []byte) (netip.AddrPort, []byte) {
	t.Helper()
	var m stunmsg.Message
	if err := m.Parse(b); err != nil {
		t.Fatalf("expected a Data indication, got % x: %v", b[:min(len(b), 16)], err)
	}
	if m.Method != stunmsg.Data || m.Class != stunmsg.Indication {
		t.Fatalf("expected a Data indication, got %s %s", m.Method, m.Class)
	}
	if m.IntegrityAt >= 0 {
		t.Fatal("Data indication carries MESSAGE-INTEGRITY (RFC 8656 §5: indications are not authenticated)")
	}
	peer := xorAddr(t, &m, stunmsg.AttrXORPeerAddress)
	data, ok := m.Get(stunmsg.AttrData)
	if !ok {
		t.Fatal("Data indication without DATA")
	}
	return peer, append([]byte(nil), data...)
}

// parseChannelDataUDP checks b as one unpadded ChannelData datagram on any
// channel 0x4000–0x7FFF (the legacy range included; the caller checks the
// number).
func parseChannelDataUDP(t testing.TB, b []byte) (uint16, []byte) {
	t.Helper()
	if len(b) < 4 || b[0]&0xC0 != 0x40 {
		t.Fatalf("expected ChannelData, got % x", b[:min(len(b), 16)])
	}
	ch := binary.BigEndian.Uint16(b[0:2])
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if len(b) != 4+n {
		t.Fatalf("ChannelData over UDP is %d bytes for Length %d", len(b), n)
	}
	return ch, b[4:]
}
