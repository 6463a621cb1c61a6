package sourcebudget

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

var (
	victim   = netip.MustParseAddr("198.51.100.7")
	neighbor = netip.MustParseAddr("198.51.100.8")
)

func newTable(t *testing.T, cfg Config) *Table {
	t.Helper()
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// allowed counts how many of n requests from src at now are allowed.
func allowed(tb *Table, src netip.Addr, now mono.Time, n int) int {
	got := 0
	for range n {
		if tb.Allow(src, now) {
			got++
		}
	}
	return got
}

// TestBurstThenRate: a quiet source gets Burst answers at once, then one
// per 1/Rate; another source is untouched by the first one's debt.
func TestBurstThenRate(t *testing.T) {
	tb := newTable(t, Config{Rate: 10, Burst: 5})
	now := mono.Time(time.Hour)
	if got := allowed(tb, victim, now, 2000); got != 5 {
		t.Fatalf("burst of 2000 at one instant: %d allowed, want 5", got)
	}
	if got := allowed(tb, neighbor, now, 3); got != 3 {
		t.Fatalf("another source: %d of 3 allowed, want 3", got)
	}
	if tb.Allow(victim, now.Add(99*time.Millisecond)) {
		t.Fatal("allowed before a tenth of a second earned a response back")
	}
	if !tb.Allow(victim, now.Add(100*time.Millisecond)) {
		t.Fatal("refused after a tenth of a second earned one back")
	}
	if got := allowed(tb, victim, now.Add(time.Hour), 20); got != 5 {
		t.Fatalf("after an hour of quiet: %d allowed, want the burst of 5", got)
	}
}

// TestIPv6SharesPer64: the addresses of one /64 share a bucket (a host may
// use any of them); the next /64 has its own; IPv4-mapped addresses count
// as their IPv4 address.
func TestIPv6SharesPer64(t *testing.T) {
	tb := newTable(t, Config{Rate: 1, Burst: 4})
	now := mono.Time(0)
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9", "2001:db8:1:2:1:2:3:4"} {
		if !tb.Allow(netip.MustParseAddr(a), now) {
			t.Fatalf("request %d from %s refused within the /64's burst", i, a)
		}
	}
	if tb.Allow(netip.MustParseAddr("2001:db8:1:2::77"), now) {
		t.Fatal("a fifth address of the same /64 got a fifth answer")
	}
	if !tb.Allow(netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Fatal("the next /64 was refused")
	}
	allowed(tb, victim, now, 4)
	if tb.Allow(netip.AddrFrom16(victim.As16()), now) {
		t.Fatal("the IPv4-mapped form of a spent IPv4 source got an answer")
	}
}

// TestLoopbackIsNotBudgeted: loopback sources cannot come from the wire,
// so they are never limited (load tests and local clients).
func TestLoopbackIsNotBudgeted(t *testing.T) {
	tb := newTable(t, Config{Rate: 1, Burst: 1})
	for _, a := range []string{"127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"} {
		if got := allowed(tb, netip.MustParseAddr(a), 0, 50); got != 50 {
			t.Errorf("%s: %d of 50 allowed, want all", a, got)
		}
	}
}

// TestFloodOfNewSourcesKeepsADrainedBucket: a spoofed flood from fresh
// sources fills the whole table several times over, yet the drained bucket
// of the victim stays drained — eviction takes the fullest bucket of a set,
// and every flood source has spent only one response.
func TestFloodOfNewSourcesKeepsADrainedBucket(t *testing.T) {
	tb := newTable(t, Config{Rate: 1, Burst: 10, Slots: 1024})
	now := mono.Time(time.Hour)
	allowed(tb, victim, now, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 4 * tb.Slots() {
		a := netip.AddrFrom4([4]byte{203, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(i)})
		tb.Allow(a, now)
	}
	if tb.Allow(victim, now) {
		t.Fatal("the flood of fresh sources reset the victim's drained bucket")
	}
}

// TestNewSourceTakesFullestSlot: when a set is full, the newcomer takes the
// slot with the fullest bucket; the most drained one stays.
func TestNewSourceTakesFullestSlot(t *testing.T) {
	tb := newTable(t, Config{Rate: 1, Burst: 10, Slots: Ways}) // one set
	now := mono.Time(time.Hour)
	var srcs []netip.Addr
	for i := range Ways {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		srcs = append(srcs, a)
		allowed(tb, a, now, 10-i) // source i keeps i responses
	}
	tb.Allow(netip.MustParseAddr("192.0.2.200"), now) // evicts the fullest: source Ways-1
	if tb.Allow(srcs[0], now) {
		t.Fatal("the most drained source was evicted and got a fresh bucket")
	}
	if got := allowed(tb, srcs[Ways-1], now, 20); got != 10 {
		t.Fatalf("the fullest source, evicted: %d allowed, want a fresh burst of 10", got)
	}
}

// TestMatchesNaiveModel is the property test: for random requests from a
// handful of sources (never more than a set holds, so nothing is evicted)
// at random times, the table decides as a plain per-source token bucket
// with float tokens does.
func TestMatchesNaiveModel(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 99))
		rate, burst := 1+rng.IntN(20), 1+rng.IntN(30)
		tb := newTable(t, Config{Rate: rate, Burst: burst})
		type bucket struct {
			tokens float64
			last   mono.Time
		}
		model := map[netip.Addr]*bucket{}
		srcs := []netip.Addr{
			netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
			netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:0:1::1"),
		}
		now := mono.Time(rng.Int64N(int64(time.Hour)))
		for step := range 3000 {
			now += mono.Time(rng.Int64N(int64(3 * time.Second / time.Duration(rate))))
			src := srcs[rng.IntN(len(srcs))]
			b := model[src]
			if b == nil {
				b = &bucket{tokens: float64(burst), last: now}
				model[src] = b
			}
			b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*float64(rate))
			b.last = now
			want := b.tokens >= 1-1e-9
			if want {
				b.tokens--
			}
			if got := tb.Allow(src, now); got != want {
				t.Fatalf("seed %d step %d (rate %d, burst %d): %s allowed %v, model says %v (%.6f tokens)",
					seed, step, rate, burst, src, got, want, b.tokens)
			}
		}
	}
}

// TestAllowDoesNotAllocate: the budget sits on the request path of every
// packet loop.
func TestAllowDoesNotAllocate(t *testing.T) {
	tb := newTable(t, Config{})
	a := netip.MustParseAddr("2001:db8::5")
	now := mono.Time(0)
	if n := testing.AllocsPerRun(1000, func() { now += 1000; tb.Allow(a, now); tb.Allow(victim, now) }); n != 0 {
		t.Fatalf("Allow: %v allocations per call, want 0", n)
	}
}

func TestNewRejectsOutOfRange(t *testing.T) {
	for _, cfg := range []Config{{Rate: -1}, {Burst: -1}, {Slots: -1}, {Rate: MaxRate + 1}, {Burst: MaxBurst + 1}, {Slots: MaxSlots + 1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	tb := newTable(t, Config{})
	if tb.Slots() != Defaults.Slots {
		t.Errorf("default table tracks %d sources, want %d", tb.Slots(), Defaults.Slots)
	}
}
