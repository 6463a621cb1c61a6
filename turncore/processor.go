package turncore

import (
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/txcache"
)

// MaxResponse bounds every response the core builds. RFC 8489 §6.1 asks to
// keep UDP responses under 548 bytes for IPv4 when the path MTU is unknown;
// ours stay far below (the longest, a 420 listing unknown attributes, is
// bounded by maxUnknownListed).
const MaxResponse = 1024

// maxUnknownListed bounds UNKNOWN-ATTRIBUTES in a 420 (the request can carry
// at most stunmsg.MaxAttributes anyway).
const maxUnknownListed = 32

// Processor is one packet loop's state for handling STUN messages: a parsed
// message, a response builder, scratch buffers and the action list, reused
// for every message so that processing allocates as little as possible. Not
// safe for concurrent use.
type Processor struct {
	c       *Core
	msg     stunmsg.Message
	b       stunmsg.Builder
	out     [MaxResponse]byte
	unknown []uint16
	peers   []netip.Addr
	actions []Action
	res     Result
	// cacheKey and cached: the transaction-cache entry the response goes
	// into once the (possibly two-phase) request is done.
	cacheKey txcache.Key
	cached   bool
	pending  pendingAllocate
}

// NewProcessor returns a processor for one packet loop.
func (c *Core) NewProcessor() *Processor {
	return &Processor{
		c:       c,
		unknown: make([]uint16, 0, stunmsg.MaxAttributes),
		peers:   make([]netip.Addr, 0, stunmsg.MaxAttributes),
		actions: make([]Action, 0, 8),
	}
}

// request carries what the method handlers need about one authenticated
// request.
type request struct {
	ft       allocation.FiveTuple
	now      mono.Time
	wall     time.Time
	key      auth.Key
	username string
	user     string
}

// Handle processes one STUN message from the client of ft, received at now
// (wall is the wall-clock time, for credentials and nonces). raw is owned by
// the caller and must stay unchanged until the result's Step is StepDone.
func (p *Processor) Handle(ft allocation.FiveTuple, raw []byte, now mono.Time, wall time.Time) Result {
	p.begin()
	m := &p.msg
	if err := m.Parse(raw); err != nil {
		return p.drop(DropMalformedSTUN)
	}
	switch m.Class {
	case stunmsg.Indication:
		p.indication(ft, now)
		return p.done(nil)
	case stunmsg.Request:
	default:
		// RFC 8489 §6.3: a server receives no responses; drop them.
		return p.drop(DropUnexpectedClass)
	}
	switch m.Method {
	case stunmsg.Binding, stunmsg.Allocate, stunmsg.Refresh, stunmsg.CreatePermission, stunmsg.ChannelBind:
	case stunmsg.Connect, stunmsg.ConnectionBind:
		// RFC 6062 §6.1: methods of TCP relaying, known only when it is on.
		if !p.c.cfg.TCP.Enabled {
			return p.drop(DropUnexpectedClass)
		}
	default:
		// RFC 8489 §6.3: unknown methods (and Send/Data, which are
		// indication-only) are not processed.
		return p.drop(DropUnexpectedClass)
	}
	p.res.Outcome.Method = m.Method

	// A retransmission gets the answer the original got (RFC 8489 §6.3.1,
	// RFC 8656 §5). Streams are reliable, so only datagram transports cache.
	p.cached = ft.Transport == allocation.TransportUDP || ft.Transport == allocation.TransportDTLS
	if p.cached {
		p.cacheKey = txcache.MakeKey(ft.Client, ft.Server, uint8(ft.Transport), m.TransactionID)
		if resp, ok := p.c.cfg.TxCache.Get(p.cacheKey, now); ok {
			// Answering from the cache proves nothing about the source,
			// so it spends the source's budget like any unauthenticated
			// answer (a repeated transaction would otherwise be a free
			// reflector).
			if !p.withinBudget(ft, now) {
				return p.drop(DropUnauthBudget)
			}
			p.c.retransmits.Add(1)
			p.cached = false
			p.res.Outcome.Retransmit = true
			return p.done(resp)
		}
	}
	req := request{ft: ft, now: now, wall: wall}
	return p.finishRequest(p.processRequest(&req), now)
}

// NeedsWall reports whether handling raw may need the wall-clock time: it
// looks like a STUN request (credentials and nonces, RFC 8489 §9.2), so a
// shell reads the clock for requests only, not for every indication.
func NeedsWall(raw []byte) bool {
	// The class bits of the message type (RFC 8489 §5): C1 is bit 8, C0
	// bit 4; a request has both clear.
	return len(raw) >= 2 && raw[0]&0x01 == 0 && raw[1]&0x10 == 0
}

// begin resets the per-call state.
func (p *Processor) begin() {
	clear(p.actions)
	p.actions = p.actions[:0]
	p.res = Result{}
	p.cached = false
	p.pending.active = false
}

// done completes the result with the response and the actions so far.
func (p *Processor) done(resp []byte) Result {
	p.res.Step = StepDone
	p.res.Response = resp
	p.res.Actions = p.actions
	return p.res
}

// finishRequest caches a final response for retransmissions; a step that
// still waits for the shell is returned as is.
func (p *Processor) finishRequest(resp []byte, now mono.Time) Result {
	if p.pending.active {
		p.res.Actions = p.actions
		return p.res
	}
	if resp != nil && p.cached {
		p.c.cfg.TxCache.Put(p.cacheKey, resp, now)
	}
	return p.done(resp)
}

func (p *Processor) drop(d Drop) Result {
	p.act(Action{Kind: ActDrop, Drop: d})
	return p.done(nil)
}

func (p *Processor) act(a Action) { p.actions = append(p.actions, a) }

// processRequest runs a validated request through authentication, the
// unknown-attribute check and its method, and returns the response bytes
// (aliasing p.out) or nil when no response is due or the shell has a step
// to take first.
func (p *Processor) processRequest(req *request) []byte {
	m := &p.msg
	if m.Method == stunmsg.Binding {
		if !p.withinBudget(req.ft, req.now) {
			p.act(Action{Kind: ActDrop, Drop: DropUnauthBudget})
			return nil
		}
		return p.binding(req)
	}

	// RFC 8489 §6.3: authentication comes before the unknown-attribute
	// check, so an unauthenticated request with an unknown attribute gets 401.
	d := p.authenticate(req.ft.Client, req.wall)
	if d.Code != 0 {
		if !p.withinBudget(req.ft, req.now) {
			p.act(Action{Kind: ActDrop, Drop: DropUnauthBudget})
			return nil
		}
		p.res.Outcome.AuthFailed, p.res.Outcome.Auth = true, d
		return p.errorResponse(d.Code, nil, d.AttachNonce, req)
	}
	req.key, req.username, req.user = d.Key, d.Username, d.User

	if p.unknown = p.unknownRequired(); len(p.unknown) > 0 {
		return p.unknownAttributes(req)
	}

	switch m.Method {
	case stunmsg.Allocate:
		return p.allocate(req)
	case stunmsg.ConnectionBind:
		// RFC 6062 §5.4: sent on a new connection, which has no
		// allocation of its own.
		return p.connectionBind(req)
	}
	// RFC 8656 §5: every other request needs the 5-tuple's allocation, made
	// by the same user (441 otherwise).
	a := p.c.cfg.Table.Lookup(req.ft, req.now)
	if a == nil {
		return p.errorResponse(437, &req.key, false, req)
	}
	if a.Username != req.username {
		return p.errorResponse(441, &req.key, false, req)
	}
	switch m.Method {
	case stunmsg.Refresh:
		return p.refresh(req, a)
	case stunmsg.CreatePermission:
		return p.createPermission(req, a)
	case stunmsg.Connect:
		return p.connect(req, a)
	default:
		return p.channelBind(req, a)
	}
}

// unknownRequired lists the request's unknown comprehension-required
// attributes. CONNECTION-ID (RFC 6062 §6.2.1) is understood exactly when
// TCP relaying is on (RFC 8489 §6.3: "known" is per server build).
func (p *Processor) unknownRequired() []uint16 {
	list := p.msg.UnknownRequired(p.unknown[:0])
	if !p.c.cfg.TCP.Enabled {
		return list
	}
	kept := list[:0]
	for _, t := range list {
		if t != stunmsg.AttrConnectionID {
			kept = append(kept, t)
		}
	}
	return kept
}

// withinBudget spends one unauthenticated response of ft's source and
// reports whether it was there to spend. Only datagram transports are
// budgeted: a stream's source finished a handshake, so it is not spoofed
// and its answers reflect nowhere.
func (p *Processor) withinBudget(ft allocation.FiveTuple, now mono.Time) bool {
	b := p.c.cfg.Budget
	if b == nil || ft.Transport != allocation.TransportUDP && ft.Transport != allocation.TransportDTLS {
		return true
	}
	return b.Allow(ft.Client.Addr(), now)
}

// authenticate runs the RFC 8489 §9.2.4 long-term credential checks.
func (p *Processor) authenticate(client netip.AddrPort, wall time.Time) auth.Decision {
	m := &p.msg
	var r auth.Request
	r.Client = client
	r.HasIntegrity = m.IntegrityAt >= 0 || m.IntegritySHA256At >= 0
	if v, ok := m.Get(stunmsg.AttrUsername); ok {
		r.Username = v
	}
	if v, ok := m.Get(stunmsg.AttrRealm); ok {
		r.Realm = v
	}
	if v, ok := m.Get(stunmsg.AttrNonce); ok {
		r.Nonce = v
		r.Client = p.nonceAddress(client, v, wall)
	}
	policy := p.c.cfg.Policy
	lookup := func(username, realm string, now time.Time) (auth.Keys, string, error) {
		return policy.Authenticate(username, realm, client, now)
	}
	// RFC 8489 §9.2.4: MESSAGE-INTEGRITY-SHA256 is the one verified when
	// present, even next to a MESSAGE-INTEGRITY.
	check := func(k auth.Key) bool {
		if m.IntegritySHA256At >= 0 {
			return m.CheckIntegritySHA256(k[:])
		}
		return m.CheckIntegrity(k[:])
	}
	return auth.Verify(r, lookup, p.c.cfg.Nonces, p.c.cfg.Realm, check, wall)
}

// binding answers a Binding request (RFC 8489 §6.3.1.1): no authentication
// on a public relay, XOR-MAPPED-ADDRESS of the request's source.
func (p *Processor) binding(req *request) []byte {
	if p.unknown = p.unknownRequired(); len(p.unknown) > 0 {
		return p.unknownAttributes(req)
	}
	p.start(stunmsg.Success)
	p.b.AddXORAddress(stunmsg.AttrXORMappedAddress, req.ft.Client)
	return p.finish(nil)
}

// unknownAttributes answers 420 listing the unknown comprehension-required
// attributes (RFC 8489 §6.3.1.1, §14.13).
func (p *Processor) unknownAttributes(req *request) []byte {
	list := p.unknown
	if len(list) > maxUnknownListed {
		list = list[:maxUnknownListed]
	}
	p.start(stunmsg.Error)
	p.b.AddErrorCode(420, "")
	p.b.AddUnknownAttributes(list)
	var key *auth.Key
	if req.username != "" {
		key = &req.key
	}
	return p.finish(key)
}

// errorResponse builds an error response. key is the authenticated user's
// key when the request passed authentication (the response is then
// integrity-protected, RFC 8489 §9.2.4), nil otherwise. withNonce adds REALM
// and a fresh NONCE (the 401 and 438 challenges of RFC 8489 §9.2.4).
func (p *Processor) errorResponse(code int, key *auth.Key, withNonce bool, req *request) []byte {
	p.start(stunmsg.Error)
	p.b.AddErrorCode(code, "")
	if withNonce {
		p.b.Add(stunmsg.AttrRealm, []byte(p.c.cfg.Realm))
		p.b.Add(stunmsg.AttrNonce, []byte(p.c.cfg.Nonces.Mint(req.ft.Client, req.wall)))
	}
	p.count(code)
	return p.finish(key)
}

// count records the request's outcome for the request counters.
func (p *Processor) count(code int) {
	p.res.Outcome.Counted, p.res.Outcome.Method, p.res.Outcome.Code = true, p.msg.Method, code
}

// start begins a response to the current request with the given class.
func (p *Processor) start(class stunmsg.Class) {
	p.b.Reset(p.out[:0], stunmsg.MessageType(p.msg.Method, class), p.msg.TransactionID)
}

// finish appends SOFTWARE (RFC 8489 §14.14, RFC 8656 §5) and
// MESSAGE-INTEGRITY when the request was authenticated (RFC 8489 §9.2.4), and
// FINGERPRINT when the request carried one (RFC 8489 §7), and returns the
// encoded response. SOFTWARE is a SHOULD; an answer to a request that proved
// nothing (Binding, 400, 401, 420, 438) goes without it, because it may go
// to a spoofed source and the attribute would add to what it reflects
// (docs/protocol.md, "Unauthenticated answers").
func (p *Processor) finish(key *auth.Key) []byte {
	if sw := p.c.cfg.Software; sw != "" && key != nil {
		p.b.Add(stunmsg.AttrSoftware, []byte(sw))
	}
	if key != nil {
		if p.msg.IntegritySHA256At >= 0 {
			p.b.AddIntegritySHA256(key[:])
		} else {
			p.b.AddIntegrity(key[:])
		}
	}
	if p.msg.FingerprintAt >= 0 {
		p.b.AddFingerprint()
	}
	out, err := p.b.Bytes()
	if err != nil {
		// Our responses are bounded well below MaxResponse; reaching this
		// is a bug, answered with silence rather than a truncated message.
		p.res.Outcome.BuildError = err
		return nil
	}
	return out
}

// successResponse starts a success response; callers add attributes and call
// finish with the request's key.
func (p *Processor) successResponse() {
	p.start(stunmsg.Success)
	p.count(0)
}

// lifetimeAttr reads LIFETIME (RFC 8656 §18.2); present is false when the
// attribute is absent, ok is false when it is malformed.
func (p *Processor) lifetimeAttr() (seconds uint32, present, ok bool) {
	v, found := p.msg.Get(stunmsg.AttrLifetime)
	if !found {
		return 0, false, true
	}
	s, ok := stunmsg.DecodeLifetime(v)
	return s, true, ok
}
