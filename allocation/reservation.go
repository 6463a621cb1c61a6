package allocation

import (
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Reservations holds relayed ports reserved by an Allocate with EVEN-PORT
// R=1 for a later Allocate with RESERVATION-TOKEN (RFC 8656 §7.2). A reservation is server-wide: the later request may come on any
// 5-tuple. Tokens are 8 random bytes chosen by the shell (crypto/rand); the
// value is opaque to the table (the shell's reserved socket).
//
// The zero value is ready to use. Methods are safe for concurrent use under
// one mutex: reservations are rare control-path events.
type Reservations struct {
	mu    sync.Mutex
	held  map[[8]byte]reservation
	queue []reservationDeadline // min-heap by when; entries may be stale
}

type reservation struct {
	value   any
	expires mono.Time
}

// reservationDeadline is a queue entry. It is stale when its token has been
// taken (or taken and reserved again with another deadline); stale entries
// are dropped when they reach the top.
type reservationDeadline struct {
	when  mono.Time
	token [8]byte
}

// Reserve holds v under token until now + ttl. ttl must be at least
// MinReservationTTL (30 s, RFC 8656 §7.2) and at most an hour
// (ErrInvalidLifetime); a token already held, even expired and not yet
// handed back by Expire, fails with ErrExists so the shell draws another.
func (r *Reservations) Reserve(token [8]byte, v any, now mono.Time, ttl time.Duration) error {
	if ttl < MinReservationTTL || ttl > time.Hour {
		return ErrInvalidLifetime
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.held[token]; ok {
		return ErrExists
	}
	if r.held == nil {
		r.held = make(map[[8]byte]reservation)
	}
	when := now.Add(ttl)
	r.held[token] = reservation{value: v, expires: when}
	r.push(reservationDeadline{when: when, token: token})
	return nil
}

// Take removes and returns the value held under token if it is still
// reserved at now (RFC 8656 §7.2 step 5: otherwise 508). An expired
// reservation is left for Expire, which hands its value back for closing.
func (r *Reservations) Take(token [8]byte, now mono.Time) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.held[token]
	if !ok || now >= res.expires {
		return nil, false
	}
	delete(r.held, token)
	return res.value, true
}

// Expire removes every reservation expired at now and returns dst with
// their values appended; the caller closes them.
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
