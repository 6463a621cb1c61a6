package relay

import (
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/turncore"
)

// commit is the shell's part of an Allocate whose relayed sockets are bound
// (RFC 8656 §7.2; the checks and the port choice are the core's): it
// builds the session, has the core create the allocation, and hands the
// sockets to a worker for polling before the response leaves. When they
// cannot be polled the core takes the allocation back and answers 508.
func (h *handler) commit(from *clientPath, r *turncore.Result, now mono.Time) turncore.Result {
	sess := &session{client: *from, ext: extensionOf(r.Hook), srv: h.s}
	if r.Relay4.Handle != nil {
		sess.relay4 = r.Relay4.Handle.(*relaySocket)
	}
	if r.Relay6.Handle != nil {
		sess.relay6 = r.Relay6.Handle.(*relaySocket)
	}
	sess.icmpBudget.Store(icmpBurst)
	sess.icmpRefill.Store(int64(now))
	res := h.proc.Commit(sess)
	a := res.Created
	if a == nil {
		return res
	}
	sess.alloc = a
	if err := h.s.attachRelays(sess); err != nil {
		h.s.log.Error("cannot poll relayed socket", "error", err.Error())
		return h.proc.Unwind(a)
	}
	if from.stream != nil {
		from.stream.attach(sess)
	}
	return res
}
