// Package turnwire is the load generator's TURN client wire layer: it encodes
// and decodes the few STUN/TURN messages a client needs, without doing any I/O.
//
// The data-path functions (ChannelData, Send indications, Data indications,
// stream framing) work on caller-owned buffers and never allocate. The
// control-path functions (Allocate, Refresh, CreatePermission, ChannelBind and
// their responses) use github.com/pion/stun/v2 and may allocate; they run a
// few times per allocation, not per packet.
//
// Every decoder is total: malformed input yields an error or a "not this
// kind" answer, never a panic, because the bytes come from the network.
//
// References: RFC 8489 (STUN) and RFC 8656 (TURN); section numbers are cited
// beside each rule.
package turnwire
