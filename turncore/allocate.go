package turncore

import (
	"errors"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// allocateParams is what an Allocate request asks for, after the attribute
// checks of RFC 8656 §7.2.
type allocateParams struct {
	want4, want6 bool // families to allocate
	// optional6 is set for ADDITIONAL-ADDRESS-FAMILY: when IPv6 cannot be
	// allocated the request still succeeds with IPv4 and ADDRESS-ERROR-CODE
	// (RFC 8656 §7.2 step 9).
	optional6    bool
	evenPort     bool
	reserveNext  bool // EVEN-PORT with the R bit (RFC 8656 §7.2, §18.7)
	token        [8]byte
	hasToken     bool
	dontFragment bool
	// tcp: REQUESTED-TRANSPORT asked for TCP (RFC 6062 §5.1); the relayed
	// socket is a listening TCP socket.
	tcp bool
	// draftCodes: the request used draft-ietf-tram-turnbis' codepoint for
	// ADDITIONAL-ADDRESS-FAMILY, so ADDRESS-ERROR-CODE answers in kind.
	draftCodes bool
}

// allocate handles an authenticated Allocate request (RFC 8656 §7.2). The
// checks run in the RFC's order, each with its error code; then the relayed
// sockets are asked of the shell (bind.go) and Commit creates the
// allocation.
func (p *Processor) allocate(req *request) []byte {
	ft := req.ft
	key := &req.key
	// Step 2: one allocation per 5-tuple. A retransmission of the Allocate
	// that created it was answered from the transaction cache already.
	if p.c.cfg.Table.Lookup(ft, req.now) != nil {
		return p.errorResponse(437, key, false, req)
	}
	params, code := p.allocateParams(ft)
	if code != 0 {
		return p.errorResponse(code, key, false, req)
	}
	if p.c.draining.Load() {
		return p.drainRefusal(req)
	}
	if err := p.c.cfg.Policy.AdmitAllocation(req.user, ft); err != nil {
		return p.errorResponse(RefusalCode(err, 403), key, false, req)
	}
	// Step 10 (quotas) before binding sockets, so a user over quota gets
	// 486 rather than whatever port exhaustion would say; the table checks
	// again atomically when it inserts. A port reserved for a later
	// Allocate (EVEN-PORT R=1) is a unit of its own. With a
	// RESERVATION-TOKEN the quota is checked when the token is redeemed
	// (step 5 before step 10): the reserved port's unit moves to this
	// allocation, so redeeming one's own token never needs room.
	units := 1
	if params.reserveNext {
		units = 2
	}
	if !params.hasToken {
		if err := p.c.cfg.Table.CheckQuota(req.user, units, req.now); err != nil {
			return p.errorResponse(486, key, false, req)
		}
	}
	// The extension's state for the allocation's user (req.user becomes
	// Allocation.User), or its refusal.
	var hook PeerHook
	if h := p.c.cfg.Hooks; h != nil {
		var err error
		if hook, err = h.Admit(req.user, ft, req.now); err != nil {
			return p.errorResponse(RefusalCode(err, 403), key, false, req)
		}
	}
	p.pending = pendingAllocate{active: true, params: params, req: *req, hook: hook}
	return p.startBinding()
}

// relaysBound continues an Allocate once every relayed socket is bound:
// LIFETIME is read, then the shell is asked for its state (StepCommit).
func (p *Processor) relaysBound() []byte {
	pa := &p.pending
	req := &pa.req
	if pa.code != 0 {
		pa.active = false
		p.cancelReservation()
		p.releaseRedeemed()
		p.releaseHook()
		return p.errorResponse(pa.code, &req.key, false, req)
	}
	seconds, present, ok := p.lifetimeAttr()
	if !ok {
		pa.active = false
		p.closeBound()
		p.cancelReservation()
		p.releaseRedeemed()
		p.releaseHook()
		return p.errorResponse(400, &req.key, false, req)
	}
	pa.lifetime = p.c.cfg.Table.Config().Lifetime(seconds, present)
	p.res.Step = StepCommit
	p.res.Relay4, p.res.Relay6, p.res.Hook = pa.v4, pa.v6, pa.hook
	return nil
}

// Commit creates the allocation the pending Allocate asked for, with ext as
// the shell's state (allocation.Allocation.Ext; it must embed State), and
// builds the response. On success Result.Created is the allocation; the
// shell starts polling its sockets before it sends the response (see
// Unwind). Otherwise the shell releases ext.
func (p *Processor) Commit(ext Stateful) Result {
	p.clearActions()
	pa := &p.pending
	if !pa.active || p.res.Step != StepCommit {
		panic("turncore: Commit without a pending Allocate")
	}
	pa.active = false
	req := &pa.req
	key := &req.key
	st := ext.TURNState()
	st.dontFragment = pa.params.dontFragment
	st.tcp = pa.params.tcp
	st.setLive(allocation.FamilyIPv4, pa.v4.Handle != nil)
	st.setLive(allocation.FamilyIPv6, pa.v6.Handle != nil)
	st.hook = pa.hook
	spec := allocation.Spec{
		FiveTuple: req.ft,
		Username:  req.username,
		User:      req.user,
		Realm:     p.c.cfg.Realm,
		Key:       req.key,
		Lifetime:  pa.lifetime,
		TxID:      p.msg.TransactionID,
		Ext:       ext,
		Relayed4:  pa.v4.Public,
		Relayed6:  pa.v6.Public,
		Redeemed:  pa.redeemed,
	}
	a, err := p.c.cfg.Table.Create(spec, req.now)
	pa.redeemed = false // Create spent the redeemed unit or gave it back
	if err != nil {
		p.closeBound()
		p.cancelReservation()
		p.releaseHook()
		var resp []byte
		switch {
		case errors.Is(err, allocation.ErrExists):
			resp = p.errorResponse(437, key, false, req)
		case errors.Is(err, allocation.ErrQuota):
			resp = p.errorResponse(486, key, false, req)
		default:
			resp = p.errorResponse(508, key, false, req)
		}
		return p.finishRequest(resp, req.now)
	}
	p.res.Created = a
	p.act(Action{Kind: ActCreated, Alloc: a})

	p.successResponse()
	if pa.v4.Handle != nil {
		p.b.AddXORAddress(stunmsg.AttrXORRelayedAddress, pa.v4.Public)
	}
	if pa.v6.Handle != nil {
		p.b.AddXORAddress(stunmsg.AttrXORRelayedAddress, pa.v6.Public)
	}
	if pa.familyErr6 != 0 {
		errAttr := stunmsg.AttrAddressErrorCode
		if pa.params.draftCodes {
			errAttr = stunmsg.AttrDraftAddressErrorCode
		}
		p.b.AddAddressErrorCodeAs(errAttr, stunmsg.FamilyIPv6, pa.familyErr6, "")
	}
	p.b.AddUint32(stunmsg.AttrLifetime, uint32(pa.lifetime.Seconds()))
	if pa.hasReservedToken {
		p.b.Add(stunmsg.AttrReservationToken, pa.reservedToken[:])
	}
	p.b.AddXORAddress(stunmsg.AttrXORMappedAddress, req.ft.Client)
	return p.finishRequest(p.finish(key), req.now)
}

// Unwind undoes the allocation Commit just created when the shell cannot
// serve it (its sockets could not be polled): the allocation leaves the
// table, its sockets are closed and the Allocate is answered 508 instead.
func (p *Processor) Unwind(a *allocation.Allocation) Result {
	p.clearActions()
	req := &p.pending.req
	p.c.cfg.Table.Delete(a, req.now)
	p.closeBound()
	p.cancelReservation()
	p.releaseHook()
	resp := p.errorResponse(508, &req.key, false, req)
	if p.cached {
		// Commit cached the success; a retransmission must get the 508.
		p.c.cfg.TxCache.Put(p.cacheKey, resp, req.now)
	}
	return p.done(resp)
}

// releaseHook hands the extension's state of a failed Allocate back to the
// shell to end.
func (p *Processor) releaseHook() {
	if h := p.pending.hook; h != nil {
		p.act(Action{Kind: ActRelease, Hook: h})
	}
}

// releaseRedeemed gives back the quota unit a redeemed RESERVATION-TOKEN
// moved to the pending Allocate, which failed before Create.
func (p *Processor) releaseRedeemed() {
	if pa := &p.pending; pa.redeemed {
		pa.redeemed = false
		p.c.cfg.Table.Reservations().ReleaseRedeemed(pa.req.user)
	}
}

// cancelReservation ends the port the pending Allocate reserved (EVEN-PORT
// R=1) when the Allocate fails: its client never learns the token, so the
// port is closed and its quota unit released at once rather than after
// 30 s.
func (p *Processor) cancelReservation() {
	pa := &p.pending
	if !pa.hasReservedToken {
		return
	}
	pa.hasReservedToken = false
	if v, ok := p.c.cfg.Table.Reservations().Cancel(pa.reservedToken); ok {
		p.act(Action{Kind: ActCloseSocket, Handle: v.(reservedSocket).handle})
	}
}

// clearActions empties the action list between the steps of an Allocate.
func (p *Processor) clearActions() {
	clear(p.actions)
	p.actions = p.actions[:0]
	p.res.Actions = nil
}

// allocateParams applies the attribute checks of RFC 8656 §7.2 steps 3–9 and
// returns the request's parameters, or the error code to answer.
func (p *Processor) allocateParams(ft allocation.FiveTuple) (allocateParams, int) {
	m := &p.msg
	var ap allocateParams
	// Step 3: REQUESTED-TRANSPORT is mandatory; UDP is relayed, and TCP
	// when TCP relaying is on (RFC 6062).
	v, ok := m.Get(stunmsg.AttrRequestedTransport)
	if !ok {
		return ap, 400
	}
	proto, ok := stunmsg.DecodeRequestedTransport(v)
	if !ok {
		return ap, 400
	}
	switch {
	case proto == stunmsg.ProtoUDP:
	case proto == stunmsg.ProtoTCP && p.c.cfg.TCP.Enabled:
		return p.tcpAllocateParams(ft)
	default:
		return ap, 442
	}
	// Step 4: DONT-FRAGMENT is supported: the relayed sockets set DF
	// (IP_PMTUDISC_DO / IPV6_DONTFRAG) for the whole allocation.
	if v, ok := m.Get(stunmsg.AttrDontFragment); ok {
		if len(v) != 0 {
			return ap, 400
		}
		ap.dontFragment = true
	}
	tokenValue, hasToken := m.Get(stunmsg.AttrReservationToken)
	evenValue, hasEven := m.Get(stunmsg.AttrEvenPort)
	reqFamValue, hasReqFam := m.Get(stunmsg.AttrRequestedAddressFamily)
	addFamValue, hasAddFam := m.Get(stunmsg.AttrAdditionalAddressFamily)
	if !hasAddFam && p.c.cfg.LegacyDualAllocation {
		// Opt-in: coturn 4.x clients ask for a dual allocation with the
		// draft's codepoint (0x8032), which RFC 8656 replaced with 0x8000.
		addFamValue, hasAddFam = m.Get(stunmsg.AttrDraftAdditionalAddressFamily)
		ap.draftCodes = hasAddFam
	}
	// Step 5: a reservation token names a port already chosen; asking for a
	// port property or family alongside it is contradictory.
	if hasToken && (hasEven || hasReqFam || hasAddFam) {
		return ap, 400
	}
	// Step 6.
	if hasReqFam && hasAddFam {
		return ap, 400
	}
	if code := p.requestedFamily(&ap, reqFamValue, hasReqFam); code != 0 {
		return ap, code
	}
	if hasEven {
		r, ok := stunmsg.DecodeEvenPort(evenValue)
		if !ok {
			return ap, 400
		}
		ap.evenPort, ap.reserveNext = true, r
		// Step 8: a reserved port pair cannot span two families.
		if r && hasAddFam {
			return ap, 400
		}
	}
	if hasAddFam {
		fam, ok := stunmsg.DecodeAddressFamily(addFamValue)
		if !ok || fam != stunmsg.FamilyIPv6 {
			// Step 9: only IPv6 may be added (to the implied IPv4).
			return ap, 400
		}
		ap.want6, ap.optional6 = true, true
	}
	if hasToken {
		token, ok := stunmsg.DecodeReservationToken(tokenValue)
		if !ok {
			return ap, 400
		}
		ap.token, ap.hasToken = token, true
	}
	return ap, 0
}

// drainRefusal answers an Allocate while the relay drains: 300 Try Alternate
// with ALTERNATE-SERVER when alternates are configured (RFC 8489 §10: only
// for an authenticated request, and integrity-protected), 403 otherwise.
func (p *Processor) drainRefusal(req *request) []byte {
	alt, ok := p.c.nextAlternate(req.ft.Client.Addr())
	if !ok {
		return p.errorResponse(403, &req.key, false, req)
	}
	p.start(stunmsg.Error)
	p.b.AddErrorCode(300, "")
	p.b.AddAddress(stunmsg.AttrAlternateServer, alt)
	p.count(300)
	return p.finish(&req.key)
}

// requestedFamily sets the family an Allocate asks for: IPv4 unless
// REQUESTED-ADDRESS-FAMILY (value, when has) names IPv6. RFC 8656 §7.2
// step 7: an undecodable value is 400; a family this relay does not know or
// does not serve, the default included, is 440.
func (p *Processor) requestedFamily(ap *allocateParams, value []byte, has bool) int {
	ap.want4, ap.want6 = true, false
	if has {
		fam, ok := stunmsg.DecodeAddressFamily(value)
		if !ok {
			return 400
		}
		switch fam {
		case stunmsg.FamilyIPv4:
		case stunmsg.FamilyIPv6:
			ap.want4, ap.want6 = false, true
		default:
			return 440
		}
	}
	if ap.want4 && !p.c.has4 || ap.want6 && !p.c.has6 {
		return 440
	}
	return 0
}
