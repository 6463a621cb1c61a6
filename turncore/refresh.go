package turncore

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
func (p *Processor) refresh(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	st := stateOf(a)
	var named allocation.Family // 0: no family named
	if v, ok := p.msg.Get(stunmsg.AttrRequestedAddressFamily); ok {
		fam, ok := stunmsg.DecodeAddressFamily(v)
		if !ok {
			return p.errorResponse(400, key, false, req)
		}
		switch fam {
		case stunmsg.FamilyIPv4:
			named = allocation.FamilyIPv4
		case stunmsg.FamilyIPv6:
			named = allocation.FamilyIPv6
		}
		if named == 0 || !st.HasRelay(named) {
			return p.errorResponse(443, key, false, req)
		}
	}
	otherLive := named != 0 && st.HasRelay(otherFamily(named))
	seconds, present, ok := p.lifetimeAttr()
	if !ok {
		return p.errorResponse(400, key, false, req)
	}
	var granted uint32
	switch {
	case present && seconds == 0 && otherLive:
		// RFC 8656 §8.1: delete one family of a dual allocation.
		st.setLive(named, false)
		p.act(Action{Kind: ActCloseFamily, Alloc: a, Family: named})
	case present && seconds == 0:
		// RFC 8656 §8.2: a desired lifetime of zero deletes the allocation
		// at once; later requests on the 5-tuple get 437.
		p.c.cfg.Table.Delete(a, req.now)
		st.setLive(allocation.FamilyIPv4, false)
		st.setLive(allocation.FamilyIPv6, false)
		p.act(Action{Kind: ActDeleted, Alloc: a})
		p.actions = p.c.CloseConnectionsOf(a, p.actions)
	default:
		lifetime := p.c.cfg.Table.Config().Lifetime(seconds, present)
		if otherLive {
			lifetime = max(lifetime, a.Remaining(req.now).Truncate(time.Second))
		}
		if err := p.c.cfg.Table.Refresh(a, lifetime, req.now); err != nil {
			// It expired between the lookup and now (RFC 8656 §5: 437).
			return p.errorResponse(437, key, false, req)
		}
		p.act(Action{Kind: ActRefreshed, Alloc: a})
		granted = uint32(lifetime.Seconds())
	}
	p.successResponse()
	p.b.AddUint32(stunmsg.AttrLifetime, granted)
	return p.finish(key)
}

func otherFamily(f allocation.Family) allocation.Family {
	if f == allocation.FamilyIPv4 {
		return allocation.FamilyIPv6
	}
	return allocation.FamilyIPv4
}
