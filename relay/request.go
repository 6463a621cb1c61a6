package relay

import (
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/txcache"
)

// maxResponse bounds every response the relay builds. RFC 8489 §6.1 asks to
// keep UDP responses under 548 bytes for IPv4 when the path MTU is unknown;
// ours stay far below (the longest, a 420 listing unknown attributes, is
// bounded by maxUnknownListed).
const maxResponse = 1024

// maxUnknownListed bounds UNKNOWN-ATTRIBUTES in a 420 (the request can carry
// at most stunmsg.MaxAttributes anyway).
const maxUnknownListed = 32

// handler is the per-goroutine state for processing STUN messages: a parsed
// message, a response builder and scratch buffers, reused for every request
// so that processing allocates as little as possible. Not safe for concurrent
// use: each packet loop and each stream connection owns one.
type handler struct {
	s        *Server
	c        *counters
	msg      stunmsg.Message
	b        stunmsg.Builder
	out      [maxResponse]byte
	unknown  []uint16
	peers    []netip.Addr
	peerPort []netip.AddrPort
	sender   sender
}

func newHandler(s *Server, c *counters) *handler {
	return &handler{
		s:        s,
		c:        c,
		unknown:  make([]uint16, 0, stunmsg.MaxAttributes),
		peers:    make([]netip.Addr, 0, stunmsg.MaxAttributes),
		peerPort: make([]netip.AddrPort, 0, stunmsg.MaxAttributes),
	}
}

// request carries what the method handlers need about one authenticated
// request.
type request struct {
	from     *clientPath
	now      mono.Time
	wall     time.Time
	key      auth.Key
	username string
	user     string
}

// handleSTUN processes one STUN message from a client. raw is owned by the
// caller and only read during the call.
func (h *handler) handleSTUN(from *clientPath, raw []byte, now mono.Time) {
	m := &h.msg
	if err := m.Parse(raw); err != nil {
		h.c.drop(DropMalformedSTUN)
		return
	}
	switch m.Class {
	case stunmsg.Indication:
		h.handleIndication(from, now)
		return
	case stunmsg.Request:
	default:
		// RFC 8489 §6.3: a server receives no responses; drop them.
		h.c.drop(DropUnexpectedClass)
		return
	}
	switch m.Method {
	case stunmsg.Binding, stunmsg.Allocate, stunmsg.Refresh, stunmsg.CreatePermission, stunmsg.ChannelBind:
	default:
		// RFC 8489 §6.3: unknown methods (and Send/Data, which are
		// indication-only) are not processed.
		h.c.drop(DropUnexpectedClass)
		return
	}

	// A retransmission gets the answer the original got (RFC 8489 §6.3.1,
	// RFC 8656 §5). Streams are reliable, so only datagram transports cache.
	var cacheKey txcache.Key
	cached := from.udp != nil
	if cached {
		cacheKey = txcache.MakeKey(from.ft.Client, from.ft.Server, uint8(from.ft.Transport), m.TransactionID)
		if resp, ok := h.s.txcache.Get(cacheKey, now); ok {
			h.s.retransmits.Add(1)
			from.send(resp, &h.sender, h.c)
			return
		}
	}

	resp := h.processRequest(from, now)
	if resp == nil {
		return
	}
	if cached {
		h.s.txcache.Put(cacheKey, resp, now)
	}
	from.send(resp, &h.sender, h.c)
}

// processRequest runs a validated request through authentication, the
// unknown-attribute check and its method, and returns the response bytes
// (aliasing h.out) or nil when no response is due.
func (h *handler) processRequest(from *clientPath, now mono.Time) []byte {
	m := &h.msg
	if m.Method == stunmsg.Binding {
		return h.binding(from)
	}

	// RFC 8489 §6.3: authentication comes before the unknown-attribute
	// check, so an unauthenticated request with an unknown attribute gets 401.
	wall := h.s.wallClock()
	req := request{from: from, now: now, wall: wall}
	d := h.authenticate(from, wall)
	if d.Code != 0 {
		h.s.countAuthFailure(d.Reason)
		h.s.logAuthFailure(from, &d, now)
		return h.errorResponse(d.Code, nil, d.AttachNonce, from)
	}
	req.key, req.username, req.user = d.Key, d.Username, d.User

	if h.unknown = m.UnknownRequired(h.unknown[:0]); len(h.unknown) > 0 {
		return h.unknownAttributes(&req)
	}

	if m.Method == stunmsg.Allocate {
		return h.allocate(&req)
	}
	// RFC 8656 §5: every other request needs the 5-tuple's allocation, made
	// by the same user (441 otherwise).
	a := h.s.table.Lookup(from.ft, now)
	if a == nil {
		return h.errorResponse(437, &req.key, false, from)
	}
	if a.Username != req.username {
		return h.errorResponse(441, &req.key, false, from)
	}
	switch m.Method {
	case stunmsg.Refresh:
		return h.refresh(&req, a)
	case stunmsg.CreatePermission:
		return h.createPermission(&req, a)
	default:
		return h.channelBind(&req, a)
	}
}

// authenticate runs the RFC 8489 §9.2.4 long-term credential checks.
func (h *handler) authenticate(from *clientPath, wall time.Time) auth.Decision {
	m := &h.msg
	var r auth.Request
	r.Client = from.ft.Client
	r.HasIntegrity = m.IntegrityAt >= 0 || m.IntegritySHA256At >= 0
	if v, ok := m.Get(stunmsg.AttrUsername); ok {
		r.Username = v
	}
	if v, ok := m.Get(stunmsg.AttrRealm); ok {
		r.Realm = v
	}
	if v, ok := m.Get(stunmsg.AttrNonce); ok {
		r.Nonce = v
	}
	lookup := func(username, realm string, now time.Time) (auth.Keys, string, error) {
		return h.s.policy.Authenticate(username, realm, from.ft.Client, now)
	}
	// RFC 8489 §9.2.4: MESSAGE-INTEGRITY-SHA256 is the one verified when
	// present, even next to a MESSAGE-INTEGRITY.
	check := func(k auth.Key) bool {
		if m.IntegritySHA256At >= 0 {
			return m.CheckIntegritySHA256(k[:])
		}
		return m.CheckIntegrity(k[:])
	}
	return auth.Verify(r, lookup, h.s.nonces, h.s.cfg.Realm, check, wall)
}

// binding answers a Binding request (RFC 8489 §6.3.1.1): no authentication
// on a public relay, XOR-MAPPED-ADDRESS of the request's source.
func (h *handler) binding(from *clientPath) []byte {
	if h.unknown = h.msg.UnknownRequired(h.unknown[:0]); len(h.unknown) > 0 {
		return h.unknownAttributes(&request{from: from})
	}
	h.start(stunmsg.Success)
	h.b.AddXORAddress(stunmsg.AttrXORMappedAddress, from.ft.Client)
	return h.finish(nil)
}

// unknownAttributes answers 420 listing the unknown comprehension-required
// attributes (RFC 8489 §6.3.1.1, §14.13).
func (h *handler) unknownAttributes(req *request) []byte {
	list := h.unknown
	if len(list) > maxUnknownListed {
		list = list[:maxUnknownListed]
	}
	h.start(stunmsg.Error)
	h.b.AddErrorCode(420, "")
	h.b.AddUnknownAttributes(list)
	var key *auth.Key
	if req.username != "" {
		key = &req.key
	}
	return h.finish(key)
}

// errorResponse builds an error response. key is the authenticated user's
// key when the request passed authentication (the response is then
// integrity-protected, RFC 8489 §9.2.4), nil otherwise. withNonce adds REALM
// and a fresh NONCE (the 401 and 438 challenges of RFC 8489 §9.2.4).
func (h *handler) errorResponse(code int, key *auth.Key, withNonce bool, from *clientPath) []byte {
	h.start(stunmsg.Error)
	h.b.AddErrorCode(code, "")
	if withNonce {
		h.b.Add(stunmsg.AttrRealm, []byte(h.s.cfg.Realm))
		h.b.Add(stunmsg.AttrNonce, []byte(h.s.nonces.Mint(from.ft.Client, h.s.wallClock())))
	}
	h.s.countRequest(h.msg.Method, code)
	return h.finish(key)
}

// start begins a response to the current request with the given class.
func (h *handler) start(class stunmsg.Class) {
	h.b.Reset(h.out[:0], stunmsg.MessageType(h.msg.Method, class), h.msg.TransactionID)
}

// finish appends SOFTWARE (RFC 8489 §14.14, RFC 8656 §5), MESSAGE-INTEGRITY
// when the request was authenticated (RFC 8489 §9.2.4), and FINGERPRINT when
// the request carried one (RFC 8489 §7), and returns the encoded response.
func (h *handler) finish(key *auth.Key) []byte {
	if sw := h.s.cfg.Software; sw != "" {
		h.b.Add(stunmsg.AttrSoftware, []byte(sw))
	}
	if key != nil {
		if h.msg.IntegritySHA256At >= 0 {
			h.b.AddIntegritySHA256(key[:])
		} else {
			h.b.AddIntegrity(key[:])
		}
	}
	if h.msg.FingerprintAt >= 0 {
		h.b.AddFingerprint()
	}
	out, err := h.b.Bytes()
	if err != nil {
		// Our responses are bounded well below maxResponse; reaching this is
		// a bug, answered with silence rather than a truncated message.
		h.s.log.Error("response did not fit", "method", h.msg.Method.String(), "error", err.Error())
		return nil
	}
	return out
}

// successResponse starts a success response; callers add attributes and call
// finish with the request's key.
func (h *handler) successResponse(req *request) {
	h.start(stunmsg.Success)
	h.s.countRequest(h.msg.Method, 0)
}

// lifetimeAttr reads LIFETIME (RFC 8656 §18.2); present is false when the
// attribute is absent, ok is false when it is malformed.
func (h *handler) lifetimeAttr() (seconds uint32, present, ok bool) {
	v, found := h.msg.Get(stunmsg.AttrLifetime)
	if !found {
		return 0, false, true
	}
	s, ok := stunmsg.DecodeLifetime(v)
	return s, true, ok
}

// familyMatches reports whether the allocation still has a relayed address
// of the peer's family (RFC 8656 §10.2, §12.2: 443 otherwise; §8.1: a
// family deleted by Refresh is gone).
func familyMatches(a *allocation.Allocation, peer netip.Addr) bool {
	return a.Ext.(*session).relayFor(peer) != nil
}
