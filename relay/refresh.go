package relay

import (
	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/relay/stunmsg"
)

// refresh handles a Refresh request on an existing allocation (RFC 8656 §8.2).
func (h *handler) refresh(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	if v, ok := h.msg.Get(stunmsg.AttrRequestedAddressFamily); ok {
		// RFC 8656 §8.2: the family named must be one the allocation holds
		// (443 otherwise); the whole allocation is refreshed either way.
		fam, ok := stunmsg.DecodeAddressFamily(v)
		if !ok {
			return h.errorResponse(400, key, false, req.from)
		}
		if fam == stunmsg.FamilyIPv4 && !a.Relayed4.IsValid() ||
			fam == stunmsg.FamilyIPv6 && !a.Relayed6.IsValid() ||
			fam != stunmsg.FamilyIPv4 && fam != stunmsg.FamilyIPv6 {
			return h.errorResponse(443, key, false, req.from)
		}
	}
	seconds, present, ok := h.lifetimeAttr()
	if !ok {
		return h.errorResponse(400, key, false, req.from)
	}
	var granted uint32
	if present && seconds == 0 {
		// RFC 8656 §8.2: a desired lifetime of zero deletes the allocation
		// at once; later requests on the 5-tuple get 437.
		h.s.deleteAllocation(a, req.now, EventDeleted)
	} else {
		lifetime := h.s.cfg.Allocation.Lifetime(seconds, present)
		if err := h.s.table.Refresh(a, lifetime, req.now); err != nil {
			// It expired between the lookup and now (RFC 8656 §5: 437).
			return h.errorResponse(437, key, false, req.from)
		}
		h.s.emit(EventRefreshed, a, req.now)
		granted = uint32(lifetime.Seconds())
	}
	h.successResponse(req)
	h.b.AddUint32(stunmsg.AttrLifetime, granted)
	return h.finish(key)
}
