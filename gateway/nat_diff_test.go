package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// naiveNAT is the NAT table written the obvious way: a slice scanned
// linearly, with every expiry applied eagerly before each operation. The
// differential tests run the same random operations on it and on natTable.
type naiveNAT struct {
	flows    []naiveFlow
	maxLive  int
	maxTombs int
	tombLife time.Duration
}

type naiveFlow struct {
	client, real    netip.AddrPort
	lastOut, lastIn mono.Time
	answered, tomb  bool
	tombEnd         mono.Time
}

func (f *naiveFlow) deadline() mono.Time {
	if f.answered {
		return max(f.lastOut, f.lastIn).Add(FlowIdleTimeout)
	}
	return f.lastOut.Add(UnansweredFlowTimeout)
}

// advance applies every expiry due at now, then the tombstone cap.
func (m *naiveNAT) advance(now mono.Time) {
	var kept []naiveFlow
	for _, f := range m.flows {
		if !f.tomb && now >= f.deadline() {
			if m.maxTombs == 0 || m.tombLife <= 0 || f.client.Addr() == f.real.Addr() {
				continue
			}
			f.tomb, f.tombEnd = true, f.deadline().Add(m.tombLife)
		}
		if f.tomb && now >= f.tombEnd {
			continue
		}
		kept = append(kept, f)
	}
	m.flows = kept
	for m.count(true) > m.maxTombs {
		oldest := -1
		for i, f := range m.flows {
			if !f.tomb {
				continue
			}
			if oldest < 0 || f.tombEnd < m.flows[oldest].tombEnd ||
				(f.tombEnd == m.flows[oldest].tombEnd && f.real.Compare(m.flows[oldest].real) < 0) {
				oldest = i
			}
		}
		m.flows = append(m.flows[:oldest], m.flows[oldest+1:]...)
	}
}

func (m *naiveNAT) count(tomb bool) int {
	n := 0
	for _, f := range m.flows {
		if f.tomb == tomb {
			n++
		}
	}
	return n
}

func (m *naiveNAT) find(match func(*naiveFlow) bool) *naiveFlow {
	for i := range m.flows {
		if match(&m.flows[i]) {
			return &m.flows[i]
		}
	}
	return nil
}

func (m *naiveNAT) lookupClient(c netip.AddrPort, now mono.Time) *naiveFlow {
	m.advance(now)
	return m.find(func(f *naiveFlow) bool { return !f.tomb && f.client == c })
}

func (m *naiveNAT) lookupReal(r netip.AddrPort, now mono.Time) (*naiveFlow, entryState) {
	m.advance(now)
	f := m.find(func(f *naiveFlow) bool { return f.real == r })
	switch {
	case f == nil:
		return nil, entryFree
	case f.tomb:
		return f, entryTomb
	}
	return f, entryLive
}

func (m *naiveNAT) open(c, r netip.AddrPort, now mono.Time) (*naiveFlow, openResult) {
	if f := m.lookupClient(c, now); f != nil {
		return f, openExisting
	}
	if f, state := m.lookupReal(r, now); state == entryLive {
		return f, openCollision
	} else if state == entryTomb {
		m.remove(f)
	}
	if m.count(false) >= m.maxLive {
		return nil, openFull
	}
	m.flows = append(m.flows, naiveFlow{client: c, real: r, lastOut: now, lastIn: now})
	return &m.flows[len(m.flows)-1], openCreated
}

func (m *naiveNAT) remove(target *naiveFlow) {
	for i := range m.flows {
		if &m.flows[i] == target {
			m.flows = append(m.flows[:i], m.flows[i+1:]...)
			return
		}
	}
}

// minDeadline is the earliest deadline or tombstone end in the model.
func (m *naiveNAT) minDeadline() mono.Time {
	d := noDeadline
	for i := range m.flows {
		if m.flows[i].tomb {
			d = min(d, m.flows[i].tombEnd)
		} else {
			d = min(d, m.flows[i].deadline())
		}
	}
	return d
}

// natDiffCase runs random operations on both tables. eager makes the real
// table expire before every operation (as the model does), which the
// tombstone cap needs for identical results; otherwise expire runs rarely
// and the lazy paths decide.
func natDiffCase(t *testing.T, seed uint64, maxLive, maxTombs int, tombLife time.Duration, eager bool) {
	rng := rand.New(rand.NewPCG(seed, 99))
	impl := newNATTable(maxLive, maxTombs, tombLife)
	model := &naiveNAT{maxLive: maxLive, maxTombs: maxTombs, tombLife: tombLife}
	// Small address pools so that collisions, reuse and tombstone hits are
	// frequent. Client addresses 10.9.0.x are their own real address
	// (CIDR flows, which never leave tombstones).
	clientPool := addrs("100.96.0.4", "100.96.0.5", "fd00:2021:1111:8000::4", "10.9.0.1")
	realPool := addrs("192.0.2.1", "192.0.2.2", "2001:db8::1")
	ports := []uint16{1, 2, 3}
	pick := func(pool []netip.Addr) netip.AddrPort {
		return ap(pool[rng.IntN(len(pool))], ports[rng.IntN(len(ports))])
	}
	var now mono.Time
	for step := range 4000 {
		// Whole seconds, so that operations land exactly on deadlines.
		now = now.Add(time.Duration(rng.IntN(45)) * time.Second)
		if eager {
			impl.expire(now)
		}
		where := fmt.Sprintf("seed %d step %d at %v", seed, step, time.Duration(now))
		switch rng.IntN(5) {
		case 0, 1: // outbound datagram: find the flow or open one
			c := pick(clientPool)
			r := pick(realPool)
			if c.Addr().Is4() && c.Addr().As4()[0] == 10 {
				r = c
			}
			ie := impl.lookupClient(c, now)
			me := model.lookupClient(c, now)
			if (ie == nil) != (me == nil) || (ie != nil && ie.real != me.real) {
				t.Fatalf("%s: lookupClient(%v): impl %v, model %v", where, c, ie, me)
			}
			if ie != nil {
				ie.sent(now)
				me.lastOut = max(me.lastOut, now)
				continue
			}
			ie, ires := impl.open(c, r, now)
			me, mres := model.open(c, r, now)
			if ires != mres || (ie == nil) != (me == nil) || (ie != nil && (ie.client != me.client || ie.real != me.real)) {
				t.Fatalf("%s: open(%v, %v): impl %v %v, model %v %v", where, c, r, ires, ie, mres, me)
			}
		case 2: // inbound datagram or ICMP error
			r := pick(realPool)
			if rng.IntN(4) == 0 {
				r = pick(clientPool[3:])
			}
			ie, is := impl.lookupReal(r, now)
			me, ms := model.lookupReal(r, now)
			if is != ms || (ie != nil && ie.client != me.client) {
				t.Fatalf("%s: lookupReal(%v): impl %v %v, model %v %v", where, r, is, ie, ms, me)
			}
			if is == entryLive {
				ie.received(now)
				me.lastIn, me.answered = max(me.lastIn, now), true
			}
		case 3: // a flow torn down (its resource removed)
			c := pick(clientPool)
			if ie := impl.lookupClient(c, now); ie != nil {
				impl.remove(ie)
				model.remove(model.lookupClient(c, now))
			}
		case 4:
			impl.expire(now)
		}
		model.advance(now)
		if impl.next > model.minDeadline() {
			t.Fatalf("%s: next %v is later than the earliest deadline %v", where, impl.next, model.minDeadline())
		}
		if eager && (impl.live != model.count(false) || impl.tombs != model.count(true)) {
			t.Fatalf("%s: impl %d live %d tombs, model %d live %d tombs",
				where, impl.live, impl.tombs, model.count(false), model.count(true))
		}
		if impl.live > maxLive || impl.tombs > maxTombs || len(impl.entries) > maxLive+maxTombs+1 {
			t.Fatalf("%s: bounds broken: %d live, %d tombs, %d slots", where, impl.live, impl.tombs, len(impl.entries))
		}
	}
}

func TestNATDifferentialEager(t *testing.T) {
	for seed := range uint64(30) {
		natDiffCase(t, seed, 6, 3, 90*time.Second, true)
	}
}

func TestNATDifferentialLazy(t *testing.T) {
	for seed := range uint64(30) {
		natDiffCase(t, seed, 6, 1000, 90*time.Second, false)
	}
}

func TestNATDifferentialNoTombstones(t *testing.T) {
	for seed := range uint64(10) {
		natDiffCase(t, seed, 4, 0, 90*time.Second, true)
	}
}
