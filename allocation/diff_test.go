package allocation

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// chooser supplies the decisions of a differential run: random numbers in
// the property test, fuzzer bytes in the fuzz target.
type chooser interface {
	// intn returns a value in [0, n); ok is false when the source is spent.
	intn(n int) (v int, ok bool)
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) (int, bool) { return c.r.IntN(n), true }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) (int, bool) {
	if len(c.b) == 0 {
		return 0, false
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 && len(c.b) > 0 {
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n, true
}

// Small pools, so that random operations collide on 5-tuples, users, peers
// and channel numbers, and include the awkward forms (IPv4-mapped twins,
// zero addresses, port 0, numbers just outside the channel range).
var (
	diffTuples = []FiveTuple{
		{Client: ap("192.0.2.1:1000"), Server: ap("198.51.100.1:3478"), Transport: TransportUDP},
		{Client: ap("[::ffff:192.0.2.1]:1000"), Server: ap("[::ffff:198.51.100.1]:3478"), Transport: TransportUDP},
		{Client: ap("192.0.2.1:1000"), Server: ap("198.51.100.1:3478"), Transport: TransportTCP},
		{Client: ap("192.0.2.2:1000"), Server: ap("198.51.100.1:3478"), Transport: TransportUDP},
		{Client: ap("[2001:db8::1]:1000"), Server: ap("[2001:db8::ffff]:3478"), Transport: TransportUDP},
		{Client: ap("192.0.2.1:1001"), Server: ap("198.51.100.1:3478"), Transport: TransportDTLS},
	}
	diffUsers     = []string{"alice", "bob", "carol"}
	diffLifetimes = []struct {
		seconds uint32
		present bool
	}{{0, false}, {0, true}, {30, true}, {600, true}, {1200, true}, {3600, true}, {7200, true}}
	diffIPs = []netip.Addr{
		netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.11"),
		netip.MustParseAddr("::ffff:198.51.100.10"), netip.MustParseAddr("198.51.100.12"),
		netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::11"), {},
	}
	diffPorts    = []uint16{5000, 5001, 0}
	diffChannels = []uint16{0x4000, 0x4001, 0x4002, 0x4FFF, 0x3FFF, 0x5000}
	diffConfig   = Config{MaxPermissions: 3, MaxChannels: 2, UserQuota: 2, TotalQuota: 4, Shards: 3}
)

// differential runs up to maxOps operations chosen by c against a Table
// and the model and fails t at the first disagreement. Time only moves
// forward, in small steps, large steps and jumps to exactly (or 1 ns
// before) the model's next event, so every expiry boundary is probed.
func differential(t testing.TB, c chooser, maxOps int) {
	tab := newTable(t, diffConfig)
	m := &model{cfg: tab.Config()}
	var now mono.Time
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		start := max(0, len(trace)-40)
		t.Fatalf("after %d ops (last %d):\n%s\nat %v: %s", len(trace), len(trace)-start,
			strings.Join(trace[start:], "\n"), time.Duration(now), fmt.Sprintf(format, args...))
	}
	pick := func(n int) int {
		v, ok := c.intn(n)
		if !ok {
			panic(errSpent)
		}
		return v
	}
	pickAlloc := func() *modelAlloc {
		// Mostly a live allocation, so that operations pile up on the
		// few there are; sometimes any, including long-dead ones.
		var live []*modelAlloc
		for _, ma := range m.allocs {
			if ma.alive(now) {
				live = append(live, ma)
			}
		}
		if len(live) > 0 && pick(4) > 0 {
			return live[pick(len(live))]
		}
		if len(m.allocs) == 0 {
			return nil
		}
		return m.allocs[pick(len(m.allocs))]
	}
	peer := func() netip.AddrPort {
		return netip.AddrPortFrom(diffIPs[pick(len(diffIPs))], diffPorts[pick(len(diffPorts))])
	}
	defer func() {
		if r := recover(); r != nil && r != errSpent {
			panic(r)
		}
	}()
	for range maxOps {
		switch op := pick(22); op {
		case 0, 1, 18: // create
			s := Spec{FiveTuple: diffTuples[pick(len(diffTuples))], User: diffUsers[pick(len(diffUsers))]}
			switch pick(3) {
			case 0:
				s.Relayed4 = relay4
			case 1:
				s.Relayed6 = relay6
			default:
				s.Relayed4, s.Relayed6 = relay4, relay6
			}
			l := diffLifetimes[pick(len(diffLifetimes))]
			s.Lifetime = m.cfg.Lifetime(l.seconds, l.present)
			trace = append(trace, fmt.Sprintf("create %v %s %v/%v %v", s.FiveTuple, s.User, s.Relayed4.IsValid(), s.Relayed6.IsValid(), s.Lifetime))
			ma, werr := m.create(s, now)
			a, err := tab.Create(s, now)
			if err != werr {
				fail("Create = %v, model %v", errName(err), errName(werr))
			}
			if ma != nil {
				ma.real = a
			}
		case 2, 3, 19: // refresh
			ma := pickAlloc()
			if ma == nil {
				continue
			}
			l := diffLifetimes[pick(len(diffLifetimes))]
			d := m.cfg.Lifetime(l.seconds, l.present)
			trace = append(trace, fmt.Sprintf("refresh %v %v", ma.ft, d))
			if err, werr := tab.Refresh(ma.real, d, now), m.refresh(ma, mono.Time(d), now); err != werr {
				fail("Refresh = %v, model %v", errName(err), errName(werr))
			}
		case 4: // delete
			ma := pickAlloc()
			if ma == nil {
				continue
			}
			trace = append(trace, fmt.Sprintf("delete %v", ma.ft))
			if err, werr := tab.Delete(ma.real, now), m.remove(ma, now); err != werr {
				fail("Delete = %v, model %v", errName(err), errName(werr))
			}
		case 5, 6: // permit
			ma := pickAlloc()
			if ma == nil {
				continue
			}
			ips := make([]netip.Addr, pick(5))
			for i := range ips {
				ips[i] = diffIPs[pick(len(diffIPs))]
			}
			trace = append(trace, fmt.Sprintf("permit %v %v", ma.ft, ips))
			if err, werr := ma.real.Permit(ips, now), m.permit(ma, ips, now); err != werr {
				fail("Permit = %v, model %v", errName(err), errName(werr))
			}
		case 7, 8, 9: // bind
			ma := pickAlloc()
			if ma == nil {
				continue
			}
			ci := pick(len(diffChannels))
			ch, p := diffChannels[ci], peer()
			if pick(2) == 0 {
				// A fixed peer per number makes refreshes and rebinds of
				// the same pair common.
				p = netip.AddrPortFrom(diffIPs[ci%4], diffPorts[ci%2])
			}
			trace = append(trace, fmt.Sprintf("bind %v %#x %v", ma.ft, ch, p))
			if err, werr := ma.real.Bind(ch, p, now), m.bind(ma, ch, p, now); err != werr {
				fail("Bind = %v, model %v", errName(err), errName(werr))
			}
		case 10: // lookup
			ft := diffTuples[pick(len(diffTuples))]
			trace = append(trace, fmt.Sprintf("lookup %v", ft))
			var want *Allocation
			if ma := m.current(ft, now); ma != nil {
				want = ma.real
			}
			if got := tab.Lookup(ft, now); got != want {
				fail("Lookup = %p, model %p", got, want)
			}
		case 11, 12, 21: // data-path questions
			ma := pickAlloc()
			if ma == nil {
				continue
			}
			ip, ch, p := diffIPs[pick(len(diffIPs))], diffChannels[pick(len(diffChannels))], peer()
			trace = append(trace, fmt.Sprintf("query %v ip %v ch %#x peer %v", ma.ft, ip, ch, p))
			if got, want := ma.real.Permitted(ip, now), m.permitted(ma, ip, now); got != want {
				fail("Permitted(%v) = %v, model %v", ip, got, want)
			}
			gp, gok := ma.real.ChannelPeer(ch, now)
			wp, wok := m.channelPeer(ma, ch, now)
			if gp != wp || gok != wok {
				fail("ChannelPeer(%#x) = %v %v, model %v %v", ch, gp, gok, wp, wok)
			}
			gc, gok := ma.real.PeerChannel(p, now)
			wc, wok := m.peerChannel(ma, p, now)
			if gc != wc || gok != wok {
				fail("PeerChannel(%v) = %#x %v, model %#x %v", p, gc, gok, wc, wok)
			}
		case 13: // quota pre-check
			u := diffUsers[pick(len(diffUsers))]
			trace = append(trace, "checkquota "+u)
			if err, werr := tab.CheckQuota(u, 1, now), m.quota(u, now); err != werr {
				fail("CheckQuota = %v, model %v", errName(err), errName(werr))
			}
		case 14: // small step
			now += mono.Time(1 + pick(10_000)*int(time.Millisecond))
			trace = append(trace, fmt.Sprintf("advance to %v", time.Duration(now)))
		case 15: // large step
			now += mono.Time(10+pick(300)) * mono.Time(time.Second)
			trace = append(trace, fmt.Sprintf("advance to %v", time.Duration(now)))
		case 16: // to the next event, or 1 ns before it
			if ev, ok := m.nextEvent(now); ok {
				now = ev - mono.Time(pick(2))
				if now < 0 {
					now = 0
				}
				trace = append(trace, fmt.Sprintf("advance to %v", time.Duration(now)))
			}
		default: // expire, then the gauges and the deadline must agree
			trace = append(trace, "expire")
			got := tab.Expire(now, nil)
			var want []*Allocation
			for _, ma := range m.expire(now) {
				want = append(want, ma.real)
			}
			if !sameSet(got, want) {
				fail("Expire = %v, model %v", got, want)
			}
			if gs, ws := tab.Stats(), m.stats(now); gs != ws {
				fail("Stats = %+v, model %+v", gs, ws)
			}
			for _, u := range diffUsers {
				n := 0
				for _, ma := range m.allocs {
					if ma.user == u && ma.alive(now) {
						n++
					}
				}
				if tab.UserAllocations(u) != n {
					fail("UserAllocations(%s) = %d, model %d", u, tab.UserAllocations(u), n)
				}
			}
			d, ok := tab.NextDeadline()
			ev, evOK := m.nextEvent(now)
			if ok != evOK || ok && (d <= now || d > ev) {
				fail("NextDeadline = %v %v, model's next event %v %v", time.Duration(d), ok, time.Duration(ev), evOK)
			}
		}
	}
}

// errSpent stops a run when the fuzzer's bytes are used up.
var errSpent = fmt.Errorf("choices spent")

func TestDifferential(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 0x7475726e))
		differential(t, randChooser{r}, 600)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

func FuzzDifferential(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 12, 0, 14})
	f.Fuzz(func(t *testing.T, choices []byte) {
		differential(t, &byteChooser{b: choices}, 1<<20)
	})
}
