package relay

import (
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// refresh handles a Refresh request on an existing allocation (RFC 8656 §8.2).
//
// REQUESTED-ADDRESS-FAMILY names one relayed address of the allocation
// (RFC 8656 §8.1): it must be a family the allocation still holds (443
// otherwise, §8.2). With LIFETIME 0 it deletes only that family of a dual
// allocation — its relayed socket is closed, its port freed, and the other
// family's permissions and channels are untouched, as §8.1 requires; naming
// the last family left deletes the allocation. Without the attribute the
// Refresh applies to every relayed address.
//
// The allocation table keeps one expiry per allocation, not one per
// relayed address (§6), so a non-zero Refresh naming one family of a dual
// allocation refreshes the whole allocation and never shortens it: the
// granted lifetime is the larger of the desired lifetime and the time the
// allocation has left, so the other family never expires earlier than its
// client was told.
func (h *handler) refresh(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	sess := a.Ext.(*session)
	var named *relaySocket
	if v, ok := h.msg.Get(stunmsg.AttrRequestedAddressFamily); ok {
		fam, ok := stunmsg.DecodeAddressFamily(v)
		if !ok {
			return h.errorResponse(400, key, false, req.from)
		}
		switch fam {
		case stunmsg.FamilyIPv4:
			named = sess.relay4
		case stunmsg.FamilyIPv6:
			named = sess.relay6
		}
		if !named.live() {
			return h.errorResponse(443, key, false, req.from)
		}
	}
	seconds, present, ok := h.lifetimeAttr()
	if !ok {
		return h.errorResponse(400, key, false, req.from)
	}
	var granted uint32
	switch {
	case present && seconds == 0 && named != nil && sess.otherFamilyLive(named):
		// RFC 8656 §8.1: delete one family of a dual allocation.
		named.close()
	case present && seconds == 0:
		// RFC 8656 §8.2: a desired lifetime of zero deletes the allocation
		// at once; later requests on the 5-tuple get 437.
		h.s.deleteAllocation(a, req.now, EventDeleted)
	default:
		lifetime := h.s.cfg.Allocation.Lifetime(seconds, present)
		if named != nil && sess.otherFamilyLive(named) {
			lifetime = max(lifetime, a.Remaining(req.now).Truncate(time.Second))
		}
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

// otherFamilyLive reports whether the session still has a live relayed
// address besides rs.
func (s *session) otherFamilyLive(rs *relaySocket) bool {
	if rs == s.relay4 {
		return s.relay6.live()
	}
	return s.relay4.live()
}
