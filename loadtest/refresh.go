package loadtest

import (
	"errors"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

var errNoRelayedAddress = errors.New("success response without XOR-RELAYED-ADDRESS")

// refresher keeps an allocation usable during a long data phase: every
// interval it refreshes the allocation (Refresh, RFC 8656 §8) and its send
// path (ChannelBind again for the same peer, or CreatePermission, which
// refresh the binding and the 300 s permission, RFC 8656 §9, §12.2). The
// requests are sent from the session's loop without waiting; responses
// arrive among the probes and come back here. An unanswered request counts
// as a timeout when the next round starts. It is owned by the session's
// loop goroutine.
type refresher struct {
	interval time.Duration
	next     mono.Time
	pending  [2]pendingRequest
	failures map[string]uint64
	ok       uint64 // requests answered with success
}

// pendingRequest is one outstanding refresh-type request.
type pendingRequest struct {
	op      string
	build   func(*turnwire.Auth) (turnwire.Request, error)
	txid    [12]byte
	active  bool
	retried bool // already re-sent once after a 438
}

// arm sets up the refresher for session s starting at now. The first round
// is staggered by allocation so thousands of allocations do not refresh in
// the same instant.
func (r *refresher) arm(s *session, interval time.Duration, now mono.Time) {
	r.interval = interval
	stagger := time.Duration(s.id%32) * interval / 64
	r.next = now.Add(interval/2 + stagger)
	r.pending[0] = pendingRequest{op: "refresh", build: func(a *turnwire.Auth) (turnwire.Request, error) {
		return turnwire.RefreshRequest(a, 600)
	}}
	if s.channel != 0 {
		r.pending[1] = pendingRequest{op: "bind", build: func(a *turnwire.Auth) (turnwire.Request, error) {
			return turnwire.ChannelBindRequest(a, s.channel, s.peer)
		}}
	} else {
		r.pending[1] = pendingRequest{op: "permission", build: func(a *turnwire.Auth) (turnwire.Request, error) {
			return turnwire.CreatePermissionRequest(a, s.peer)
		}}
	}
}

// due reports whether a round should start.
func (r *refresher) due(now mono.Time) bool { return r.interval > 0 && !now.Before(r.next) }

// start sends one round of refresh requests.
func (r *refresher) start(s *session, now mono.Time) {
	r.next = now.Add(r.interval)
	for i := range r.pending {
		p := &r.pending[i]
		if p.active {
			r.fail(p.op + ":timeout")
		}
		p.retried = false
		r.send(s, p)
	}
}

func (r *refresher) send(s *session, p *pendingRequest) {
	req, err := p.build(s.cl.auth)
	if err != nil {
		p.active = false
		r.fail(p.op + ":transport")
		return
	}
	p.txid, p.active = req.TransactionID, true
	if err := s.cl.conn.writeFrame(req.Raw); err != nil {
		bump(&s.cnt.writeErrors)
	}
}

// onResponse handles a STUN response frame received by the loop. A 438
// teaches a new nonce and the request is re-sent once (RFC 8489 §9.2.5).
func (r *refresher) onResponse(s *session, f []byte, _ mono.Time) {
	resp, err := turnwire.ParseResponse(f)
	if err != nil {
		bump(&s.cnt.stray)
		return
	}
	for i := range r.pending {
		p := &r.pending[i]
		if !p.active || p.txid != resp.TransactionID {
			continue
		}
		switch {
		case resp.Code == 438 && resp.Nonce != "" && !p.retried:
			s.cl.auth.Learn(resp.Realm, resp.Nonce)
			p.retried = true
			r.send(s, p)
		case resp.Code != 0:
			p.active = false
			r.fail(failureKey(&ErrorResponse{Op: p.op, Code: resp.Code}))
		default:
			p.active = false
			if resp.VerifyIntegrity(s.cl.auth.Key()) != nil {
				r.fail(p.op + ":integrity")
			} else {
				r.ok++
			}
		}
		return
	}
	// A response to nothing pending: a duplicate or a late answer.
	bump(&s.cnt.stray)
}

func (r *refresher) fail(key string) {
	if r.failures == nil {
		r.failures = make(map[string]uint64)
	}
	r.failures[key]++
}
