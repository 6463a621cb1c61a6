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
	for _, h := range []any{r.Relay4.Handle, r.Relay6.Handle} {
		switch h := h.(type) {
		case *tcpListener:
			sess.tcp = h // RFC 6062 §5.1: one listening socket
		case *relaySocket:
			if h.public.Addr().Is4() {
				sess.relay4 = h
			} else {
				sess.relay6 = h
			}
		}
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
