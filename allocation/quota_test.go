package allocation

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestUserQuota(t *testing.T) {
	tab := newTable(t, Config{UserQuota: 2})
	a1 := mustCreate(t, tab, specFor(tupleN(1), "alice"), 0)
	mustCreate(t, tab, specFor(tupleN(2), "alice"), 0)
	if _, err := tab.Create(specFor(tupleN(3), "alice"), 0); err != ErrQuota {
		t.Fatalf("third allocation of alice: %v, want ErrQuota", err)
	}
	if err := tab.CheckQuota("alice", 1, 0); err != ErrQuota {
		t.Errorf("CheckQuota(alice) = %v", err)
	}
	if err := tab.CheckQuota("bob", 1, 0); err != nil {
		t.Errorf("CheckQuota(bob) = %v", err)
	}
	mustCreate(t, tab, specFor(tupleN(3), "bob"), 0)
	if tab.UserAllocations("alice") != 2 || tab.UserAllocations("bob") != 1 || tab.Len() != 3 {
		t.Errorf("counts alice %d bob %d total %d", tab.UserAllocations("alice"), tab.UserAllocations("bob"), tab.Len())
	}
	if err := tab.Delete(a1, secs(1)); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, tab, specFor(tupleN(4), "alice"), secs(1))
	// The ErrExists check comes before the quota (RFC 8656 §7.2 step 2
	// before step 10).
	if _, err := tab.Create(specFor(tupleN(4), "alice"), secs(1)); err != ErrExists {
		t.Errorf("Create on an existing tuple over quota = %v, want ErrExists", err)
	}
}

func TestTotalQuota(t *testing.T) {
	tab := newTable(t, Config{TotalQuota: 3})
	for i := range 3 {
		mustCreate(t, tab, specFor(tupleN(i), fmt.Sprint("user", i)), 0)
	}
	if _, err := tab.Create(specFor(tupleN(9), "fresh"), 0); err != ErrQuota {
		t.Fatalf("Create over the total quota = %v, want ErrQuota", err)
	}
	if err := tab.CheckQuota("fresh", 1, 0); err != ErrQuota {
		t.Errorf("CheckQuota = %v", err)
	}
	if tab.UserAllocations("fresh") != 0 || tab.Len() != 3 {
		t.Errorf("a refused create was counted")
	}
}

// Allocations expired at now but not yet reclaimed by Expire must not hold
// quota: the shell's timer may fire a little late.
func TestQuotaIgnoresExpired(t *testing.T) {
	tab := newTable(t, Config{UserQuota: 1, TotalQuota: 1})
	old := mustCreate(t, tab, specFor(tupleN(1), "alice"), 0)
	if err := tab.CheckQuota("alice", 1, secs(599)); err != ErrQuota {
		t.Errorf("CheckQuota while alive = %v", err)
	}
	if err := tab.CheckQuota("alice", 1, secs(600)); err != nil {
		t.Errorf("CheckQuota after expiry = %v", err)
	}
	// CheckQuota retired the old allocation; Expire hands it over.
	fresh := mustCreate(t, tab, specFor(tupleN(2), "alice"), secs(600))
	if got := tab.Expire(secs(600), nil); len(got) != 1 || got[0] != old {
		t.Errorf("Expire = %v, want the expired allocation", got)
	}
	if tab.Lookup(tupleN(2), secs(600)) != fresh || tab.UserAllocations("alice") != 1 {
		t.Errorf("fresh allocation missing")
	}
	// Create alone (no CheckQuota first) also reclaims room.
	tab2 := newTable(t, Config{UserQuota: 1})
	mustCreate(t, tab2, specFor(tupleN(1), "alice"), 0)
	mustCreate(t, tab2, specFor(tupleN(2), "alice"), secs(600))
	if got := tab2.Expire(secs(600), nil); len(got) != 1 {
		t.Errorf("Expire = %v", got)
	}
}

// Many goroutines race to create allocations for one user and in total;
// the quotas must hold exactly. Run with -race.
func TestQuotaConcurrentCreates(t *testing.T) {
	const (
		workers    = 8
		perWorker  = 64
		userQuota  = 10
		totalQuota = 25
	)
	tab := newTable(t, Config{UserQuota: userQuota, TotalQuota: totalQuota, Shards: 4})
	var ok [3]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := w*perWorker + i
				user := n % 3
				if _, err := tab.Create(specFor(tupleN(n), fmt.Sprint("user", user)), 0); err == nil {
					ok[user].Add(1)
				} else if err != ErrQuota {
					t.Errorf("Create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for u := range ok {
		n := int(ok[u].Load())
		total += n
		if n > userQuota {
			t.Errorf("user%d got %d allocations, quota %d", u, n, userQuota)
		}
		if got := tab.UserAllocations(fmt.Sprint("user", u)); got != n {
			t.Errorf("UserAllocations(user%d) = %d, created %d", u, got, n)
		}
	}
	if total != totalQuota || tab.Len() != totalQuota {
		t.Errorf("created %d (Len %d), want exactly the total quota %d", total, tab.Len(), totalQuota)
	}
}
