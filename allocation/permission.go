package allocation

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Permit installs or refreshes a permission for every IP in ips (RFC 8656
// §9, §10.2): each is honoured until exactly now + Config.PermissionLifetime
// (300 s). Ports are not part of a permission; IPv4-mapped IPv6 addresses
// are the IPv4 address they wrap. A permission is never shortened: with a
// stale now an existing later deadline is kept.
//
// Permit is atomic (RFC 8656 §10.2): it validates every address and the capacity
// first and installs nothing on error. Errors, in RFC order: ErrGone
// (allocation deleted or expired at now, 437), ErrInvalidAddress (no
// address or an invalid one, 400), ErrFamilyMismatch (a family without a
// relayed address, 443), ErrCapacity (more than Config.MaxPermissions
// distinct live peers would be held, 508; also when ips itself is longer
// than that).
//
// Permit only reads ips. It is safe for concurrent use.
func (a *Allocation) Permit(ips []netip.Addr, now mono.Time) error {
	cfg := &a.shard.table.cfg
	a.mu.Lock()
	if !a.aliveLocked(now) {
		a.mu.Unlock()
		return ErrGone
	}
	if err := a.checkPeers(ips); err != nil {
		a.mu.Unlock()
		return err
	}
	if len(ips) > cfg.MaxPermissions || !a.permRoomLocked(ips, now, cfg.MaxPermissions) {
		a.mu.Unlock()
		return ErrCapacity
	}
	deadline := now.Add(cfg.PermissionLifetime)
	for _, ip := range ips {
		a.installPermLocked(ipKeyOf(ip), deadline)
	}
	a.mu.Unlock()
	a.shard.lowerWake(a, deadline)
	return nil
}

// Permitted reports whether a permission for ip (port ignored, IPv4-mapped
// form equal to IPv4) is live at now (RFC 8656 §9, §11.2, §11.3).
// Nothing is permitted once the allocation has expired, even before Expire
// reclaims it. Checking never refreshes anything (§11.2, §12.6). It is the
// data-path check: one read lock, no allocation, safe for concurrent use.
func (a *Allocation) Permitted(ip netip.Addr, now mono.Time) bool {
	if !ip.IsValid() {
		return false
	}
	k := ipKeyOf(ip)
	a.mu.RLock()
	deadline, ok := a.perms[k]
	a.mu.RUnlock()
	return ok && now < deadline && now < a.Expires()
}

// Permissions returns the number of live permissions at now, for tests and
// diagnostics.
func (a *Allocation) Permissions(now mono.Time) int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := 0
	for _, d := range a.perms {
		if now < d {
			n++
		}
	}
	return n
}

// checkPeers validates the addresses of a CreatePermission (RFC 8656
// §10.2): at least one, all valid (400), all of a family the allocation
// relays (443). Every address is checked for 400 before any for 443.
func (a *Allocation) checkPeers(ips []netip.Addr) error {
	if len(ips) == 0 {
		return ErrInvalidAddress
	}
	for _, ip := range ips {
		if !ip.IsValid() {
			return ErrInvalidAddress
		}
	}
	for _, ip := range ips {
		if f, _ := FamilyOf(ip); !a.HasFamily(f) {
			return ErrFamilyMismatch
		}
	}
	return nil
}

// permRoomLocked reports whether installing ips keeps the live permissions
// at most limit. Called with a.mu held for writing. It counts the distinct
// addresses of ips without a live permission; if the stored entries plus
// those could exceed limit it first drops expired entries, so the answer
// counts only permissions live at now.
func (a *Allocation) permRoomLocked(ips []netip.Addr, now mono.Time, limit int) bool {
	fresh := 0
	for i, ip := range ips {
		k := ipKeyOf(ip)
		if d, ok := a.perms[k]; ok && now < d {
			continue
		}
		if !seenBefore(ips[:i], k) {
			fresh++
		}
	}
	if fresh == 0 || len(a.perms)+fresh <= limit {
		return true
	}
	a.purgePermsLocked(now)
	return len(a.perms)+fresh <= limit
}

// seenBefore reports whether k is the key of one of ips. Permit bounds
// len(ips) by MaxPermissions, so the quadratic scan stays small.
func seenBefore(ips []netip.Addr, k ipKey) bool {
	for _, ip := range ips {
		if ipKeyOf(ip) == k {
			return true
		}
	}
	return false
}

// installPermLocked sets the permission for k to deadline unless it already
// runs later. Called with a.mu held for writing.
func (a *Allocation) installPermLocked(k ipKey, deadline mono.Time) {
	if old, ok := a.perms[k]; ok {
		if deadline > old {
			a.perms[k] = deadline
		}
		return
	}
	if a.perms == nil {
		a.perms = make(map[ipKey]mono.Time)
	}
	a.perms[k] = deadline
	fi := familyIndex(familyOfKey(k))
	a.nPerms[fi]++
	a.shard.table.gauges.perms[fi].Add(1)
}

// purgePermsLocked removes permissions expired at now and returns the
// earliest remaining deadline (ok false if none remain). Called with a.mu
// held for writing.
func (a *Allocation) purgePermsLocked(now mono.Time) (next mono.Time, ok bool) {
	g := &a.shard.table.gauges
	for k, d := range a.perms {
		if d <= now {
			delete(a.perms, k)
			fi := familyIndex(familyOfKey(k))
			a.nPerms[fi]--
			g.perms[fi].Add(-1)
			continue
		}
		if !ok || d < next {
			next, ok = d, true
		}
	}
	if len(a.perms) == 0 {
		a.perms = nil // give the buckets back; the next Permit makes a new map
	}
	return next, ok
}

// familyOfKey returns the family of a key made by ipKeyOf or addrKeyOf:
// IPv4 keys are in the IPv4-mapped prefix ::ffff:0:0/96.
func familyOfKey(ip [16]byte) Family {
	if netip.AddrFrom16(ip).Is4In6() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// PermissionExpires returns when the permission for ip expires, if it is
// live at now (RFC 8656 §9: 300 s unless refreshed), for the same shells as
// Allocation.ChannelExpires. Safe for concurrent use.
func (a *Allocation) PermissionExpires(ip netip.Addr, now mono.Time) (mono.Time, bool) {
	if !ip.IsValid() {
		return 0, false
	}
	a.mu.RLock()
	deadline, ok := a.perms[ipKeyOf(ip)]
	a.mu.RUnlock()
	if !ok || now >= deadline || now >= a.Expires() {
		return 0, false
	}
	return deadline, true
}
