package gateway

import (
	"math"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// natTable is one allocation's DNS-resource NAT (docs/gateway.md "DNS and
// flows").
//
// A flow is keyed by the address the client sends to — proxy IP:port, or for
// a CIDR resource the resource address itself — and holds the real IP:port
// chosen when the flow started. A reverse index maps real IP:port back to
// the flow. Both keys are unique: a second flow that would reuse a live
// flow's real IP:port is refused (openCollision), so a reply can only ever
// be attributed to one client-side address.
//
// Entries live in a slab indexed by int32 so the maps hold no pointers and a
// lookup on an existing flow allocates nothing. A live entry expires at its
// deadline (natEntry.deadline); it then becomes a tombstone that stays in the
// reverse index until TombstoneLifetime past that deadline, so a late reply
// is recognized and dropped rather than treated as unrelated traffic. At
// most maxTombs tombstones are kept; past that the one expiring first is
// forgotten (ties broken by real address, so the outcome does not depend on
// when expire is called).
//
// Expiry is lazy and explicit: lookups treat an entry past its deadline as
// expired (so whether a flow is live never depends on how often expire
// runs), and expire(now) sweeps. The sweep is skipped while now < next, a lower bound
// of every deadline in the table (deadlines only move later).
//
// Timestamps never move backwards: a now older than what an entry has seen
// (callers on different goroutines read the clock at different times) is
// treated as that time.
//
// Pointers returned by lookups and open stay valid until the next open.
// natTable is not safe for concurrent use.
type natTable struct {
	byClient map[netip.AddrPort]int32 // live entries only
	byReal   map[netip.AddrPort]int32 // live entries and tombstones
	entries  []natEntry
	free     []int32
	live     int
	tombs    int
	maxLive  int
	maxTombs int
	tombLife time.Duration
	next     mono.Time
}

type entryState uint8

const (
	entryFree entryState = iota
	entryLive
	entryTomb
)

type natEntry struct {
	client   netip.AddrPort
	real     netip.AddrPort
	lastOut  mono.Time
	lastIn   mono.Time
	tombEnd  mono.Time
	answered bool
	state    entryState
	// authSnap and authReason cache the Session's verdict on this flow for
	// one snapshot (Session.judgeFlow).
	authSnap   *Snapshot
	authReason Reason
}

// deadline is when a live entry expires: FlowIdleTimeout after the last
// datagram either way once it saw a reply, UnansweredFlowTimeout after the
// last outbound datagram before that.
func (e *natEntry) deadline() mono.Time {
	if e.answered {
		return max(e.lastOut, e.lastIn).Add(FlowIdleTimeout)
	}
	return e.lastOut.Add(UnansweredFlowTimeout)
}

// sent records an outbound datagram on the flow.
func (e *natEntry) sent(now mono.Time) { e.lastOut = max(e.lastOut, now) }

// received records a reply or an ICMP error on the flow.
func (e *natEntry) received(now mono.Time) {
	e.lastIn = max(e.lastIn, now)
	e.answered = true
}

// isDirect reports whether the flow is a CIDR resource flow (no
// translation).
func (e *natEntry) isDirect() bool { return e.client.Addr() == e.real.Addr() }

const noDeadline = mono.Time(math.MaxInt64)

func newNATTable(maxLive, maxTombs int, tombLife time.Duration) natTable {
	return natTable{
		byClient: make(map[netip.AddrPort]int32),
		byReal:   make(map[netip.AddrPort]int32),
		maxLive:  maxLive,
		maxTombs: maxTombs,
		tombLife: tombLife,
		next:     noDeadline,
	}
}

// lookupClient returns the live flow the client addresses as client, or nil.
func (t *natTable) lookupClient(client netip.AddrPort, now mono.Time) *natEntry {
	i, ok := t.byClient[client]
	if !ok {
		return nil
	}
	if now >= t.entries[i].deadline() {
		t.retire(i)
		return nil
	}
	return &t.entries[i]
}

// lookupReal returns the entry whose real address is real and its state:
// entryLive, entryTomb, or entryFree (nil entry) when there is none.
func (t *natTable) lookupReal(real netip.AddrPort, now mono.Time) (*natEntry, entryState) {
	i, ok := t.byReal[real]
	if !ok {
		return nil, entryFree
	}
	e := &t.entries[i]
	if e.state == entryLive && now >= e.deadline() {
		t.retire(i)
	}
	if e.state == entryTomb && now >= e.tombEnd {
		t.release(i)
		return nil, entryFree
	}
	if e.state == entryFree { // retire forgot it at once (no tombstones kept)
		return nil, entryFree
	}
	return e, e.state
}

type openResult uint8

const (
	openCreated openResult = iota
	openExisting
	openCollision
	openFull
)

// open returns the live flow for client, creating it towards real (with an
// outbound datagram at now) if there is none. A tombstone on real is
// replaced. It fails with openCollision when another live flow uses real,
// and with openFull when maxLive flows are live even after a sweep.
func (t *natTable) open(client, real netip.AddrPort, now mono.Time) (*natEntry, openResult) {
	if e := t.lookupClient(client, now); e != nil {
		return e, openExisting
	}
	if old, state := t.lookupReal(real, now); state == entryLive {
		return old, openCollision
	} else if state == entryTomb {
		t.release(t.byReal[real])
	}
	if t.live >= t.maxLive {
		t.sweep(now)
		if t.live >= t.maxLive {
			return nil, openFull
		}
	}
	var i int32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		t.entries = append(t.entries, natEntry{})
		i = int32(len(t.entries) - 1)
	}
	t.entries[i] = natEntry{client: client, real: real, lastOut: now, lastIn: now, state: entryLive}
	t.byClient[client] = i
	t.byReal[real] = i
	t.live++
	t.next = min(t.next, t.entries[i].deadline())
	return &t.entries[i], openCreated
}

// remove forgets a live flow at once, without a tombstone.
func (t *natTable) remove(e *natEntry) {
	if i, ok := t.byClient[e.client]; ok && &t.entries[i] == e {
		t.release(i)
	}
}

// retire turns live entry i into a tombstone, or forgets it when no
// tombstones are kept or it is a CIDR flow.
func (t *natTable) retire(i int32) {
	e := &t.entries[i]
	delete(t.byClient, e.client)
	t.live--
	// A CIDR flow needs no tombstone: its real address is the one the
	// client used, so a late reply is ordinary traffic from that address.
	if t.maxTombs == 0 || t.tombLife <= 0 || e.isDirect() {
		delete(t.byReal, e.real)
		e.state = entryFree
		t.free = append(t.free, i)
		return
	}
	e.state = entryTomb
	e.tombEnd = e.deadline().Add(t.tombLife)
	t.tombs++
	t.next = min(t.next, e.tombEnd)
	if t.tombs > t.maxTombs {
		t.release(t.oldestTomb())
	}
}

// oldestTomb returns the tombstone that expires first (ties: lowest real
// address). It scans the slab; it runs only when the tombstone cap is hit.
func (t *natTable) oldestTomb() int32 {
	best := int32(-1)
	for i := range t.entries {
		e := &t.entries[i]
		if e.state != entryTomb {
			continue
		}
		if best < 0 {
			best = int32(i)
			continue
		}
		b := &t.entries[best]
		if e.tombEnd < b.tombEnd || (e.tombEnd == b.tombEnd && e.real.Compare(b.real) < 0) {
			best = int32(i)
		}
	}
	return best
}

// release frees entry i, live or tombstone.
func (t *natTable) release(i int32) {
	e := &t.entries[i]
	switch e.state {
	case entryLive:
		delete(t.byClient, e.client)
		t.live--
	case entryTomb:
		t.tombs--
	default:
		return
	}
	delete(t.byReal, e.real)
	*e = natEntry{}
	t.free = append(t.free, i)
}

// expire retires live entries past their deadline and forgets tombstones
// past their end. It costs nothing until the earliest deadline.
func (t *natTable) expire(now mono.Time) {
	if now < t.next {
		return
	}
	t.sweep(now)
}

// sweep is expire without the shortcut; it recomputes next.
func (t *natTable) sweep(now mono.Time) {
	next := noDeadline
	for i := range t.entries {
		e := &t.entries[i]
		if e.state == entryLive && now >= e.deadline() {
			t.retire(int32(i))
		}
		switch {
		case e.state == entryTomb && now >= e.tombEnd:
			t.release(int32(i))
		case e.state == entryTomb:
			next = min(next, e.tombEnd)
		case e.state == entryLive:
			next = min(next, e.deadline())
		}
	}
	t.next = next
}

// nextDeadline returns when expire next has work to do (noDeadline if
// never).
func (t *natTable) nextDeadline() mono.Time { return t.next }
