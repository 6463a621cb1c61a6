package relayext

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
)

// TestGatewaySweeperExpiresFlows: the relay's one housekeeping timer runs
// the core's Expire exactly when a session's earliest deadline passes —
// not at the timer's next whole second — and re-arms for the next one: an
// unanswered CIDR flow is forgotten (no tombstone), a translated flow
// becomes a tombstone kept for TombstoneLifetime, which is the session's
// next deadline, and when that passes nothing is left. The relay's fake
// clock drives the timer; the core is driven directly, so nothing is sent.
// The gateway adds no timer of its own.
func TestGatewaySweeperExpiresFlows(t *testing.T) {
	t.Parallel()
	clock := monotest.New(time.Now())
	srv := newTestServer(t, withClock(clock), withGateway(t, loopbackResources, loopbackResolver()))
	x, err := srv.x.Admit("alice", allocation.FiveTuple{}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := x.(*session)
	defer s.Closed(clock.Now())
	// Flows opened between two runs of the relay's timer (it runs at
	// least once a second from Start).
	clock.Advance(300 * time.Millisecond)
	opened := clock.Now()

	s.mu.Lock()
	_, q, _ := s.core.Query(dnsQuery(t, 1, "sip.test.internal.", dnsmessage.TypeA), opened, nil)
	v, answer := s.core.Resolved(q, []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil, nil)
	if v.Action != gateway.ActionAnswer {
		s.mu.Unlock()
		t.Fatalf("resolution: %v", v)
	}
	proxy := parseDNSAnswer(t, answer).addrs[0]
	for _, dst := range []netip.AddrPort{netip.MustParseAddrPort("10.9.0.5:9000"), netip.AddrPortFrom(proxy, 5060)} {
		if v := s.core.Outbound(dst, opened); v.Action != gateway.ActionSend {
			s.mu.Unlock()
			t.Fatalf("opening a flow to %v: %v", dst, v)
		}
	}
	s.afterCall()
	first := s.scheduled
	s.mu.Unlock()
	if want := opened.Add(gateway.UnansweredFlowTimeout); first != want {
		t.Fatalf("scheduled %v, want the flows' deadline %v", first, want)
	}
	if !s.engaged.Load() {
		t.Fatal("a session with flows is not marked engaged")
	}
	scheduled := func() mono.Time {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.scheduled
	}

	clock.Advance(first.Sub(clock.Now()) - time.Nanosecond)
	if got := scheduled(); got != first {
		t.Fatalf("just before the deadline the sweeper holds %v, want %v still", got, first)
	}
	clock.Advance(time.Nanosecond)
	tombEnd := first.Add(srv.core.Config().TombstoneLifetime)
	if got := scheduled(); got != tombEnd {
		t.Fatalf("at the deadline the sweeper holds %v, want the tombstone's end %v", got, tombEnd)
	}
	s.mu.Lock()
	next, ok := s.core.NextDeadline()
	s.mu.Unlock()
	if !ok || next != tombEnd {
		t.Fatalf("after expiry the next deadline is %v (ok %v), want the tombstone's end %v", next, ok, tombEnd)
	}
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers armed, want the relay's one", n)
	}

	clock.Advance(tombEnd.Sub(clock.Now()))
	s.mu.Lock()
	_, left := s.core.NextDeadline()
	s.mu.Unlock()
	if left || scheduled() != 0 {
		t.Fatal("the tombstone outlived its deadline")
	}
	if _, ok := srv.x.sweeper.next(); ok {
		t.Fatal("the sweeper still holds a deadline")
	}
}
