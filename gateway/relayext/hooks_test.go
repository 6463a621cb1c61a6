package relayext

import (
	"bytes"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// hookFlow is an allocation's gateway state, made without a relay, with an
// open flow from proxy (a proxy IP of sip.test.internal, port 5075) to
// real (192.0.2.10:5075).
type hookFlow struct {
	s           *session
	client      discardClient
	proxy, real netip.AddrPort
	payload     []byte
	now         mono.Time
}

func newHookFlow(tb testing.TB) *hookFlow {
	tb.Helper()
	core, err := gateway.New(gateway.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	if err := core.Reload([]byte(loopbackResources)); err != nil {
		tb.Fatal(err)
	}
	x := New(core, loopbackResolver())
	x.Start(3)
	tb.Cleanup(x.Close)
	f := &hookFlow{now: mono.Time(1e9), payload: bytes.Repeat([]byte{0xAB}, 100)}
	ax, err := x.Admit("alice", allocation.FiveTuple{}, f.now)
	if err != nil {
		tb.Fatal(err)
	}
	f.s = ax.(*session)
	f.s.mu.Lock()
	_, q, _ := f.s.core.Query(dnsQuery(tb, 1, "sip.test.internal.", dnsmessage.TypeA), f.now, nil)
	v, answer := f.s.core.Resolved(q, []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil, nil)
	f.s.mu.Unlock()
	if v.Action != gateway.ActionAnswer {
		tb.Fatalf("resolution: %v", v)
	}
	f.proxy = netip.AddrPortFrom(parseDNSAnswer(tb, answer).addrs[0], 5075)
	f.real = netip.MustParseAddrPort("192.0.2.10:5075")
	if v := f.s.Outbound(&f.client, f.proxy, f.payload, f.now, 1); v.Action != relay.OutboundSend || v.To != f.real {
		tb.Fatalf("opening the flow: %+v, want a send to %v", v, f.real)
	}
	return f
}

// roundTrip runs one datagram each way through the hooks and checks the
// verdicts.
func (f *hookFlow) roundTrip(tb testing.TB) {
	if v := f.s.Outbound(&f.client, f.proxy, f.payload, f.now, 1); v.Action != relay.OutboundSend || v.To != f.real {
		tb.Fatalf("outbound: %+v", v)
	}
	if v := f.s.Inbound(f.real, f.now, 1); v.Action != relay.InboundDeliver || v.As != f.proxy {
		tb.Fatalf("inbound: %+v", v)
	}
}

// TestTranslatedHooksAllocateNothing: on an existing flow the hooks
// translate both ways without allocating (the end-to-end check through the
// relay is translatedAllocsScenario, in the namespace).
func TestTranslatedHooksAllocateNothing(t *testing.T) {
	f := newHookFlow(t)
	if allocs := testing.AllocsPerRun(1000, func() { f.roundTrip(t) }); allocs != 0 {
		t.Fatalf("the hooks allocate %.1f times per round trip on an existing flow", allocs)
	}
}

// BenchmarkGatewayHooks measures the gateway's share of the data path on
// an existing flow: Outbound (covers, lock, NAT lookup, verdict count)
// and Inbound for the reply, per round trip, without sockets.
func BenchmarkGatewayHooks(b *testing.B) {
	f := newHookFlow(b)
	b.ReportAllocs()
	for b.Loop() {
		f.roundTrip(b)
	}
}
