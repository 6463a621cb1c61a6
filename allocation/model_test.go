package allocation

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// model is the naive reference for the differential tests (style item 14):
// plain maps keyed by netip values, every allocation ever created kept in a
// slice, and every question answered by scanning with explicit expiry
// checks. It mirrors the documented rules, not the table's data structures.
type model struct {
	cfg    Config
	allocs []*modelAlloc
}

type modelAlloc struct {
	ft       FiveTuple // canonical
	user     string
	v4, v6   bool
	expires  mono.Time
	deleted  bool // removed by Delete
	reported bool // handed over by Expire
	perms    map[netip.Addr]mono.Time
	chans    map[uint16]modelChannel
	real     *Allocation
}

type modelChannel struct {
	peer    netip.AddrPort // canonical
	expires mono.Time
}

func canonIP(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

func canonPeer(p netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(canonIP(p.Addr()), p.Port())
}

func (a *modelAlloc) alive(now mono.Time) bool { return !a.deleted && now < a.expires }

func (a *modelAlloc) hasFamily(ip netip.Addr) bool {
	if canonIP(ip).Is4() {
		return a.v4
	}
	return a.v6
}

func (m *model) current(ft FiveTuple, now mono.Time) *modelAlloc {
	ft = ft.Canonical()
	for _, a := range m.allocs {
		if a.ft == ft && a.alive(now) {
			return a
		}
	}
	return nil
}

func (m *model) quota(user string, now mono.Time) error {
	mine, total := 0, 0
	for _, a := range m.allocs {
		if a.alive(now) {
			total++
			if a.user == user {
				mine++
			}
		}
	}
	if m.cfg.UserQuota > 0 && mine >= m.cfg.UserQuota || m.cfg.TotalQuota > 0 && total >= m.cfg.TotalQuota {
		return ErrQuota
	}
	return nil
}

func (m *model) create(s Spec, now mono.Time) (*modelAlloc, error) {
	if m.current(s.FiveTuple, now) != nil {
		return nil, ErrExists
	}
	if err := m.quota(s.User, now); err != nil {
		return nil, err
	}
	a := &modelAlloc{
		ft: s.FiveTuple.Canonical(), user: s.User,
		v4: s.Relayed4.IsValid(), v6: s.Relayed6.IsValid(),
		expires: now + mono.Time(s.Lifetime),
		perms:   map[netip.Addr]mono.Time{}, chans: map[uint16]modelChannel{},
	}
	m.allocs = append(m.allocs, a)
	return a, nil
}

func (m *model) refresh(a *modelAlloc, lifetime mono.Time, now mono.Time) error {
	if !a.alive(now) {
		return ErrGone
	}
	a.expires = now + lifetime
	return nil
}

func (m *model) remove(a *modelAlloc, now mono.Time) error {
	if !a.alive(now) {
		return ErrGone
	}
	a.deleted = true
	a.perms, a.chans = map[netip.Addr]mono.Time{}, map[uint16]modelChannel{}
	return nil
}

func (a *modelAlloc) livePerms(now mono.Time) int {
	n := 0
	for _, d := range a.perms {
		if now < d {
			n++
		}
	}
	return n
}

func (m *model) permit(a *modelAlloc, ips []netip.Addr, now mono.Time) error {
	if !a.alive(now) {
		return ErrGone
	}
	if len(ips) == 0 {
		return ErrInvalidAddress
	}
	for _, ip := range ips {
		if !ip.IsValid() {
			return ErrInvalidAddress
		}
	}
	for _, ip := range ips {
		if !a.hasFamily(ip) {
			return ErrFamilyMismatch
		}
	}
	fresh := map[netip.Addr]bool{}
	for _, ip := range ips {
		if d, ok := a.perms[canonIP(ip)]; !ok || now >= d {
			fresh[canonIP(ip)] = true
		}
	}
	if len(ips) > m.cfg.MaxPermissions || a.livePerms(now)+len(fresh) > m.cfg.MaxPermissions {
		return ErrCapacity
	}
	for _, ip := range ips {
		a.perms[canonIP(ip)] = max(a.perms[canonIP(ip)], now+mono.Time(m.cfg.PermissionLifetime))
	}
	return nil
}

func (m *model) bind(a *modelAlloc, ch uint16, peer netip.AddrPort, now mono.Time) error {
	if !a.alive(now) {
		return ErrGone
	}
	if ch < 0x4000 || ch > 0x4FFF {
		return ErrBadChannel
	}
	if !peer.Addr().IsValid() || peer.Port() == 0 {
		return ErrInvalidAddress
	}
	peer = canonPeer(peer)
	reuse := mono.Time(ChannelReuseDelay)
	old, had := a.chans[ch]
	if had && old.peer != peer && now < old.expires+reuse {
		return ErrChannelConflict
	}
	for c, b := range a.chans {
		if c != ch && b.peer == peer && now < b.expires+reuse {
			return ErrChannelConflict
		}
	}
	if !a.hasFamily(peer.Addr()) {
		return ErrFamilyMismatch
	}
	refreshing := had && old.peer == peer && now < old.expires
	if !refreshing && a.liveChans(now) >= m.cfg.MaxChannels {
		return ErrCapacity
	}
	if d, ok := a.perms[peer.Addr()]; (!ok || now >= d) && a.livePerms(now)+1 > m.cfg.MaxPermissions {
		return ErrCapacity
	}
	for c, b := range a.chans {
		if c == ch || b.peer == peer {
			delete(a.chans, c)
		}
	}
	deadline := now + mono.Time(m.cfg.ChannelLifetime)
	if had && old.peer == peer {
		deadline = max(deadline, old.expires)
	}
	a.chans[ch] = modelChannel{peer: peer, expires: deadline}
	a.perms[peer.Addr()] = max(a.perms[peer.Addr()], now+mono.Time(m.cfg.PermissionLifetime))
	return nil
}

func (a *modelAlloc) liveChans(now mono.Time) int {
	n := 0
	for _, b := range a.chans {
		if now < b.expires {
			n++
		}
	}
	return n
}

func (m *model) permitted(a *modelAlloc, ip netip.Addr, now mono.Time) bool {
	d, ok := a.perms[canonIP(ip)]
	return ip.IsValid() && a.alive(now) && ok && now < d
}

func (m *model) channelPeer(a *modelAlloc, ch uint16, now mono.Time) (netip.AddrPort, bool) {
	b, ok := a.chans[ch]
	if !a.alive(now) || !ok || now >= b.expires {
		return netip.AddrPort{}, false
	}
	return b.peer, true
}

func (m *model) peerChannel(a *modelAlloc, peer netip.AddrPort, now mono.Time) (uint16, bool) {
	if !a.alive(now) {
		return 0, false
	}
	for c, b := range a.chans {
		if b.peer == canonPeer(peer) && now < b.expires {
			return c, true
		}
	}
	return 0, false
}

// expire returns the allocations the table must hand over at now.
func (m *model) expire(now mono.Time) []*modelAlloc {
	var out []*modelAlloc
	for _, a := range m.allocs {
		if !a.deleted && !a.reported && a.expires <= now {
			a.reported = true
			out = append(out, a)
		}
	}
	return out
}

// stats returns what Table.Stats must say right after Expire(now).
func (m *model) stats(now mono.Time) Stats {
	var s Stats
	add := func(c *FamilyCount, ip netip.Addr) {
		if canonIP(ip).Is4() {
			c.IPv4++
		} else {
			c.IPv6++
		}
	}
	for _, a := range m.allocs {
		if !a.alive(now) {
			continue
		}
		s.Allocations++
		if a.v4 {
			s.Relayed.IPv4++
		}
		if a.v6 {
			s.Relayed.IPv6++
		}
		for ip, d := range a.perms {
			if now < d {
				add(&s.Permissions, ip)
			}
		}
		for _, b := range a.chans {
			if now < b.expires {
				add(&s.Channels, b.peer.Addr())
			}
		}
	}
	return s
}

// nextEvent returns the earliest instant after now at which something
// changes: an allocation, permission or channel expiry, or the end of a
// channel's reuse delay.
func (m *model) nextEvent(now mono.Time) (mono.Time, bool) {
	var next mono.Time
	found := false
	consider := func(t mono.Time) {
		if t > now && (!found || t < next) {
			next, found = t, true
		}
	}
	for _, a := range m.allocs {
		if a.deleted || a.reported {
			continue
		}
		consider(a.expires)
		if !a.alive(now) {
			continue
		}
		for _, d := range a.perms {
			consider(d)
		}
		for _, b := range a.chans {
			consider(b.expires)
			consider(b.expires + mono.Time(ChannelReuseDelay))
		}
	}
	return next, found
}
