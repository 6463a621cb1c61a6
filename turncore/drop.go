package turncore

// Drop is the typed reason a datagram or frame was discarded. Every drop is a
// counter, never a log line per packet (the input is hostile and cheap to
// send). The shell's own reasons (sockets, streams, ICMP) share the enum so
// that one counter array covers both.
type Drop uint8

// Drop reasons. Their String values are metric label values: a fixed,
// bounded set.
const (
	DropNotTURN               Drop = iota // first byte is neither STUN nor ChannelData (RFC 7983 demux)
	DropMalformedSTUN                     // failed RFC 8489 §6.3 basic checks
	DropUnexpectedClass                   // a response, an unknown method, or a method/class the server does not accept
	DropSourcePortZero                    // datagram from port 0
	DropTruncated                         // larger than the receive buffer
	DropChannelDataMalformed              // bad length or reserved channel number (RFC 8656 §12.6)
	DropNoAllocation                      // ChannelData or indication on a 5-tuple without allocation (RFC 8656 §5)
	DropChannelUnbound                    // ChannelData on a channel that is not bound (RFC 8656 §12.6)
	DropSendMalformed                     // Send indication without valid XOR-PEER-ADDRESS or DATA (RFC 8656 §11.2)
	DropSendUnknownAttr                   // indication with an unknown comprehension-required attribute (RFC 8489 §6.3.2)
	DropSendDontFragment                  // DONT-FRAGMENT on an allocation whose sockets do not set DF (RFC 8656 §11.2)
	DropNoPermission                      // no permission for the peer (RFC 8656 §9, §11.2, §11.3)
	DropPeerDenied                        // the peer policy refused the peer (RFC 8656 §11.2)
	DropPeerFamily                        // the allocation has no relayed address of the peer's family
	DropSendFailed                        // the kernel refused or had no room to send (EAGAIN, ENOBUFS, ...)
	DropStreamFrame                       // a TCP/TLS frame too large or not STUN/ChannelData (closes the connection)
	DropStreamBackpressure                // a response to a stream client that reads nothing: its write queue was full, reserve included
	DropStreamWriteBudget                 // peer data or an indication toward a stream client whose write budget is spent (it reads too slowly)
	DropStreamSourceLimit                 // a TCP/TLS connection refused: its source (IPv4 address, IPv6 /64) holds its limit of connections
	DropICMPNoPermission                  // ICMP error quoting a peer without permission (RFC 8656 §11.5)
	DropICMPIgnored                       // ICMP error of a type RFC 8656 §11.5 does not forward, or not from ICMP
	DropICMPRateLimited                   // ICMP errors beyond the per-allocation rate
	DropUnauthBudget                      // a request whose unauthenticated answer would exceed its source's budget (package sourcebudget)
	DropTCPAllocation                     // a Send indication on a TCP allocation, which relays over connections only (RFC 6062 §5.1)
	DropPeerOwnSocket                     // data toward one of the relay's own listeners or its metrics port (OwnSockets)
	DropStreamConnectionLimit             // a TCP/TLS connection refused: the relay holds TURNSTILE_TCP_MAX_CONNECTIONS already
	DropCount                             // number of reasons; not a reason
)

var dropLabels = [DropCount]string{
	"not_turn", "malformed_stun", "unexpected_class", "source_port_zero", "truncated",
	"channeldata_malformed", "no_allocation", "channel_unbound", "send_malformed",
	"send_unknown_attribute", "send_dont_fragment", "no_permission", "peer_denied",
	"peer_family", "send_failed", "stream_frame", "stream_backpressure",
	"stream_write_budget", "stream_source_limit",
	"icmp_no_permission", "icmp_ignored", "icmp_rate_limited",
	"unauthenticated_budget", "tcp_allocation", "peer_own_socket",
	"stream_connection_limit",
}

func (d Drop) String() string {
	if d < DropCount {
		return dropLabels[d]
	}
	return "unknown"
}
