package relay

import (
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/turncore"
)

// handler is the per-goroutine state for processing STUN messages: the
// core's processor (parsed message, response buffer, scratch) and the
// sender its answers leave through, reused for every message so that
// processing allocates as little as possible. Not safe for concurrent use:
// each packet loop and each stream connection owns one.
type handler struct {
	s      *Server
	c      *counters
	proc   *turncore.Processor
	sender sender
}

func newHandler(s *Server, c *counters) *handler {
	return &handler{s: s, c: c, proc: s.core.NewProcessor()}
}

// handleSTUN processes one STUN message from a client: the core decides
// (package turncore), the handler binds the sockets it asks for, carries
// out its actions and sends the response. raw is owned by the caller and
// only read during the call.
func (h *handler) handleSTUN(from *clientPath, raw []byte, now mono.Time) {
	var wall time.Time
	if turncore.NeedsWall(raw) {
		wall = h.s.clock.Wall()
	}
	r := h.proc.Handle(from.ft, raw, now, wall)
	for r.Step != turncore.StepDone {
		h.execute(from, r.Actions, now)
		switch r.Step {
		case turncore.StepOpen:
			r = h.proc.Opened(h.s.openRelay(r.Open))
		case turncore.StepCommit:
			r = h.commit(from, &r, now)
		}
	}
	h.account(from, &r.Outcome, now)
	h.execute(from, r.Actions, now)
	if r.Response != nil {
		from.respond(r.Response, &h.sender, h.c)
	}
}

// execute carries out the core's actions for a message from client from.
func (h *handler) execute(from *clientPath, actions []turncore.Action, now mono.Time) {
	for i := range actions {
		act := &actions[i]
		switch act.Kind {
		case turncore.ActCloseSocket:
			h.s.closeHandle(act.Handle)
		case turncore.ActConnect:
			h.s.dialPeer(act.Alloc.Ext.(*session), act)
		case turncore.ActConnectionBound:
			// RFC 6062 §5.4: after the response, raw bytes (stream.go).
			from.stream.bindPeer(act.Handle.(*peerConn))
		case turncore.ActCloseConnection:
			h.s.closeConnection(act)
		case turncore.ActCloseFamily:
			// RFC 8656 §8.1: one family of a dual allocation ends.
			sess := act.Alloc.Ext.(*session)
			if h.s.watch != nil {
				h.s.watch.ended(sess, act.Family, AllocationDeleted, now)
			}
			if act.Family == allocation.FamilyIPv4 {
				sess.relay4.close()
			} else {
				sess.relay6.close()
			}
		case turncore.ActCreated:
			h.s.emit(EventCreated, act.Alloc, now)
		case turncore.ActRefreshed:
			h.s.emit(EventRefreshed, act.Alloc, now)
		case turncore.ActDeleted:
			h.s.deleteAllocation(act.Alloc, now, EventDeleted)
		case turncore.ActToPeer:
			h.toPeer(from, act, now)
		case turncore.ActDrop:
			h.c.drop(act.Drop)
		case turncore.ActChannelBound:
			if h.s.watch != nil {
				h.s.watch.channelBound(act.Alloc.Ext.(*session), act.Channel, act.Peer, now)
			}
		case turncore.ActPermitted:
			if h.s.watch != nil {
				h.s.watch.permitted(act.Alloc.Ext.(*session), act.Peer.Addr(), now)
			}
		case turncore.ActRelease:
			if x := extensionOf(act.Hook); x != nil {
				x.Closed(now)
			}
		}
	}
}

// account counts what the core reports about a request and logs what needs
// a line.
func (h *handler) account(from *clientPath, o *turncore.Outcome, now mono.Time) {
	if o.AuthFailed {
		h.s.countAuthFailure(o.Auth.Reason)
		h.s.logAuthFailure(from, &o.Auth, now)
	}
	if o.LegacyChannel {
		h.s.logLegacyChannel(from, now)
	}
	if o.PeerDenied != nil {
		h.s.countPeerDenied(o.PeerDenied)
	}
	if o.Counted {
		h.s.countRequest(o.Method, o.Code)
	}
	if o.BuildError != nil {
		// A bug: the core answers with silence rather than a truncated
		// message.
		h.s.log.Error("response did not fit", "method", o.Method.String(), "error", o.BuildError.Error())
	}
}
