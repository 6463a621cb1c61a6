package relay

import (
	"errors"
	"net/netip"

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
	// draftCodes: the request used draft-ietf-tram-turnbis' codepoint for
	// ADDITIONAL-ADDRESS-FAMILY, so ADDRESS-ERROR-CODE answers in kind.
	draftCodes bool
}

// allocate handles an authenticated Allocate request (RFC 8656 §7.2). The
// checks run in the RFC's order, each with its error code.
func (h *handler) allocate(req *request) []byte {
	ft := req.from.ft
	key := &req.key
	// Step 2: one allocation per 5-tuple. A retransmission of the Allocate
	// that created it was answered from the transaction cache already.
	if h.s.table.Lookup(ft, req.now) != nil {
		return h.errorResponse(437, key, false, req.from)
	}
	p, code := h.allocateParams()
	if code != 0 {
		return h.errorResponse(code, key, false, req.from)
	}
	if h.s.draining.Load() {
		return h.drainRefusal(req)
	}
	if err := h.s.policy.AdmitAllocation(req.user, ft); err != nil {
		return h.errorResponse(refusalCode(err, 403), key, false, req.from)
	}
	// Step 10 (quotas) before binding sockets, so a user over quota gets
	// 486 rather than whatever port exhaustion would say; the table checks
	// again atomically when it inserts.
	if err := h.s.table.CheckQuota(req.user, req.now); err != nil {
		return h.errorResponse(486, key, false, req.from)
	}
	// The extension's state for the allocation's user (req.user becomes
	// Allocation.User), or its refusal; nil on a relay without extension.
	var ext AllocationExtension
	if x := h.s.cfg.Extension; x != nil {
		var err error
		if ext, err = x.Admit(req.user, ft, req.now); err != nil {
			return h.errorResponse(refusalCode(err, 403), key, false, req.from)
		}
	}
	sess := &session{client: *req.from, dontFragment: p.dontFragment, ext: ext, srv: h.s}

	relays, familyErr6, code := h.s.bindRelays(&p, req.now)
	if code != 0 {
		sess.closeExtension(req.now)
		return h.errorResponse(code, key, false, req.from)
	}
	lifetimeSeconds, present, ok := h.lifetimeAttr()
	if !ok {
		relays.close()
		sess.closeExtension(req.now)
		return h.errorResponse(400, key, false, req.from)
	}
	lifetime := h.s.cfg.Allocation.Lifetime(lifetimeSeconds, present)

	sess.relay4, sess.relay6 = relays.v4, relays.v6
	sess.icmpBudget.Store(icmpBurst)
	sess.icmpRefill.Store(int64(req.now))
	spec := allocation.Spec{
		FiveTuple: ft,
		Username:  req.username,
		User:      req.user,
		Realm:     h.s.cfg.Realm,
		Key:       req.key,
		Lifetime:  lifetime,
		TxID:      h.msg.TransactionID,
		Ext:       sess,
	}
	if relays.v4 != nil {
		spec.Relayed4 = relays.v4.public
	}
	if relays.v6 != nil {
		spec.Relayed6 = relays.v6.public
	}
	a, err := h.s.table.Create(spec, req.now)
	if err != nil {
		relays.close()
		sess.closeExtension(req.now)
		switch {
		case errors.Is(err, allocation.ErrExists):
			return h.errorResponse(437, key, false, req.from)
		case errors.Is(err, allocation.ErrQuota):
			return h.errorResponse(486, key, false, req.from)
		}
		return h.errorResponse(508, key, false, req.from)
	}
	sess.alloc = a
	if err := h.s.attachRelays(sess); err != nil {
		h.s.table.Delete(a, req.now)
		relays.close()
		sess.closeExtension(req.now)
		h.s.log.Error("cannot poll relayed socket", "error", err.Error())
		return h.errorResponse(508, key, false, req.from)
	}
	if req.from.stream != nil {
		req.from.stream.attach(sess)
	}
	h.s.emit(EventCreated, a, req.now)

	h.successResponse(req)
	if relays.v4 != nil {
		h.b.AddXORAddress(stunmsg.AttrXORRelayedAddress, relays.v4.public)
	}
	if relays.v6 != nil {
		h.b.AddXORAddress(stunmsg.AttrXORRelayedAddress, relays.v6.public)
	}
	if familyErr6 != 0 {
		errAttr := stunmsg.AttrAddressErrorCode
		if p.draftCodes {
			errAttr = stunmsg.AttrDraftAddressErrorCode
		}
		h.b.AddAddressErrorCodeAs(errAttr, stunmsg.FamilyIPv6, familyErr6, "")
	}
	h.b.AddUint32(stunmsg.AttrLifetime, uint32(lifetime.Seconds()))
	if relays.reservedToken != nil {
		h.b.Add(stunmsg.AttrReservationToken, relays.reservedToken[:])
	}
	h.b.AddXORAddress(stunmsg.AttrXORMappedAddress, ft.Client)
	return h.finish(key)
}

// allocateParams applies the attribute checks of RFC 8656 §7.2 steps 3–9 and
// returns the request's parameters, or the error code to answer.
func (h *handler) allocateParams() (allocateParams, int) {
	m := &h.msg
	var p allocateParams
	// Step 3: REQUESTED-TRANSPORT is mandatory; only UDP is relayed.
	v, ok := m.Get(stunmsg.AttrRequestedTransport)
	if !ok {
		return p, 400
	}
	proto, ok := stunmsg.DecodeRequestedTransport(v)
	if !ok {
		return p, 400
	}
	if proto != stunmsg.ProtoUDP {
		return p, 442
	}
	// Step 4: DONT-FRAGMENT is supported: the relayed sockets set DF
	// (IP_PMTUDISC_DO / IPV6_DONTFRAG) for the whole allocation.
	if v, ok := m.Get(stunmsg.AttrDontFragment); ok {
		if len(v) != 0 {
			return p, 400
		}
		p.dontFragment = true
	}
	tokenValue, hasToken := m.Get(stunmsg.AttrReservationToken)
	evenValue, hasEven := m.Get(stunmsg.AttrEvenPort)
	reqFamValue, hasReqFam := m.Get(stunmsg.AttrRequestedAddressFamily)
	addFamValue, hasAddFam := m.Get(stunmsg.AttrAdditionalAddressFamily)
	if !hasAddFam && h.s.cfg.LegacyDualAllocation {
		// Opt-in: coturn 4.x clients ask for a dual allocation with the
		// draft's codepoint (0x8032), which RFC 8656 replaced with 0x8000.
		addFamValue, hasAddFam = m.Get(stunmsg.AttrDraftAdditionalAddressFamily)
		p.draftCodes = hasAddFam
	}
	// Step 5: a reservation token names a port already chosen; asking for a
	// port property or family alongside it is contradictory.
	if hasToken && (hasEven || hasReqFam || hasAddFam) {
		return p, 400
	}
	// Step 6.
	if hasReqFam && hasAddFam {
		return p, 400
	}
	p.want4 = true
	if hasReqFam {
		fam, ok := stunmsg.DecodeAddressFamily(reqFamValue)
		if !ok {
			return p, 400
		}
		switch fam {
		case stunmsg.FamilyIPv4:
		case stunmsg.FamilyIPv6:
			p.want4, p.want6 = false, true
		default:
			// Step 7: a family we do not know is not supported.
			return p, 440
		}
	}
	if p.want4 && !h.s.hasRelayFamily4 || p.want6 && !h.s.hasRelayFamily6 {
		// Step 7: the requested family, or IPv4 by default, is not served.
		return p, 440
	}
	if hasEven {
		r, ok := stunmsg.DecodeEvenPort(evenValue)
		if !ok {
			return p, 400
		}
		p.evenPort, p.reserveNext = true, r
		// Step 8: a reserved port pair cannot span two families.
		if r && hasAddFam {
			return p, 400
		}
	}
	if hasAddFam {
		fam, ok := stunmsg.DecodeAddressFamily(addFamValue)
		if !ok || fam != stunmsg.FamilyIPv6 {
			// Step 9: only IPv6 may be added (to the implied IPv4).
			return p, 400
		}
		p.want6, p.optional6 = true, true
	}
	if hasToken {
		token, ok := stunmsg.DecodeReservationToken(tokenValue)
		if !ok {
			return p, 400
		}
		p.token, p.hasToken = token, true
	}
	return p, 0
}

// drainRefusal answers an Allocate while the relay drains: 300 Try Alternate
// with ALTERNATE-SERVER when alternates are configured (RFC 8489 §10: only
// for an authenticated request, and integrity-protected), 403 otherwise.
func (h *handler) drainRefusal(req *request) []byte {
	alt, ok := h.s.nextAlternate(req.from.ft.Client.Addr())
	if !ok {
		return h.errorResponse(403, &req.key, false, req.from)
	}
	h.start(stunmsg.Error)
	h.b.AddErrorCode(300, "")
	h.b.AddAddress(stunmsg.AttrAlternateServer, alt)
	h.s.countRequest(h.msg.Method, 300)
	return h.finish(&req.key)
}

// nextAlternate picks an alternate server of the client's family, rotating
// through the configured ones.
func (s *Server) nextAlternate(client netip.Addr) (netip.AddrPort, bool) {
	alts := s.cfg.AlternateServers
	if len(alts) == 0 {
		return netip.AddrPort{}, false
	}
	start := int(s.alternateNext.Add(1))
	for i := range alts {
		a := alts[(start+i)%len(alts)]
		if a.Addr().Unmap().Is4() == client.Unmap().Is4() {
			return a, true
		}
	}
	return netip.AddrPort{}, false
}
