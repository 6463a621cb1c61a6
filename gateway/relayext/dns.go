package relayext

import (
	"context"
	"net/netip"
	"sync"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// Limits of the DNS sentinel's asynchronous resolutions. A resolution may
// take up to gateway.ResolveTimeout (10 s); the relay's packet loops never
// wait for one. Queries beyond these limits are dropped (counted as verdict
// drop/resolve_busy): DNS clients retry, and a flood must not grow the
// relay's memory or goroutines.
const (
	// maxResolutions bounds the domains being resolved at once, relay-wide
	// (one goroutine each).
	maxResolutions = 256
	// maxWaitingQueries bounds the queries waiting for a resolution,
	// relay-wide.
	maxWaitingQueries = 4096
	// maxPendingPerSession bounds one allocation's waiting queries, so that
	// one client cannot take the relay-wide budget.
	maxPendingPerSession = 16
	// dnsAnswerSize is the answer buffer; gateway.Session.Query and
	// Resolved need at most 512 bytes.
	dnsAnswerSize = 512
)

// query hands a datagram the client sent to the DNS sentinel to the core
// (gateway.Session.Query) and answers it at once, or starts (or joins) the
// resolution of its domain. msg is only read during the call.
func (s *session) query(client relay.Client, sentinel netip.AddrPort, msg []byte, now mono.Time, lane int) {
	out := make([]byte, 0, dnsAnswerSize)
	s.mu.Lock()
	v, q, answer := s.core.Query(msg, now, out)
	s.mu.Unlock()
	c := s.x.lane(lane)
	c.count(v)
	switch v.Action {
	case gateway.ActionAnswer:
		client.DeliverData(sentinel, answer)
	case gateway.ActionResolve:
		if !s.x.dns.join(s, client, sentinel, q) {
			c.countResolveBusy()
		}
	}
}

// resolutions runs resource-domain resolutions for the sentinel, one
// goroutine per domain in flight, coalescing concurrent queries for the
// same domain (from any allocation) onto one resolution.
type resolutions struct {
	x        *Extension
	mu       sync.Mutex
	inflight map[string]*resolution // by normalized domain
	waiting  int                    // queries in all inflight resolutions
}

// resolution is one domain being resolved and the queries waiting for it.
type resolution struct {
	waiters []waitingQuery
}

// waitingQuery is a query to answer when its domain's resolution ends,
// through the relay's Client of the allocation that asked.
type waitingQuery struct {
	sess     *session
	client   relay.Client
	sentinel netip.AddrPort
	q        gateway.Query
}

func (r *resolutions) init(x *Extension) {
	r.x = x
	r.inflight = make(map[string]*resolution)
}

// join queues q for the resolution of its domain, starting one if none is
// in flight. It reports false, queueing nothing, when a limit is reached
// or the relay is closing.
func (r *resolutions) join(s *session, client relay.Client, sentinel netip.AddrPort, q gateway.Query) bool {
	if s.pending.Add(1) > maxPendingPerSession {
		s.pending.Add(-1)
		return false
	}
	w := waitingQuery{sess: s, client: client, sentinel: sentinel, q: q}
	domain := q.Domain()
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.inflight[domain]
	switch {
	case r.waiting >= maxWaitingQueries, !ok && len(r.inflight) >= maxResolutions, r.x.ctx.Err() != nil:
		s.pending.Add(-1)
		return false
	case !ok:
		res = &resolution{}
		r.inflight[domain] = res
		r.x.wg.Add(1)
		go func() { defer r.x.wg.Done(); r.resolve(domain, res) }()
	}
	res.waiters = append(res.waiters, w)
	r.waiting++
	return true
}

// resolve resolves domain (A and AAAA, gateway.ResolveTimeout; an error or
// a timeout counts as no records) and answers every query that joined.
// Queries arriving while it runs join it, so each is answered with results
// at least as fresh as the query.
func (r *resolutions) resolve(domain string, res *resolution) {
	x := r.x
	ctx, cancel := context.WithTimeout(x.ctx, gateway.ResolveTimeout)
	v4, v6, err := x.resolver.Resolve(ctx, domain)
	cancel()
	if err != nil {
		v4, v6 = nil, nil
	}
	r.mu.Lock()
	delete(r.inflight, domain)
	waiters := res.waiters
	r.waiting -= len(waiters)
	r.mu.Unlock()

	out := make([]byte, 0, dnsAnswerSize)
	for _, w := range waiters {
		w.sess.pending.Add(-1)
		if x.ctx.Err() != nil {
			continue // the relay is closing: its client sockets are going away
		}
		w.sess.mu.Lock()
		v, answer := w.sess.core.Resolved(w.q, v4, v6, out)
		w.sess.mu.Unlock()
		x.shared().count(v)
		if v.Action == gateway.ActionAnswer {
			w.client.DeliverData(w.sentinel, answer)
		}
	}
}
