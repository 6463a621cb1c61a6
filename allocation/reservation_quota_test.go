package allocation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// quotaModel is the naive account of quota units: a list of everything
// that holds a relayed port, counted one by one. An allocation counts
// while it is alive (the table reclaims expired ones before refusing), a
// reservation until Redeem, Cancel or Expire removes it, and a redeemed
// unit until Create spends it or ReleaseRedeemed gives it back.
type quotaModel struct {
	cfg      Config
	allocs   []*quotaAlloc
	reserved []*quotaReservation
	claims   []string // users holding a redeemed unit not yet spent
}

type quotaAlloc struct {
	real    *Allocation
	ft      FiveTuple
	user    string
	expires mono.Time
	deleted bool
}

type quotaReservation struct {
	token   [8]byte
	owner   string
	expires mono.Time
}

func (m *quotaModel) units(user string, now mono.Time) (mine, total int) {
	count := func(u string) {
		total++
		if u == user {
			mine++
		}
	}
	for _, a := range m.allocs {
		if !a.deleted && now < a.expires {
			count(a.user)
		}
	}
	for _, r := range m.reserved {
		count(r.owner)
	}
	for _, u := range m.claims {
		count(u)
	}
	return mine, total
}

// room reports ErrQuota unless user may take n more units at now.
func (m *quotaModel) room(user string, n int, now mono.Time) error {
	mine, total := m.units(user, now)
	if m.cfg.UserQuota > 0 && mine+n > m.cfg.UserQuota || m.cfg.TotalQuota > 0 && total+n > m.cfg.TotalQuota {
		return ErrQuota
	}
	return nil
}

func (m *quotaModel) liveOn(ft FiveTuple, now mono.Time) bool {
	for _, a := range m.allocs {
		if a.ft == ft && !a.deleted && now < a.expires {
			return true
		}
	}
	return false
}

func (m *quotaModel) reservation(token [8]byte) int {
	return slices.IndexFunc(m.reserved, func(r *quotaReservation) bool { return r.token == token })
}

// create is Create with or without a redeemed unit.
func (m *quotaModel) create(ft FiveTuple, user string, redeemed bool, lifetime time.Duration, now mono.Time) (*quotaAlloc, error) {
	if redeemed {
		// Spent on success, given back on failure: gone either way.
		i := slices.Index(m.claims, user)
		m.claims = slices.Delete(m.claims, i, i+1)
	}
	if m.liveOn(ft, now) {
		return nil, ErrExists
	}
	if !redeemed {
		if err := m.room(user, 1, now); err != nil {
			return nil, err
		}
	}
	a := &quotaAlloc{ft: ft, user: user, expires: now.Add(lifetime)}
	m.allocs = append(m.allocs, a)
	return a, nil
}

func (m *quotaModel) reserve(token [8]byte, owner string, now mono.Time, ttl time.Duration) error {
	if err := m.room(owner, 1, now); err != nil {
		return err
	}
	if m.reservation(token) >= 0 {
		return ErrExists
	}
	m.reserved = append(m.reserved, &quotaReservation{token: token, owner: owner, expires: now.Add(ttl)})
	return nil
}

func (m *quotaModel) redeem(token [8]byte, user string, now mono.Time) error {
	i := m.reservation(token)
	if i < 0 || now >= m.reserved[i].expires {
		return ErrGone
	}
	if r := m.reserved[i]; r.owner != user {
		if mine, _ := m.units(user, now); m.cfg.UserQuota > 0 && mine >= m.cfg.UserQuota {
			return ErrQuota
		}
	}
	m.reserved = slices.Delete(m.reserved, i, i+1)
	m.claims = append(m.claims, user)
	return nil
}

func (m *quotaModel) cancel(token [8]byte) bool {
	i := m.reservation(token)
	if i < 0 {
		return false
	}
	m.reserved = slices.Delete(m.reserved, i, i+1)
	return true
}

// expire removes the reservations expired at now and returns their tokens.
func (m *quotaModel) expire(now mono.Time) [][8]byte {
	var gone [][8]byte
	m.reserved = slices.DeleteFunc(m.reserved, func(r *quotaReservation) bool {
		if now >= r.expires {
			gone = append(gone, r.token)
			return true
		}
		return false
	})
	return gone
}

// reservationQuotaRun drives a table and its reservations with random
// allocate, reserve, redeem, cancel, delete, quota-check and expiry steps,
// and fails t at the first answer or count the naive model disagrees with.
func reservationQuotaRun(t *testing.T, r *rand.Rand, ops int) {
	cfg := Config{DefaultLifetime: 60 * time.Second, MaxLifetime: 120 * time.Second, UserQuota: 3, TotalQuota: 6, Shards: 2}
	tab := newTable(t, cfg)
	res := tab.Reservations()
	m := &quotaModel{cfg: tab.Config()}
	users := []string{"alice", "bob", "carol"}
	var now mono.Time
	var nextToken byte
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		start := max(0, len(trace)-30)
		t.Fatalf("after %d ops (last %d):\n%s\nat %v: %s", len(trace), len(trace)-start,
			strings.Join(trace[start:], "\n"), time.Duration(now), fmt.Sprintf(format, args...))
	}
	check := func(op string, got, want error) {
		t.Helper()
		if got != want {
			fail("%s = %v, model %v", op, errName(got), errName(want))
		}
	}
	token := func() [8]byte {
		// Mostly a token that is or was held, sometimes one never issued.
		if nextToken > 0 && r.IntN(5) > 0 {
			return [8]byte{byte(1 + r.IntN(int(nextToken)))}
		}
		return [8]byte{nextToken + 1 + byte(r.IntN(3))}
	}
	create := func(user string, redeemed bool) {
		ft := tupleN(r.IntN(8))
		life := time.Duration(30+r.IntN(91)) * time.Second
		trace = append(trace, fmt.Sprintf("create %v %s redeemed=%v %v", ft.Client, user, redeemed, life))
		spec := Spec{FiveTuple: ft, User: user, Relayed4: relay4, Lifetime: life, Redeemed: redeemed}
		a, err := tab.Create(spec, now)
		ma, werr := m.create(ft, user, redeemed, life, now)
		check("Create", err, werr)
		if ma != nil {
			ma.real = a
		}
	}
	for range ops {
		user := users[r.IntN(len(users))]
		switch r.IntN(12) {
		case 0, 1: // allocate
			create(user, false)
		case 2, 3: // reserve
			tok := token()
			ttl := time.Duration(30+r.IntN(31)) * time.Second
			trace = append(trace, fmt.Sprintf("reserve %x %s %v", tok[0], user, ttl))
			check("Reserve", res.Reserve(tok, user, tok, now, ttl), m.reserve(tok, user, now, ttl))
			if tok[0] > nextToken {
				nextToken = tok[0]
			}
		case 4, 5: // redeem, then create with the unit or give it back
			tok := token()
			trace = append(trace, fmt.Sprintf("redeem %x %s", tok[0], user))
			v, err := res.Redeem(tok, user, now)
			check("Redeem", err, m.redeem(tok, user, now))
			if err != nil {
				continue
			}
			if v != tok {
				fail("Redeem returned %v, want the value reserved under %x", v, tok[0])
			}
			if r.IntN(4) == 0 {
				trace = append(trace, "release "+user)
				res.ReleaseRedeemed(user)
				i := slices.Index(m.claims, user)
				m.claims = slices.Delete(m.claims, i, i+1)
				continue
			}
			create(user, true)
		case 6: // cancel
			tok := token()
			trace = append(trace, fmt.Sprintf("cancel %x", tok[0]))
			_, ok := res.Cancel(tok)
			if want := m.cancel(tok); ok != want {
				fail("Cancel = %v, model %v", ok, want)
			}
		case 7: // delete
			if len(m.allocs) == 0 {
				continue
			}
			ma := m.allocs[r.IntN(len(m.allocs))]
			trace = append(trace, fmt.Sprintf("delete %v", ma.ft.Client))
			var werr error
			if ma.deleted || now >= ma.expires {
				werr = ErrGone
			} else {
				ma.deleted = true
			}
			check("Delete", tab.Delete(ma.real, now), werr)
		case 8: // the pre-check of an Allocate, with or without R=1
			n := 1 + r.IntN(2)
			trace = append(trace, fmt.Sprintf("checkquota %s %d", user, n))
			check("CheckQuota", tab.CheckQuota(user, n, now), m.room(user, n, now))
		case 9, 10: // time passes
			now += mono.Time(r.IntN(40_000)) * mono.Time(time.Millisecond)
			trace = append(trace, fmt.Sprintf("advance to %v", time.Duration(now)))
		default: // the shell's timer: expire both, then compare the counts
			trace = append(trace, "expire")
			tab.Expire(now, nil)
			var got [][8]byte
			for _, v := range res.Expire(now, nil) {
				got = append(got, v.([8]byte))
			}
			want := m.expire(now)
			slices.SortFunc(got, func(a, b [8]byte) int { return int(a[0]) - int(b[0]) })
			slices.SortFunc(want, func(a, b [8]byte) int { return int(a[0]) - int(b[0]) })
			if !slices.Equal(got, want) {
				fail("Reservations.Expire = %v, model %v", got, want)
			}
			for _, u := range users {
				mine, total := m.units(u, now)
				if got := tab.UserAllocations(u); got != mine {
					fail("UserAllocations(%s) = %d, model %d", u, got, mine)
				}
				if got := int(tab.ledger.total.Load()); got != total {
					fail("units in total = %d, model %d", got, total)
				}
			}
			if res.Len() != len(m.reserved) {
				fail("Reservations.Len = %d, model %d", res.Len(), len(m.reserved))
			}
		}
	}
}

// TestReservationQuotaModel checks quota accounting across allocate,
// reserve, redeem, cancel, delete and expiry against the naive model.
func TestReservationQuotaModel(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		reservationQuotaRun(t, rand.New(rand.NewPCG(uint64(seed), 0x7265736)), 400)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// TestConcurrentRedeemAcrossUsers has users reserve ports and redeem one
// another's tokens on several goroutines at once, as packet loops do: the
// ledger locks two users' shards for a transfer, in opposite directions at
// the same time. Run with -race. No user may ever exceed the quota, and
// once everything is deleted or expired no unit is left.
func TestConcurrentRedeemAcrossUsers(t *testing.T) {
	const quota = 4
	tab := newTable(t, Config{UserQuota: quota, Shards: 4})
	res := tab.Reservations()
	users := []string{"alice", "bob", "carol", "dave"}
	var tokens [4][8]byte
	for i := range tokens {
		tokens[i] = [8]byte{byte(i + 1)}
	}
	var wg sync.WaitGroup
	for w, user := range users {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 3000 {
				// Each worker reserves under its own token and redeems a
				// random one, often another user's.
				if err := res.Reserve(tokens[w], user, w, 0, time.Minute); err != nil && err != ErrExists && err != ErrQuota {
					t.Errorf("Reserve: %v", err)
					return
				}
				if _, err := res.Redeem(tokens[r.IntN(len(tokens))], user, 0); err == nil {
					ft := tupleN(1 + w*64 + i%64)
					a, err := tab.Create(Spec{FiveTuple: ft, User: user, Relayed4: relay4, Lifetime: time.Minute, Redeemed: true}, 0)
					if err == nil {
						if err := tab.Delete(a, 0); err != nil {
							t.Errorf("Delete: %v", err)
						}
					}
				}
				if n := tab.UserAllocations(user); n > quota {
					t.Errorf("%s holds %d units, quota %d", user, n, quota)
					return
				}
			}
		})
	}
	wg.Wait()
	res.Expire(mono.Time(time.Hour), nil)
	for _, u := range users {
		if n := tab.UserAllocations(u); n != 0 {
			t.Errorf("%s holds %d units after everything ended", u, n)
		}
	}
	if n := tab.ledger.total.Load(); n != 0 {
		t.Errorf("%d units in total after everything ended", n)
	}
}
