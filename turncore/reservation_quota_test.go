package turncore

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
)

// An Allocate that fails after it reserved a port or redeemed a token gives
// the quota unit back at once: the reserved port is cancelled (its client
// never learns the token), the redeemed unit released, so no failed
// Allocate leaves a user charged for a port nobody holds (RFC 8656 §7.2
// step 10; docs/protocol.md).
func TestFailedAllocateGivesQuotaBack(t *testing.T) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	set.alloc.TotalQuota = 3
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("client bob 192.0.2.20:5000")
	sc.do("permit alice 198.51.100.1") // learns a nonce
	sc.do("permit bob 198.51.100.1")
	sh := sc.sh
	table := sh.core.Table()
	// fill stands for Allocates on other packet loops that take the room
	// CheckQuota saw before this one reaches Commit.
	var fillers []*allocation.Allocation
	fill := func(n int) {
		for i := range n {
			ft := allocation.FiveTuple{Client: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.99"), uint16(7000+i)),
				Server: testServer, Transport: allocation.TransportUDP}
			spec := allocation.Spec{FiveTuple: ft, User: "other", Relayed4: netip.MustParseAddrPort("203.0.113.1:40000"),
				Lifetime: 600 * time.Second, Ext: &fakeSession{client: "other"}}
			a, err := table.Create(spec, sh.now())
			if err != nil {
				t.Fatalf("filling the table: %v", err)
			}
			fillers = append(fillers, a)
		}
	}

	// alice's R=1 Allocate binds its pair and reserves port+1, then loses
	// the last unit of the total quota to another Allocate: 486, both
	// sockets closed, the reservation gone with its unit.
	c := sc.clients["alice"]
	r := sh.proc.Handle(c.ft, sc.buildRequest(c, []string{"allocate", "alice", "reserve"}, t.Fatalf), sh.now(), sh.clock.Wall())
	even := &fakeSocket{public: r.Open.Public}
	r = sh.proc.Opened(even, Opened)
	if r.Step != StepOpen {
		t.Fatalf("after the even port: step %v, %s", r.Step, describe(r.Response))
	}
	odd := &fakeSocket{public: r.Open.Public}
	r = sh.proc.Opened(odd, Opened)
	if r.Step != StepCommit || table.Reservations().Len() != 1 || table.UserAllocations("alice") != 1 {
		t.Fatalf("before Commit: step %v, %d reserved, alice holds %d", r.Step, table.Reservations().Len(), table.UserAllocations("alice"))
	}
	fill(2)
	r = sh.proc.Commit(&fakeSession{client: "alice"})
	if got := describe(r.Response); r.Created != nil || got != "allocate error 486 MI" {
		t.Fatalf("Commit over the total quota: created %v, %s", r.Created, got)
	}
	closed := map[any]bool{}
	for _, a := range r.Actions {
		if a.Kind == ActCloseSocket {
			closed[a.Handle] = true
		}
	}
	if !closed[even] || !closed[odd] {
		t.Errorf("actions %+v, want both sockets of the pair closed", r.Actions)
	}
	if n := table.Reservations().Len(); n != 0 {
		t.Errorf("%d reservations left by the failed Allocate", n)
	}
	if n := table.UserAllocations("alice"); n != 0 {
		t.Errorf("alice holds %d units after her Allocate failed", n)
	}

	// A token redeemed by an Allocate whose DONT-FRAGMENT cannot be set on
	// the reserved socket: 508, and the unit Redeem moved to bob is given
	// back rather than kept for an allocation that does not exist.
	for _, a := range fillers {
		if err := table.Delete(a, sh.now()); err != nil {
			t.Fatal(err)
		}
	}
	if out := sc.do("allocate alice reserve"); !strings.HasPrefix(lastLine(out), "allocate success") || table.Reservations().Len() != 1 {
		t.Fatalf("allocate alice reserve: %v", out)
	}
	b := sc.clients["bob"]
	r = sh.proc.Handle(b.ft, sc.buildRequest(b, []string{"allocate", "bob", "token=last", "df"}, t.Fatalf), sh.now(), sh.clock.Wall())
	if r.Step != StepOpen || r.Open.Reserved == nil {
		t.Fatalf("redeeming with DF: step %v, %s", r.Step, describe(r.Response))
	}
	if table.UserAllocations("bob") != 1 || table.UserAllocations("alice") != 1 {
		t.Fatalf("after Redeem: bob holds %d, alice %d; want the unit moved to bob", table.UserAllocations("bob"), table.UserAllocations("alice"))
	}
	r = sh.proc.Opened(nil, OpenFailed)
	if got := describe(r.Response); got != "allocate error 508 MI" {
		t.Fatalf("DF refused on the reserved socket: %s", got)
	}
	if n := table.UserAllocations("bob"); n != 0 {
		t.Errorf("bob holds %d units after his Allocate failed", n)
	}
}
