package txcache

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

var (
	clientA = netip.MustParseAddrPort("192.0.2.1:40000")
	server  = netip.MustParseAddrPort("198.51.100.1:3478")
)

func txid(n byte) (t [12]byte) { t[11] = n; return }

func TestGetReturnsWhatWasPut(t *testing.T) {
	c := New(16, 2, DefaultTTL)
	k := MakeKey(clientA, server, 17, txid(1))
	c.Put(k, []byte("answer"), 0)
	got, ok := c.Get(k, mono.Time(39*time.Second))
	if !ok || string(got) != "answer" {
		t.Fatalf("Get = %q, %v", got, ok)
	}
}

func TestEntryExpiresAtTTL(t *testing.T) {
	c := New(16, 1, DefaultTTL)
	k := MakeKey(clientA, server, 17, txid(1))
	c.Put(k, []byte("x"), 0)
	if _, ok := c.Get(k, mono.Time(DefaultTTL)-1); !ok {
		t.Fatal("entry gone before its TTL")
	}
	if _, ok := c.Get(k, mono.Time(DefaultTTL)); ok {
		t.Fatal("entry still served at its TTL")
	}
}

func TestKeyDistinguishesTupleAndTransaction(t *testing.T) {
	c := New(64, 4, DefaultTTL)
	base := MakeKey(clientA, server, 17, txid(1))
	c.Put(base, []byte("a"), 0)
	others := []Key{
		MakeKey(netip.MustParseAddrPort("192.0.2.1:40001"), server, 17, txid(1)),
		MakeKey(netip.MustParseAddrPort("192.0.2.2:40000"), server, 17, txid(1)),
		MakeKey(clientA, netip.MustParseAddrPort("198.51.100.1:3479"), 17, txid(1)),
		MakeKey(clientA, server, 6, txid(1)),
		MakeKey(clientA, server, 17, txid(2)),
	}
	for i, k := range others {
		if _, ok := c.Get(k, 0); ok {
			t.Errorf("key %d matched an entry it does not own", i)
		}
	}
	mapped := MakeKey(netip.AddrPortFrom(netip.AddrFrom16(clientA.Addr().As16()), clientA.Port()), server, 17, txid(1))
	if _, ok := c.Get(mapped, 0); !ok {
		t.Error("IPv4-mapped spelling of the client did not meet its entry")
	}
}

func TestBoundedByCapacity(t *testing.T) {
	c := New(8, 1, DefaultTTL)
	for i := 0; i < 100; i++ {
		c.Put(MakeKey(clientA, server, 17, txid(byte(i))), []byte{byte(i)}, 0)
	}
	if n := c.Len(); n != 8 {
		t.Fatalf("Len = %d, want 8", n)
	}
	// The newest eight survive, the rest were overwritten.
	for i := 92; i < 100; i++ {
		got, ok := c.Get(MakeKey(clientA, server, 17, txid(byte(i))), 0)
		if !ok || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("recent entry %d lost", i)
		}
	}
}

// TestExpiredEntriesAreReleased: a busy period followed by a quiet one must
// not leave the busy period's responses held until the ring comes round.
func TestExpiredEntriesAreReleased(t *testing.T) {
	c := New(64, 1, DefaultTTL)
	for i := range 50 {
		c.Put(MakeKey(clientA, server, 17, txid(byte(i))), make([]byte, 100), mono.Time(i)*mono.Time(time.Millisecond))
	}
	// The newest entry, refreshed late, is kept.
	late := MakeKey(clientA, server, 17, txid(49))
	c.Put(late, []byte("late"), mono.Time(30*time.Second))
	c.Put(MakeKey(clientA, server, 17, txid(200)), []byte("new"), mono.Time(DefaultTTL+time.Second))
	if n := c.Len(); n != 2 {
		t.Fatalf("Len = %d after the TTL, want 2 (the refreshed entry and the new one)", n)
	}
	if got, ok := c.Get(late, mono.Time(DefaultTTL+time.Second)); !ok || string(got) != "late" {
		t.Fatalf("refreshed entry lost: %q %v", got, ok)
	}
	s := &c.shards[0]
	for i := range s.ring {
		if e := &s.ring[i]; e.response != nil && s.index[e.key] != i {
			t.Fatalf("slot %d holds a response nothing indexes", i)
		}
	}
}

func TestPutCopiesTheResponse(t *testing.T) {
	c := New(4, 1, DefaultTTL)
	k := MakeKey(clientA, server, 17, txid(1))
	buf := []byte("first")
	c.Put(k, buf, 0)
	copy(buf, "XXXXX")
	got, _ := c.Get(k, 0)
	if string(got) != "first" {
		t.Fatalf("cache aliases the caller's buffer: %q", got)
	}
}

// TestAgainstNaiveModel checks random Put/Get/time steps against a map that
// never evicts: whatever the cache answers must be what the model holds, and
// with capacity larger than the key space it must answer everything the model does.
func TestAgainstNaiveModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := New(1024, 4, DefaultTTL)
	type val struct {
		resp    byte
		expires mono.Time
	}
	model := map[byte]val{}
	var now mono.Time
	for step := 0; step < 20000; step++ {
		id := byte(r.IntN(200))
		k := MakeKey(clientA, server, 17, txid(id))
		switch r.IntN(3) {
		case 0:
			v := byte(r.IntN(256))
			c.Put(k, []byte{v}, now)
			model[id] = val{v, now.Add(DefaultTTL)}
		case 1:
			got, ok := c.Get(k, now)
			m, inModel := model[id]
			live := inModel && now.Before(m.expires)
			if ok != live || (ok && got[0] != m.resp) {
				t.Fatalf("step %d id %d: cache (%v,%v) model (%v,%v)", step, id, got, ok, m, live)
			}
		case 2:
			now = now.Add(time.Duration(r.IntN(5000)) * time.Millisecond)
		}
	}
}
