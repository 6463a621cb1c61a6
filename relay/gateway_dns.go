package relay

import (
	"context"
	"net/netip"
	"sync"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Limits of the DNS sentinel's asynchronous resolutions. A resolution may
// take up to gateway.ResolveTimeout (10 s); the packet loops never wait for
// one. Queries beyond these limits are dropped (counted as verdict
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

// gatewayQuery hands a datagram the client sent to the DNS sentinel to the
// core (gateway.Session.Query) and answers it at once, or starts (or joins)
// the resolution of its domain. msg is only read during the call.
func (s *Server) gatewayQuery(sess *session, sentinel netip.AddrPort, msg []byte, now mono.Time, sd *sender, c *counters) {
	gs := sess.gw
	out := make([]byte, 0, dnsAnswerSize)
	gs.mu.Lock()
	v, q, answer := gs.core.Query(msg, now, out)
	gs.mu.Unlock()
	c.gateway.count(v)
	switch v.Action {
	case gateway.ActionAnswer:
		s.gatewayDataToClient(sess, sentinel, answer, now, sd, c)
	case gateway.ActionResolve:
		if !s.gw.dns.join(sess, sentinel, q) {
			c.gateway.countResolveBusy()
		}
	}
}

// resolutions runs resource-domain resolutions for the sentinel, one
// goroutine per domain in flight, coalescing concurrent queries for the
// same domain (from any allocation) onto one resolution.
type resolutions struct {
	shell    *gatewayShell
	mu       sync.Mutex
	inflight map[string]*resolution // by normalized domain
	waiting  int                    // queries in all inflight resolutions
}

// resolution is one domain being resolved and the queries waiting for it.
type resolution struct {
	waiters []waitingQuery
}

// waitingQuery is a query to answer when its domain's resolution ends.
type waitingQuery struct {
	sess     *session
	sentinel netip.AddrPort
	q        gateway.Query
}

func (r *resolutions) init(shell *gatewayShell) {
	r.shell = shell
	r.inflight = make(map[string]*resolution)
}

// join queues q for the resolution of its domain, starting one if none is
// in flight. It reports false, queueing nothing, when a limit is reached
// or the relay is closing.
func (r *resolutions) join(sess *session, sentinel netip.AddrPort, q gateway.Query) bool {
	gs := sess.gw
	if gs.pending.Add(1) > maxPendingPerSession {
		gs.pending.Add(-1)
		return false
	}
	w := waitingQuery{sess: sess, sentinel: sentinel, q: q}
	domain := q.Domain()
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.inflight[domain]
	switch {
	case r.waiting >= maxWaitingQueries, !ok && len(r.inflight) >= maxResolutions, r.shell.ctx.Err() != nil:
		gs.pending.Add(-1)
		return false
	case !ok:
		res = &resolution{}
		r.inflight[domain] = res
		r.shell.wg.Add(1)
		go func() { defer r.shell.wg.Done(); r.resolve(domain, res) }()
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
	shell := r.shell
	ctx, cancel := context.WithTimeout(shell.ctx, gateway.ResolveTimeout)
	v4, v6, err := shell.resolver.Resolve(ctx, domain)
	cancel()
	if err != nil {
		v4, v6 = nil, nil
	}
	r.mu.Lock()
	delete(r.inflight, domain)
	waiters := res.waiters
	r.waiting -= len(waiters)
	r.mu.Unlock()

	var sd sender
	out := make([]byte, 0, dnsAnswerSize)
	for _, w := range waiters {
		gs := w.sess.gw
		gs.pending.Add(-1)
		if shell.ctx.Err() != nil {
			continue // the relay is closing: its client sockets are going away
		}
		now := shell.srv.clock.Now()
		gs.mu.Lock()
		v, answer := gs.core.Resolved(w.q, v4, v6, out)
		gs.mu.Unlock()
		shell.c.gateway.count(v)
		if v.Action == gateway.ActionAnswer {
			shell.srv.gatewayDataToClient(w.sess, w.sentinel, answer, now, &sd, &shell.c)
		}
	}
}
