package allocation

import (
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Reservations holds relayed ports reserved by an Allocate with EVEN-PORT
// R=1 for a later Allocate with RESERVATION-TOKEN (RFC 8656 §7.2). A
// reservation is server-wide: the later request may come on any 5-tuple.
// Tokens are 8 random bytes chosen by the shell (crypto/rand); the value is
// opaque to the table (the shell's reserved socket).
//
// A reservation holds a port, so it counts against its owner's quota and
// the total quota of its Table from Reserve until it leaves: through
// Expire (the owner's unit is released), Cancel (likewise), or Redeem,
// which moves the unit to the redeeming user for the allocation it is
// about to create (docs/protocol.md, EVEN-PORT reservations and quotas).
//
// Get it from Table.Reservations. Methods are safe for concurrent use under
// one mutex: reservations are rare control-path events. Lock order:
// Reservations, then the table's quota ledger.
type Reservations struct {
	table *Table
	mu    sync.Mutex
	held  map[[8]byte]reservation
	queue []reservationDeadline // min-heap by when; entries may be stale
}

type reservation struct {
	value   any
	owner   string // the user whose quota the reserved port counts against
	expires mono.Time
}

// reservationDeadline is a queue entry. It is stale when its token has been
// taken (or taken and reserved again with another deadline); stale entries
// are dropped when they reach the top.
type reservationDeadline struct {
	when  mono.Time
	token [8]byte
}

// Reserve holds v under token for owner until now + ttl, counting it as
// one of owner's quota units. ttl must be at least MinReservationTTL (30 s,
// RFC 8656 §7.2) and at most an hour (ErrInvalidLifetime). It fails with
// ErrQuota (486) when owner or the table has no unit left, and with
// ErrExists for a token already held, even expired and not yet handed back
// by Expire, so the shell draws another.
func (r *Reservations) Reserve(token [8]byte, owner string, v any, now mono.Time, ttl time.Duration) error {
	if ttl < MinReservationTTL || ttl > time.Hour {
		return ErrInvalidLifetime
	}
	t := r.table
	err := t.ledger.acquire(owner, t.cfg.UserQuota, t.cfg.TotalQuota)
	if err == ErrQuota && t.retireDue(now) > 0 {
		err = t.ledger.acquire(owner, t.cfg.UserQuota, t.cfg.TotalQuota)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.held[token]; ok {
		t.ledger.release(owner)
		return ErrExists
	}
	if r.held == nil {
		r.held = make(map[[8]byte]reservation)
	}
	when := now.Add(ttl)
	r.held[token] = reservation{value: v, owner: owner, expires: when}
	r.push(reservationDeadline{when: when, token: token})
	return nil
}

// Redeem removes and returns the value held under token for an Allocate
// by user at now. It fails with ErrGone when nothing is reserved under
// token at now (RFC 8656 §7.2 step 5: 508); an expired reservation is left
// for Expire, which hands its value back for closing. It fails with
// ErrQuota (486, §7.2 step 10) when user is not the owner and already holds
// its quota; the reservation then stays.
//
// On success the owner's unit has moved to user: the caller passes it on
// with Spec.Redeemed to Create, or gives it back with ReleaseRedeemed if
// the Allocate fails before that.
func (r *Reservations) Redeem(token [8]byte, user string, now mono.Time) (any, error) {
	t := r.table
	for retired := false; ; retired = true {
		v, err := r.redeem(token, user, now)
		if err != ErrQuota || retired || t.retireDue(now) == 0 {
			return v, err
		}
	}
}

func (r *Reservations) redeem(token [8]byte, user string, now mono.Time) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.held[token]
	if !ok || now >= res.expires {
		return nil, ErrGone
	}
	if err := r.table.ledger.transfer(res.owner, user, r.table.cfg.UserQuota); err != nil {
		return nil, err
	}
	delete(r.held, token)
	return res.value, nil
}

// ReleaseRedeemed gives back the quota unit Redeem moved to user, for an
// Allocate that fails before Create.
func (r *Reservations) ReleaseRedeemed(user string) { r.table.ledger.release(user) }

// Cancel removes the reservation under token, expired or not, releases its
// owner's unit and returns its value for closing; ok is false if nothing
// is held under token. It is for an Allocate that reserved a port but
// failed before its client learnt the token.
func (r *Reservations) Cancel(token [8]byte) (v any, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.held[token]
	if !ok {
		return nil, false
	}
	delete(r.held, token)
	r.table.ledger.release(res.owner)
	return res.value, true
}

// Expire removes every reservation expired at now, releases its owner's
// unit and returns dst with their values appended; the caller closes them.
// Until then an expired reservation still holds its port and its unit.
func (r *Reservations) Expire(now mono.Time, dst []any) []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) > 0 && r.queue[0].when <= now {
		top := r.pop()
		res, ok := r.held[top.token]
		if !ok || res.expires != top.when {
			continue // taken since it was queued
		}
		delete(r.held, top.token)
		r.table.ledger.release(res.owner)
		dst = append(dst, res.value)
	}
	if len(r.held) == 0 {
		r.held = nil
	}
	return dst
}

// NextDeadline returns the earliest expiry of a held reservation, or ok
// false if none is held.
func (r *Reservations) NextDeadline() (mono.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) > 0 {
		top := r.queue[0]
		if res, ok := r.held[top.token]; ok && res.expires == top.when {
			return top.when, true
		}
		r.pop()
	}
	return 0, false
}

// Len returns the number of reservations held, expired or not.
func (r *Reservations) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

func (r *Reservations) push(e reservationDeadline) {
	r.queue = append(r.queue, e)
	q := r.queue
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if q[parent].when <= q[i].when {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (r *Reservations) pop() reservationDeadline {
	q := r.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		least := i
		if l := 2*i + 1; l < len(q) && q[l].when < q[least].when {
			least = l
		}
		if rt := 2*i + 2; rt < len(q) && q[rt].when < q[least].when {
			least = rt
		}
		if least == i {
			break
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
	r.queue = q
	return top
}
