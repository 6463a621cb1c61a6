package loadtest

import (
	"net/netip"
	"sync/atomic"
)

// loopbackSources hands out IPv4 loopback addresses, a different one per
// call, for churn cycles: every cycle then arrives from its own source
// address, as new clients do, so no server pays for reusing a 5-tuple whose
// allocation it still keeps after the delete (coturn holds a deleted
// allocation for about a second). The whole of 127.0.0.0/8 is local on Linux
// (RFC 1122 §3.2.1.3 reserves it for loopback), so binding any of it needs no
// setup. Addresses run from 127.1.0.1 and skip host bytes 0 and 255, which
// some stacks treat as network and broadcast addresses; after 254 × 256 × 254
// (about 16.5 million) calls they repeat. Safe for concurrent use.
type loopbackSources struct {
	next atomic.Uint64
}

// sourcesPerBlock is the number of addresses in one 127.a.0.0/16 block.
const sourcesPerBlock = 256 * 254

// take returns the next source address.
func (s *loopbackSources) take() netip.Addr {
	k := (s.next.Add(1) - 1) % (254 * sourcesPerBlock)
	return netip.AddrFrom4([4]byte{127, byte(1 + k/sourcesPerBlock), byte(k % sourcesPerBlock / 254), byte(1 + k%254)})
}

// taken is how many addresses take has handed out.
func (s *loopbackSources) taken() uint64 { return s.next.Load() }
