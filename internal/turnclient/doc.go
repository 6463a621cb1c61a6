// Package turnclient is a small TURN client (RFC 8656) over UDP, TCP or TLS,
// used by turnstile's tests, its load generator and its gateway.
//
// A Client holds one TURN session: the transport connection to the relay
// and, after Allocate, the allocation on that 5-tuple. It speaks the
// long-term credential mechanism of RFC 8489 §9.2 (a TURN REST username and
// password work as any other), answering the 401 challenge and refreshing
// a stale nonce on 438 by itself.
//
// # What it does
//
//   - Allocate, with REQUESTED-ADDRESS-FAMILY, ADDITIONAL-ADDRESS-FAMILY
//     (dual allocations, RFC 8656 §7.1), DONT-FRAGMENT and LIFETIME.
//   - Refresh, of the whole allocation or of one family (RFC 8656 §8.1);
//     lifetime 0 deletes.
//   - CreatePermission (§10) and ChannelBind (§12).
//   - Sending: Send indications (§11.1) or ChannelData (§12.4), and Send,
//     which picks ChannelData when a channel is bound to the peer.
//   - Receive, which returns one typed Event: data from a peer (from a Data
//     indication or a ChannelData message) or an ICMP error the relay
//     forwarded as a Data indication with an ICMP attribute (§11.6).
//
// # Concurrency and memory
//
// All methods are safe for concurrent use. One goroutine per Client reads
// from the connection: it hands responses to the waiting request and queues
// data and ICMP events for Receive in a fixed ring of reusable buffers, so
// that steady-state sending and receiving allocate nothing. When Receive is
// not called fast enough the ring fills and further events are dropped and
// counted (Dropped), as a UDP socket would drop them; responses are never
// dropped that way.
//
// # What it deliberately does not do
//
// It reports every Data indication the relay sends, without the client-side
// permission check RFC 8656 §11.4 suggests (a SHOULD): the relay is the one
// that enforces permissions, and tests of the relay must see exactly what
// it sent. It keeps no timers: refreshing the allocation, its permissions
// and channels before they expire is the caller's job.
package turnclient
