package allocation

import "sync/atomic"

// FamilyCount is a count split by address family.
type FamilyCount struct {
	IPv4, IPv6 int
}

// Stats is a snapshot of the table's gauges, for metrics.
//
// Allocations counts allocations in the table (each Create counted until
// its Delete, or until Expire or a Create or quota check retires it), and
// Relayed counts their relayed addresses by family, so a dual allocation
// counts once in each. Permissions counts installed permissions by peer
// family and Channels live channel bindings by peer family. Each counter
// changes exactly when the table reclaims the object, so the figures are
// the live ones as of the last Expire call: between the shell's timer
// firing and its Expire call they may include objects that have just
// expired.
type Stats struct {
	Allocations int
	Relayed     FamilyCount
	Permissions FamilyCount
	Channels    FamilyCount
}

// gauges are the table's counters behind Stats. Updated with atomic adds on
// the control path only.
type gauges struct {
	allocs  atomic.Int64 // allocations in the table; the ledger also counts reservations
	relayed [2]atomic.Int64
	perms   [2]atomic.Int64
	chans   [2]atomic.Int64
}

func (g *gauges) addRelayed(a *Allocation, delta int64) {
	if a.Relayed4.IsValid() {
		g.relayed[0].Add(delta)
	}
	if a.Relayed6.IsValid() {
		g.relayed[1].Add(delta)
	}
}

func pair(c *[2]atomic.Int64) FamilyCount {
	return FamilyCount{IPv4: int(c[0].Load()), IPv6: int(c[1].Load())}
}

// Stats returns the current gauges. Safe for concurrent use; the fields are
// read one by one, so under concurrent change they need not add up exactly.
func (t *Table) Stats() Stats {
	return Stats{
		Allocations: int(t.gauges.allocs.Load()),
		Relayed:     pair(&t.gauges.relayed),
		Permissions: pair(&t.gauges.perms),
		Channels:    pair(&t.gauges.chans),
	}
}

// UserAllocations returns how many quota units user holds: allocations in
// the table and ports reserved under RESERVATION-TOKENs of its Allocates.
func (t *Table) UserAllocations(user string) int { return t.ledger.user(user) }
