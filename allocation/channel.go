package allocation

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Bind binds channel ch to the peer transport address, or refreshes that
// binding, until now + Config.ChannelLifetime (RFC 8656 §12.2),
// and installs or refreshes the permission for the peer's IP until now +
// Config.PermissionLifetime (§12.2, §9). A binding is never shortened.
//
// Errors, in RFC order, with nothing changed: ErrGone (437); ErrBadChannel
// (ch outside 0x4000–0x4FFF, or 0x4000–0x7FFF with
// Config.LegacyChannels, 400); ErrInvalidAddress (invalid IP or port 0,
// 400); ErrChannelConflict (400) when ch is bound to another peer or the
// peer to another number — including a binding that expired less than
// ChannelReuseDelay ago, since RFC 8656 §12 lets neither be reused for
// 5 minutes; ErrFamilyMismatch (443); ErrCapacity (508) when a new binding
// would exceed Config.MaxChannels or a new permission Config.MaxPermissions.
//
// It is safe for concurrent use.
func (a *Allocation) Bind(ch uint16, peer netip.AddrPort, now mono.Time) error {
	cfg := &a.shard.table.cfg
	a.mu.Lock()
	if !a.aliveLocked(now) {
		a.mu.Unlock()
		return ErrGone
	}
	if ch < MinChannel || ch > cfg.maxChannelNumber() {
		a.mu.Unlock()
		return ErrBadChannel
	}
	if !peer.Addr().IsValid() || peer.Port() == 0 {
		a.mu.Unlock()
		return ErrInvalidAddress
	}
	pk := addrKeyOf(peer)
	old, numberUsed := a.chans[ch]
	same := numberUsed && old.peer == pk
	if numberUsed && !same && now < old.expires.Add(ChannelReuseDelay) {
		a.mu.Unlock()
		return ErrChannelConflict
	}
	other, peerUsed := a.peers[pk]
	if peerUsed && other != ch && now < a.chans[other].expires.Add(ChannelReuseDelay) {
		a.mu.Unlock()
		return ErrChannelConflict
	}
	f, _ := FamilyOf(peer.Addr())
	if !a.HasFamily(f) {
		a.mu.Unlock()
		return ErrFamilyMismatch
	}
	if !a.bindRoomLocked(same && now < old.expires, pk.ip, now) {
		a.mu.Unlock()
		return ErrCapacity
	}
	// Clear what the new binding replaces: bindings of this number or this
	// peer that are past their reuse delay but not yet swept.
	if numberUsed && !same {
		a.dropBindingLocked(ch)
	}
	if peerUsed && other != ch {
		a.dropBindingLocked(other)
	}
	a.installBindingLocked(ch, pk, now.Add(cfg.ChannelLifetime))
	permDeadline := now.Add(cfg.PermissionLifetime)
	a.installPermLocked(ipKey(pk.ip), permDeadline)
	a.mu.Unlock()
	a.shard.lowerWake(a, min(permDeadline, now.Add(cfg.ChannelLifetime)))
	return nil
}

// ChannelPeer returns the peer bound to channel ch at now, for ChannelData
// from the client (RFC 8656 §12.6); nothing is bound once the
// allocation has expired. Reading never refreshes anything.
// Data path: one read lock, no allocation, safe for concurrent use.
func (a *Allocation) ChannelPeer(ch uint16, now mono.Time) (netip.AddrPort, bool) {
	a.mu.RLock()
	b, ok := a.chans[ch]
	a.mu.RUnlock()
	if !ok || now >= b.expires || now >= a.Expires() {
		return netip.AddrPort{}, false
	}
	return b.peer.addrPort(), true
}

// PeerChannel returns the channel bound to the peer transport address at
// now, for data from a peer (RFC 8656 §11.3, §12.5, §12.7): ChannelData
// with that number if ok, else a Data indication. Data path: one read lock,
// no allocation, safe for concurrent use.
func (a *Allocation) PeerChannel(peer netip.AddrPort, now mono.Time) (uint16, bool) {
	k := addrKeyOf(peer)
	a.mu.RLock()
	ch, ok := a.peers[k]
	b := a.chans[ch]
	a.mu.RUnlock()
	if !ok || now >= b.expires || now >= a.Expires() {
		return 0, false
	}
	return ch, true
}

// Channels returns the number of channels bound at now, for tests and
// diagnostics.
func (a *Allocation) Channels(now mono.Time) int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := 0
	for _, b := range a.chans {
		if now < b.expires {
			n++
		}
	}
	return n
}

// bindRoomLocked reports whether a binding for a peer with IP ip fits the
// limits: a new live binding (refreshing is false) must stay within
// MaxChannels and a new live permission within MaxPermissions. Expired
// entries are swept before refusing. Called with a.mu held for writing.
func (a *Allocation) bindRoomLocked(refreshing bool, ip [16]byte, now mono.Time) bool {
	cfg := &a.shard.table.cfg
	newChannel := !refreshing
	if newChannel && int(a.nChans[0]+a.nChans[1]) >= cfg.MaxChannels {
		a.purgeChansLocked(now)
		if int(a.nChans[0]+a.nChans[1]) >= cfg.MaxChannels {
			return false
		}
	}
	d, ok := a.perms[ipKey(ip)]
	if ok && now < d {
		return true
	}
	if len(a.perms)+1 <= cfg.MaxPermissions {
		return true
	}
	a.purgePermsLocked(now)
	return len(a.perms)+1 <= cfg.MaxPermissions
}

// installBindingLocked binds ch to pk until deadline, or moves an existing
// binding of the same pair to deadline if that is later. Called with a.mu
// held for writing, after any conflicting binding has been dropped.
func (a *Allocation) installBindingLocked(ch uint16, pk addrKey, deadline mono.Time) {
	if a.chans == nil {
		a.chans = make(map[uint16]binding)
		a.peers = make(map[addrKey]uint16)
	}
	b, ok := a.chans[ch]
	if ok && b.expires > deadline {
		deadline = b.expires
	}
	if !b.live {
		fi := familyIndex(familyOfKey(pk.ip))
		a.nChans[fi]++
		a.shard.table.gauges.chans[fi].Add(1)
	}
	a.chans[ch] = binding{peer: pk, live: true, expires: deadline}
	a.peers[pk] = ch
}

// dropBindingLocked removes the binding of ch and its reverse entry.
// Called with a.mu held for writing.
func (a *Allocation) dropBindingLocked(ch uint16) {
	b, ok := a.chans[ch]
	if !ok {
		return
	}
	if b.live {
		a.unliveLocked(b.peer)
	}
	delete(a.chans, ch)
	if a.peers[b.peer] == ch {
		delete(a.peers, b.peer)
	}
}

// unliveLocked takes a binding for peer out of the live counts.
func (a *Allocation) unliveLocked(peer addrKey) {
	fi := familyIndex(familyOfKey(peer.ip))
	a.nChans[fi]--
	a.shard.table.gauges.chans[fi].Add(-1)
}

// purgeChansLocked ends bindings expired at now (they stop counting as
// live) and removes those whose reuse delay is over. It returns the earliest
// future event among the rest: an expiry for a live binding, the end of the
// reuse delay for an expired one (ok false if no binding remains). Called
// with a.mu held for writing.
func (a *Allocation) purgeChansLocked(now mono.Time) (next mono.Time, ok bool) {
	for ch, b := range a.chans {
		if b.live && b.expires <= now {
			b.live = false
			a.chans[ch] = b
			a.unliveLocked(b.peer)
		}
		event := b.expires
		if !b.live {
			event = b.expires.Add(ChannelReuseDelay)
		}
		if event <= now {
			delete(a.chans, ch)
			if a.peers[b.peer] == ch {
				delete(a.peers, b.peer)
			}
			continue
		}
		if !ok || event < next {
			next, ok = event, true
		}
	}
	if len(a.chans) == 0 {
		a.chans, a.peers = nil, nil
	}
	return next, ok
}

// ChannelExpires returns the peer bound to channel ch and when the binding
// expires, if it is live at now, for a shell that tells a data-plane
// observer when the binding stops being usable (RFC 8656 §12: channels
// last 10 minutes unless refreshed). Safe for concurrent use.
func (a *Allocation) ChannelExpires(ch uint16, now mono.Time) (peer netip.AddrPort, expires mono.Time, ok bool) {
	a.mu.RLock()
	b, ok := a.chans[ch]
	a.mu.RUnlock()
	if !ok || now >= b.expires || now >= a.Expires() {
		return netip.AddrPort{}, 0, false
	}
	return b.peer.addrPort(), b.expires, true
}
