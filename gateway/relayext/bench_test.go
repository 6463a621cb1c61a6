package relayext

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// translatedFixture is an allocation with a live gateway flow: channel
// 0x4002 bound to a proxy IP:5075 of sip.test.internal, which the flow maps
// to port 5075 of resource host A, where host (a plain socket the test
// drives, no echo) listens. Build it inside the gateway namespace.
type translatedFixture struct {
	srv     *testServer
	c       *turnclient.Client
	proxy   netip.AddrPort
	relayed netip.AddrPort // the allocation's IPv4 relayed address
	payload []byte
	host    *net.UDPConn
}

const translatedChannel = 0x4002

func newTranslatedFixture(tb testing.TB, srv *testServer) *translatedFixture {
	tb.Helper()
	real := netip.AddrPortFrom(gwHostA, 5075)
	host, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(real))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { host.Close() })
	c := dialUser(tb, srv, turnclient.UDP, "alice")
	alloc, err := c.Allocate(turnclient.AllocateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		tb.Fatal(err)
	}
	p := proxiesOf(tb, c, sentinel4, "sip.test.internal.", dnsmessage.TypeA)[3]
	f := &translatedFixture{
		srv: srv, c: c, host: host,
		proxy:   netip.AddrPortFrom(p, real.Port()),
		relayed: alloc.Relayed[0],
		payload: bytes.Repeat([]byte{0xAB}, 100),
	}
	if err := c.BindChannel(translatedChannel, f.proxy); err != nil {
		tb.Fatal(err)
	}
	// The first datagram opens the flow; the host sees it come from the
	// relayed address.
	if err := c.Send(f.proxy, f.payload); err != nil {
		tb.Fatal(err)
	}
	host.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := host.ReadFromUDPAddrPort(buf)
	if err != nil || n != 100 {
		tb.Fatalf("the resource host did not receive the translated datagram (n=%d): %v", n, err)
	}
	host.SetReadDeadline(time.Time{})
	if from != f.relayed {
		tb.Fatalf("datagram came from %v, want the relayed address %v", from, f.relayed)
	}
	return f
}

// toHost sends one datagram through the flow and waits for the host to
// read it.
func (f *translatedFixture) toHost(tb testing.TB, buf []byte) {
	if err := f.c.Send(f.proxy, f.payload); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := f.host.ReadFromUDPAddrPort(buf); err != nil {
		tb.Fatal(err)
	}
}

// toClient sends one reply from the host and waits for the client to
// receive it.
func (f *translatedFixture) toClient(tb testing.TB, buf []byte) turnclient.Event {
	if _, err := f.host.WriteToUDPAddrPort(f.payload, f.relayed); err != nil {
		tb.Fatal(err)
	}
	ev, err := f.c.Receive(context.Background(), buf)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

// translatedAllocsScenario: on an existing gateway flow the translated
// path allocates nothing per datagram in either direction — ChannelData to
// the proxy address sent to the real IP, and the host's replies delivered
// as ChannelData from the proxy address (gateway/doc.go "NAT"). It is
// measured end to end, through the relay's sockets and packet loops, so
// the relay's side of the hooks is measured with the gateway's (the core's
// own TestZeroAllocationsOnExistingFlows covers the decisions alone).
// testing.AllocsPerRun averages over the whole process, so the odd
// allocation of an unrelated goroutine does not count.
func translatedAllocsScenario(t *testing.T, srv *testServer) {
	f := newTranslatedFixture(t, srv)
	buf := make([]byte, 2048)
	if allocs := testing.AllocsPerRun(500, func() { f.toHost(t, buf) }); allocs != 0 {
		t.Fatalf("ChannelData → proxy address allocates %.1f times per datagram", allocs)
	}
	if allocs := testing.AllocsPerRun(500, func() { f.toClient(t, buf) }); allocs != 0 {
		t.Fatalf("reply → client allocates %.1f times per datagram", allocs)
	}
	ev := f.toClient(t, buf)
	if ev.Kind != turnclient.EventData || ev.Data.Peer != f.proxy || ev.Data.Channel != translatedChannel || len(ev.Data.Payload) != 100 {
		t.Fatalf("client got %v %+v, want 100 bytes from %v on channel %#x", ev.Kind, ev.Data, f.proxy, translatedChannel)
	}
}

// newBenchGateway is the relay and resolver of the benchmarks, inside the
// gateway namespace.
func newBenchGateway(b *testing.B) *testServer {
	res := newFakeResolver()
	res.set("sip.test.internal", gwHostA.String())
	return newTestServer(b, withRelayAddrs(gwRelay4), withGateway(b, netnsResources, res))
}

// benchBurst is how many datagrams the benchmarks keep in flight: one
// receive batch of the relay's packet loop.
const benchBurst = 32

// BenchmarkGatewayTranslatedToPeer measures the client → resource path on
// an existing gateway flow per 100-byte ChannelData datagram, end to end
// through the relay's sockets and packet loop, in bursts of benchBurst: the
// client's sends, the relay's receive, 5-tuple and channel lookups, the
// allocation's gateway lock and NAT lookup, the sendto of the relayed
// socket to the real IP, and the host's receives. The extension hooks
// alone are BenchmarkGatewayHooks. It runs inside the gateway namespace.
func BenchmarkGatewayTranslatedToPeer(b *testing.B) {
	benchInGatewayNamespace(b, func(b *testing.B) {
		f := newTranslatedFixture(b, newBenchGateway(b))
		buf := make([]byte, 2048)
		b.ReportAllocs()
		b.SetBytes(100)
		b.ResetTimer()
		for i := 0; i < b.N; i += benchBurst {
			n := min(benchBurst, b.N-i)
			for range n {
				if err := f.c.Send(f.proxy, f.payload); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				if _, _, err := f.host.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkGatewayTranslatedToClient measures the resource → client path
// on an existing gateway flow per datagram, end to end in bursts of
// benchBurst: the host's sends, the relayed socket's batch receive, the
// translation to the proxy address, ChannelData framed in place, the batch
// send to the client and the client's receives.
func BenchmarkGatewayTranslatedToClient(b *testing.B) {
	benchInGatewayNamespace(b, func(b *testing.B) {
		f := newTranslatedFixture(b, newBenchGateway(b))
		buf := make([]byte, 2048)
		b.ReportAllocs()
		b.SetBytes(100)
		b.ResetTimer()
		for i := 0; i < b.N; i += benchBurst {
			n := min(benchBurst, b.N-i)
			for range n {
				if _, err := f.host.WriteToUDPAddrPort(f.payload, f.relayed); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				if _, err := f.c.Receive(context.Background(), buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// childBenchResults caches the numbers each benchmark's namespace run
// reported, so that the testing package calling the parent again (with a
// larger b.N, or -benchtime=Nx) does not build another namespace.
var childBenchResults sync.Map // benchmark name → map[unit]value

// benchInGatewayNamespace runs body inside the gateway namespace. In the
// parent it re-runs this one benchmark in the namespace (with the parent's
// -test.benchtime, and -test.benchmem) and reports the child's per-op
// numbers as its own (testing.B.ReportMetric overrides ns/op, B/op,
// allocs/op and MB/s), so `go test -bench` prints the measurement of the
// real path. The parent's own iteration count is meaningless and hidden
// by those overrides.
func benchInGatewayNamespace(b *testing.B, body func(*testing.B)) {
	if inGatewayNamespace() {
		body(b)
		return
	}
	name := b.Name()
	metrics, ok := childBenchResults.Load(name)
	if !ok {
		args := []string{"-test.run=^$", "-test.bench=^" + name + "$", "-test.benchmem", "-test.count=1"}
		if f := flag.Lookup("test.benchtime"); f != nil {
			args = append(args, "-test.benchtime="+f.Value.String())
		}
		out, err := runInGatewayNamespace(b, 5*time.Minute, args...)
		m, parsed := parseBenchLine(out, name)
		if err != nil || !parsed {
			b.Fatalf("the benchmark inside the namespace failed (%v):\n%s", err, out)
		}
		metrics = m
		childBenchResults.Store(name, m)
	}
	for unit, v := range metrics.(map[string]float64) {
		b.ReportMetric(v, unit)
	}
}

// parseBenchLine finds the result line of benchmark name in go test
// output ("BenchmarkX-2  812345  1403 ns/op  71.27 MB/s  0 B/op  0
// allocs/op") and returns its value/unit pairs.
func parseBenchLine(out []byte, name string) (map[string]float64, bool) {
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || len(fields)%2 != 0 || (fields[0] != name && !strings.HasPrefix(fields[0], name+"-")) {
			continue
		}
		m := make(map[string]float64)
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, false
			}
			m[fields[i+1]] = v
		}
		return m, true
	}
	return nil, false
}
