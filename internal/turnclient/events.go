package turnclient

import (
	"context"
	"net/netip"
)

// EventKind says what Receive returned.
type EventKind uint8

// Event kinds.
const (
	// EventData is a datagram from a peer (Event.Data).
	EventData EventKind = iota + 1
	// EventICMP is an ICMP error about a datagram sent to a peer
	// (Event.ICMP).
	EventICMP
)

func (k EventKind) String() string {
	switch k {
	case EventData:
		return "data"
	case EventICMP:
		return "icmp"
	}
	return "none"
}

// Event is one thing received from the relay for the application. Exactly
// the field named by Kind is set.
type Event struct {
	Kind EventKind
	Data DataEvent
	ICMP ICMPEvent
}

// DataEvent is a datagram a peer sent to the allocation's relayed address
// (RFC 8656 §11.4, §12.7).
type DataEvent struct {
	// Peer is the peer's transport address (the datagram's source at the
	// relay).
	Peer netip.AddrPort
	// Channel is the channel number the relay used, or 0 when the datagram
	// came in a Data indication.
	Channel uint16
	// Payload is the application data, in the buffer passed to Receive.
	Payload []byte
	// Truncated reports that the datagram was longer than that buffer and
	// Payload holds only its beginning.
	Truncated bool
}

// ICMPEvent is an ICMP error the relay received about a datagram it relayed
// for this client and forwarded in a Data indication with an ICMP attribute
// (RFC 8656 §11.5, §11.6, §18.13).
type ICMPEvent struct {
	// Peer is the destination of the datagram that caused the error: its
	// IP address and UDP port (0 when the relay could not see the port).
	Peer netip.AddrPort
	// Family is the IP version of the error: FamilyIPv4 for ICMPv4,
	// FamilyIPv6 for ICMPv6 (the relay's socket, and so the peer, has that
	// family).
	Family Family
	// Type and Code are the ICMP type and code, e.g. 3/3 (ICMPv4 port
	// unreachable), 3/4 (fragmentation needed), 1/4 (ICMPv6 port
	// unreachable), 2/0 (ICMPv6 packet too big).
	Type, Code uint8
	// MTU is the attribute's Error Data: the next-hop MTU in bytes for
	// ICMPv4 3/4 and ICMPv6 type 2, zero otherwise.
	MTU uint32
}

// slot is one buffered event. data is reused from event to event and grows
// only when a larger payload arrives.
type slot struct {
	in   inbound
	data []byte
}

// enqueue copies an event into a free slot for Receive, or drops it when
// every slot is taken. Runs on the reader goroutine.
func (c *Client) enqueue(in *inbound) {
	var i int
	select {
	case i = <-c.free:
	default:
		c.dropped.Add(1)
		return
	}
	s := &c.ring[i]
	s.in = *in
	if cap(s.data) < len(in.payload) {
		s.data = make([]byte, len(in.payload))
	}
	s.data = s.data[:len(in.payload)]
	copy(s.data, in.payload)
	s.in.payload = nil
	c.ready <- i // never blocks: ready holds as many indices as the ring
}

// Receive returns the next data or ICMP event, waiting until one arrives,
// ctx ends or the client is closed. A data event's payload is copied into
// buf, which the caller owns; Receive keeps no reference to it. With a
// background ctx and a large enough buf, Receive allocates nothing.
func (c *Client) Receive(ctx context.Context, buf []byte) (Event, error) {
	select {
	case i := <-c.ready:
		return c.take(i, buf), nil
	default:
	}
	select {
	case i := <-c.ready:
		return c.take(i, buf), nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	case <-c.dead:
		select {
		case i := <-c.ready:
			return c.take(i, buf), nil
		default:
		}
		return Event{}, c.failure()
	}
}

// take turns slot i into an Event and frees the slot.
func (c *Client) take(i int, buf []byte) Event {
	s := &c.ring[i]
	ev := Event{Kind: s.in.kind}
	switch s.in.kind {
	case EventData:
		n := copy(buf, s.data)
		ev.Data = DataEvent{Peer: s.in.peer, Channel: s.in.channel, Payload: buf[:n], Truncated: n < len(s.data)}
	case EventICMP:
		ev.ICMP = s.in.icmp
	}
	c.free <- i
	return ev
}
