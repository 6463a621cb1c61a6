package relay

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// TestGatewaySweeperExpiresFlows: the relay's one gateway timer runs the
// core's Expire when a session's earliest deadline passes and re-arms to
// the next one: an unanswered CIDR flow is forgotten (no tombstone), a
// translated flow becomes a tombstone kept for TombstoneLifetime, which is
// the session's next deadline. The core is driven directly with times in
// the past, so nothing is sent and nothing sleeps for a minute.
func TestGatewaySweeperExpiresFlows(t *testing.T) {
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	gs := srv.gw.newSession("alice")
	defer gs.close()
	now := mono.Now()
	opened := now.Add(-gateway.UnansweredFlowTimeout + 200*time.Millisecond)

	gs.mu.Lock()
	_, q, _ := gs.core.Query(dnsQuery(t, 1, "sip.test.internal.", dnsmessage.TypeA), opened, nil)
	v, answer := gs.core.Resolved(q, []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil, nil)
	if v.Action != gateway.ActionAnswer {
		gs.mu.Unlock()
		t.Fatalf("resolution: %v", v)
	}
	proxy := parseDNSAnswer(t, answer).addrs[0]
	for _, dst := range []netip.AddrPort{netip.MustParseAddrPort("10.9.0.5:9000"), netip.AddrPortFrom(proxy, 5060)} {
		if v := gs.core.Outbound(dst, opened); v.Action != gateway.ActionSend {
			gs.mu.Unlock()
			t.Fatalf("opening a flow to %v: %v", dst, v)
		}
	}
	gs.afterCall()
	first := gs.scheduled
	gs.mu.Unlock()
	if want := opened.Add(gateway.UnansweredFlowTimeout); first != want {
		t.Fatalf("scheduled %v, want the flows' deadline %v", first, want)
	}
	if !gs.engaged.Load() {
		t.Fatal("a session with flows is not marked engaged")
	}
	tombEnd := first.Add(srv.cfg.Gateway.Config().TombstoneLifetime)
	waitUntil(t, "the sweeper to expire the flows", func() bool {
		gs.mu.Lock()
		defer gs.mu.Unlock()
		return gs.scheduled == tombEnd
	})
	gs.mu.Lock()
	next, ok := gs.core.NextDeadline()
	gs.mu.Unlock()
	if !ok || next != tombEnd {
		t.Fatalf("after expiry the next deadline is %v (ok %v), want the tombstone's end %v", next, ok, tombEnd)
	}
	if at, ok := srv.gw.sweeper.next(); !ok || at != tombEnd {
		t.Fatalf("the sweeper's next deadline is %v (ok %v), want %v", at, ok, tombEnd)
	}
}
