package turncore

import (
	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Expire ends what is due at now (RFC 8656 §6: allocations whose lifetime
// ran out; §7.2: reservations past their 30 s) and appends to dst what the
// shell must do: ActDeleted with Expired set for each allocation (and
// ActCloseConnection for each of its peer data connections),
// ActCloseSocket for each reserved socket, and ActCloseConnection for each
// connection whose Connect timed out (RFC 6062 §5.2, with the 447 to
// send) or whose ConnectionBind never came (§5.3). Permissions and channels expire
// lazily inside the table. Call it from the shell's single expiry timer,
// from one goroutine at a time.
func (c *Core) Expire(now mono.Time, dst []Action) []Action {
	c.expired = c.cfg.Table.Expire(now, c.expired[:0])
	for _, a := range c.expired {
		st := stateOf(a)
		st.setLive(allocation.FamilyIPv4, false)
		st.setLive(allocation.FamilyIPv6, false)
		dst = append(dst, Action{Kind: ActDeleted, Alloc: a, Expired: true})
		dst = c.CloseConnectionsOf(a, dst)
	}
	dst = c.expireConnections(now, dst)
	clear(c.expired)
	c.reserved = c.cfg.Table.Reservations().Expire(now, c.reserved[:0])
	for _, v := range c.reserved {
		dst = append(dst, Action{Kind: ActCloseSocket, Handle: v.(reservedSocket).handle})
	}
	clear(c.reserved)
	return dst
}
