package relay

import (
	"container/heap"
	"net/netip"
	"sync"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// bindingWatch tells Config.Observer about channel bindings (extension.go):
// usable when a ChannelBind succeeds or a CreatePermission renews a live
// channel's permission, unusable when the channel or the permission
// expires or the allocation ends. It exists only with an Observer.
//
// Expiry: each usable binding has one entry in a deadline queue, at the
// earlier of its channel's and its permission's deadlines (Binding.Expires,
// told again when a refresh moves it), and the relay's
// housekeeping timer (which runs no later than the queue's earliest
// deadline) re-checks the due ones. A refresh does not touch the queue: an
// entry that falls due for a binding refreshed meanwhile finds it still
// usable and is queued again at its new deadline, so refreshes cost
// nothing here.
//
// One mutex guards the queue and every session's bindings; it is taken on
// requests and expiry only, never on the data path.
type bindingWatch struct {
	obs   Observer
	mu    sync.Mutex
	queue watchQueue
}

// watchedBinding is one channel of a session as the observer knows it.
type watchedBinding struct {
	sess   *session
	ch     uint16
	peer   netip.AddrPort
	usable bool      // as last told to the observer
	at     mono.Time // the queued deadline while usable
	told   mono.Time // the Expires last told while usable
}

// channelBound records a successful ChannelBind of ch to peer on sess.
func (w *bindingWatch) channelBound(sess *session, ch uint16, peer netip.AddrPort, now mono.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sess.watched == nil {
		sess.watched = make(map[uint16]*watchedBinding)
	}
	b := sess.watched[ch]
	if b != nil && b.peer != peer {
		// The number was bound to another peer that expired past its
		// reuse delay (RFC 8656 §12); that binding was told unusable.
		w.drop(b, ChannelExpired, now)
		b = nil
	}
	if b == nil {
		b = &watchedBinding{sess: sess, ch: ch, peer: peer}
		sess.watched[ch] = b
	}
	w.check(b, now)
}

// permitted records a CreatePermission for ip on sess: bindings to ip that
// had only lost their permission are usable again.
func (w *bindingWatch) permitted(sess *session, ip netip.Addr, now mono.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range sess.watched {
		if b.peer.Addr() == ip {
			w.check(b, now)
		}
	}
}

// ended tells the observer that every usable binding of sess ends with its
// allocation, or (family valid) with its relayed address of that family.
func (w *bindingWatch) ended(sess *session, family allocation.Family, why Unusable, now mono.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch, b := range sess.watched {
		if f, _ := allocation.FamilyOf(b.peer.Addr()); family != 0 && f != family {
			continue
		}
		w.drop(b, why, now)
		delete(sess.watched, ch)
	}
}

// expire re-checks the bindings whose deadlines are due at now and returns
// the earliest deadline left. Only housekeep calls it.
func (w *bindingWatch) expire(now mono.Time) (mono.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) > 0 && w.queue[0].at <= now {
		e := heap.Pop(&w.queue).(watchEntry)
		if e.b.usable && e.b.at == e.at {
			e.b.at = 0
			w.check(e.b, now)
		}
	}
	if len(w.queue) == 0 {
		return 0, false
	}
	return w.queue[0].at, true
}

// check compares b with the allocation at now, tells the observer when
// its usability changed, and queues its deadline while it is usable.
// Called with w.mu held.
func (w *bindingWatch) check(b *watchedBinding, now mono.Time) {
	a := b.sess.alloc
	peer, chanEnd, chanOK := a.ChannelExpires(b.ch, now)
	chanOK = chanOK && peer == b.peer
	permEnd, permOK := a.PermissionExpires(b.peer.Addr(), now)
	rs := b.sess.relayFor(b.peer.Addr())
	switch {
	case chanOK && permOK && rs != nil:
		at := min(chanEnd, permEnd)
		if !b.usable || at != b.told {
			// New, or refreshed: a data path that enforces the deadline
			// itself (the XDP maps) learns the new one.
			b.usable, b.told = true, at
			bd := w.binding(b, rs)
			bd.Expires = at
			w.obs.BindingUsable(bd, now)
		}
		if at != b.at {
			b.at = at
			heap.Push(&w.queue, watchEntry{at: at, b: b})
		}
	case !chanOK:
		w.drop(b, ChannelExpired, now)
	case !permOK:
		w.drop(b, PermissionExpired, now)
	default:
		w.drop(b, AllocationDeleted, now)
	}
}

// drop tells the observer that b stopped being usable, if it was. Its
// queue entry goes stale. Called with w.mu held.
func (w *bindingWatch) drop(b *watchedBinding, why Unusable, now mono.Time) {
	if !b.usable {
		return
	}
	b.usable, b.at, b.told = false, 0, 0
	w.obs.BindingUnusable(w.binding(b, b.sess.relayOfFamily(b.peer.Addr())), why, now)
}

// binding is b as the observer sees it.
func (w *bindingWatch) binding(b *watchedBinding, rs *relaySocket) Binding {
	out := Binding{Client: b.sess.client.ft, Channel: b.ch, Peer: b.peer}
	if rs != nil {
		out.Relayed = rs.sock.LocalAddr()
	}
	return out
}

// relayOfFamily is the relayed socket of peer's family, live or not.
func (s *session) relayOfFamily(peer netip.Addr) *relaySocket {
	if peer.Unmap().Is4() {
		return s.relay4
	}
	return s.relay6
}

// watchEntry is one queued deadline.
type watchEntry struct {
	at mono.Time
	b  *watchedBinding
}

// watchQueue is a min-heap of entries by deadline (container/heap).
type watchQueue []watchEntry

func (q watchQueue) Len() int           { return len(q) }
func (q watchQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q watchQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *watchQueue) Push(x any)        { *q = append(*q, x.(watchEntry)) }
func (q *watchQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = watchEntry{}
	*q = old[:len(old)-1]
	return e
}
