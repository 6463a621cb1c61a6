// Package loadtest is turnstile's load generator: a TURN client that drives
// any TURN server (turnstile, coturn's turnserver, pion/turn) over UDP, TCP or
// TLS and measures what the server can relay and at what cost.
//
// Run(ctx, cfg) performs one bounded run and returns a Result. Modes:
//
//   - closed loop: Allocations allocations, each keeping InFlight probe
//     packets in flight through the server to an echo peer and back;
//   - open loop: probe packets at a fixed total Rate across the allocations;
//   - ramp: open loop at increasing rates, reporting the highest rate whose
//     loss stays below RampLossLimit;
//   - churn: allocate / refresh / delete cycles, counted per second, with
//     failures counted by method and error code.
//   - realistic: every allocation is a media flow paced on its own with
//     jitter, audio-like (50 packets/s of 100–200 bytes) or video-like (30
//     frames/s of 3–5 datagrams up to 1200 bytes, back to back), each
//     datagram in a send call of its own (flows.go); offered rate, loss and
//     RTT percentiles as in open loop.
//   - tcp: RFC 6062 TCP relaying with pion/turn's client over a TCP control
//     connection: each allocation Connects to its own loopback echo peer,
//     binds a data connection (ConnectionBind) and streams bulk data both
//     ways; bytes relayed each way, throughput per connection and the
//     server's CPU per MB (tcprelay.go).
//
// Probe packets travel as ChannelData (RFC 8656 §12) or Send indications
// (RFC 8656 §11); they carry a sequence number and the send time, so the
// round-trip time is measured with microsecond resolution, and a packet not
// back within PacketTimeout counts as lost. The echo peers are UDP sockets
// the generator binds on a loopback address and serves with a few goroutines
// (one per socket, batched with recvmmsg/sendmmsg on Linux), shared by all
// allocations. ServeEcho runs the echo peers alone, for a load whose
// clients and peers sit in different processes or network namespaces (the
// XDP profile's, docs/xdp.md); Config.Peers points a load at them
// (turnstile-load -echo-only and -peers). Config.Direct sends the same
// probes from the same sockets straight to the peers, bare, with no server:
// the baseline a relay's cost is measured above.
//
// On Linux the generator keeps its own cost low, since it shares the machine
// with the server it measures: socket calls are raw non-blocking system
// calls, and batches leave in one sendmmsg(2), one datagram per entry, as
// browsers and softphones send. Config.GSO (a best case, off by default)
// lets a session's window of equal probes, like an echo peer's run of
// datagrams back to one relayed address, leave as one UDP GSO send
// (UDP_SEGMENT) instead. The kernel cuts such a send into ordinary
// datagrams before any socket sees them, except that a socket which set
// UDP_GRO on the same host receives the run coalesced, so a GRO-capable
// server takes it in one receive; servers without UDP_GRO (coturn,
// pion/turn) get the same datagrams one by one.
//
// Given the server's pid, the result also carries the server's CPU time per
// relayed packet and its resident memory per allocation (package procstat).
//
// Safety: every run stops by itself (Duration, SetupTimeout, MaxPackets), and
// Run refuses a server or peer address that is not loopback unless
// AllowNonLoopback is set. The echo peers must be reachable from the server,
// so a server elsewhere also needs a PeerIP it can reach; the tests only ever
// use loopback.
//
// The TURN client is our own (package turnwire plus the socket code here)
// rather than pion/turn's client: pion's client gives no way to frame
// ChannelData over TCP ourselves, to batch datagrams, or to see error codes
// of failed allocations, and it allocates per packet.
package loadtest
