package relayext

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// Helpers of the gateway tests (gateway_*_test.go): a scriptable resolver,
// a relay with gateway, TURN clients per user, and DNS through the
// sentinel.

// sentinel4 and sentinel6 are the default DNS sentinels
// (gateway.DefaultConfig, TURNSTILE_GATEWAY_DNS).
var (
	sentinel4 = netip.MustParseAddrPort("100.100.111.1:53")
	sentinel6 = netip.MustParseAddrPort("[fd00:2021:1111:8000:100:100:111:0]:53")
)

// fakeResolver is a gateway.Resolver whose answers the test sets. After
// hold, Resolve waits until release or until its context ends.
type fakeResolver struct {
	mu      sync.Mutex
	records map[string][2][]netip.Addr // domain → A, AAAA
	calls   map[string]int
	gate    chan struct{} // nil: answer at once
	started chan string   // receives the domain of each call, when not nil
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{records: make(map[string][2][]netip.Addr), calls: make(map[string]int)}
}

// set makes domain resolve to the addresses given (each IPv4 or IPv6).
func (r *fakeResolver) set(domain string, addrs ...string) {
	var rec [2][]netip.Addr
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if a.Is4() {
			rec[0] = append(rec[0], a)
		} else {
			rec[1] = append(rec[1], a)
		}
	}
	r.mu.Lock()
	r.records[domain] = rec
	r.mu.Unlock()
}

// hold makes every later Resolve wait until release.
func (r *fakeResolver) hold() {
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
}

// release lets the waiting resolutions (and later ones) answer.
func (r *fakeResolver) release() {
	r.mu.Lock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
	r.mu.Unlock()
}

func (r *fakeResolver) callsFor(domain string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[domain]
}

// Resolve implements gateway.Resolver.
func (r *fakeResolver) Resolve(ctx context.Context, domain string) (v4, v6 []netip.Addr, err error) {
	r.mu.Lock()
	r.calls[domain]++
	gate, started := r.gate, r.started
	rec, ok := r.records[domain]
	r.mu.Unlock()
	if started != nil {
		started <- domain
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if !ok {
		return nil, nil, context.DeadlineExceeded // like a timeout: no records
	}
	return rec[0], rec[1], nil
}

// dialUser connects a turnclient with REST credentials of user to srv's
// listener for transport.
func dialUser(t testing.TB, srv *testServer, transport turnclient.Transport, user string) *turnclient.Client {
	t.Helper()
	name, pass := restCredentials(user, time.Now())
	cfg := turnclient.Config{
		Transport: transport, Username: name, Password: pass,
		RTO: 100 * time.Millisecond, Timeout: 5 * time.Second, Server: srv.udp,
	}
	if transport == turnclient.TCP {
		cfg.Server = srv.tcp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := turnclient.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dnsQuery builds a DNS query (RFC 1035 §4.1) for name and type with
// recursion desired.
func dnsQuery(t testing.TB, id uint16, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// dnsAnswer is the part of a DNS response the tests check.
type dnsAnswer struct {
	id    uint16
	rcode dnsmessage.RCode
	addrs []netip.Addr
	ttls  []uint32
}

// parseDNSAnswer parses a response; a malformed one fails the test.
func parseDNSAnswer(t testing.TB, msg []byte) dnsAnswer {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(msg); err != nil {
		t.Fatalf("DNS answer does not parse: %v", err)
	}
	if !m.Header.Response {
		t.Fatal("DNS answer without QR")
	}
	out := dnsAnswer{id: m.Header.ID, rcode: m.Header.RCode}
	for _, rr := range m.Answers {
		switch body := rr.Body.(type) {
		case *dnsmessage.AResource:
			out.addrs = append(out.addrs, netip.AddrFrom4(body.A))
		case *dnsmessage.AAAAResource:
			out.addrs = append(out.addrs, netip.AddrFrom16(body.AAAA))
		}
		out.ttls = append(out.ttls, rr.Header.TTL)
	}
	return out
}

// askSentinel sends a query for name to sentinel through c (on the
// channel bound to the sentinel, if any) and returns the answer, which must
// come back as data from the sentinel, on channel when it is not 0.
func askSentinel(t testing.TB, c *turnclient.Client, sentinel netip.AddrPort, channel, id uint16, name string, typ dnsmessage.Type) dnsAnswer {
	t.Helper()
	if err := c.Send(sentinel, dnsQuery(t, id, name, typ)); err != nil {
		t.Fatal(err)
	}
	ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
	if ev.Kind != turnclient.EventData || ev.Data.Peer != sentinel || ev.Data.Channel != channel {
		t.Fatalf("query for %s: got %v %+v %+v, want data from the sentinel %v on channel %#x", name, ev.Kind, ev.Data, ev.ICMP, sentinel, channel)
	}
	a := parseDNSAnswer(t, ev.Data.Payload)
	if a.id != id {
		t.Fatalf("answer ID %d, want %d", a.id, id)
	}
	return a
}

// proxiesOf asks the sentinel (no channel bound) for name's proxy IPs of
// typ (A or AAAA) and checks the answer: NOERROR, four addresses, TTL 1.
func proxiesOf(t testing.TB, c *turnclient.Client, sentinel netip.AddrPort, name string, typ dnsmessage.Type) []netip.Addr {
	t.Helper()
	a := askSentinel(t, c, sentinel, 0, uint16(len(name))*7+uint16(typ), name, typ)
	if a.rcode != dnsmessage.RCodeSuccess || len(a.addrs) != gateway.ProxiesPerFamily {
		t.Fatalf("%s %v: rcode %v, %d addresses, want NOERROR and %d", name, typ, a.rcode, len(a.addrs), gateway.ProxiesPerFamily)
	}
	for _, ttl := range a.ttls {
		if ttl != gateway.AnswerTTL {
			t.Fatalf("TTL %d, want %d", ttl, gateway.AnswerTTL)
		}
	}
	return a.addrs
}

// wantICMP waits for an ICMP event and compares it.
func wantICMP(t testing.TB, c *turnclient.Client, want turnclient.ICMPEvent) {
	t.Helper()
	ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
	if ev.Kind != turnclient.EventICMP || ev.ICMP != want {
		t.Fatalf("got %v %+v %+v, want ICMP %+v", ev.Kind, ev.ICMP, ev.Data, want)
	}
}

// wantData waits for a data event and compares peer, channel and payload.
func wantData(t testing.TB, c *turnclient.Client, peer netip.AddrPort, channel uint16, payload string) {
	t.Helper()
	ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
	if ev.Kind != turnclient.EventData || ev.Data.Peer != peer || ev.Data.Channel != channel || string(ev.Data.Payload) != payload {
		t.Fatalf("got %v %+v %+v, want data %q from %v on channel %#x", ev.Kind, ev.Data, ev.ICMP, payload, peer, channel)
	}
}

// verdicts reads one gateway verdict counter.
func verdicts(srv *testServer, action, reason string) uint64 {
	return srv.Stats().ExtensionCounts[action][reason]
}
