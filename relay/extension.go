package relay

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Extension is a module on the relay's peer path: it may claim peer
// addresses of its own, translate datagrams to and from them, and answer
// the client itself (the gateway, package gateway/relayext, is the first).
// The relay defines what it offers and asks here, so it imports no
// extension; Config.Extension nil is a plain relay and none of this runs.
//
// Threading: the relay calls an Extension and its AllocationExtensions from
// every packet loop, from the stream goroutines and from its housekeeping
// timer at once, so implementations must be safe for concurrent use. They
// must not block: no hook waits for I/O. Work that needs I/O (a DNS
// resolution) runs on the extension's own goroutines and comes back through
// the Client it was handed.
type Extension interface {
	// Start is called once by Server.Start before any packet arrives.
	// lanes is the number of lanes the data-path hooks are called with:
	// lane values lie in [0, lanes) and one lane is never used by two
	// goroutines of the relay's packet loops, so per-lane counters stay
	// uncontended.
	Start(lanes int)

	// Admit starts the extension's state for a new allocation of user on
	// ft (RFC 8656 §7.2, after Policy.AdmitAllocation and the quota
	// check). An error refuses the allocation: a *Refusal chooses the
	// code, any other error is answered with 403. It does no I/O and takes
	// the time as an argument, so a sans-I/O core can call it.
	Admit(user string, ft allocation.FiveTuple, now mono.Time) (AllocationExtension, error)

	// Sweep is called from the relay's single housekeeping timer with the
	// current time; it retires what is due and reports the extension's
	// next deadline (ok false: none). The relay runs its timer again no
	// later than that deadline (and at least once a second), so an
	// extension needs no timer or goroutine of its own for expiry.
	Sweep(now mono.Time) (next mono.Time, ok bool)

	// Close is called once when the relay closes, after its packet loops
	// stopped and before the remaining allocations are closed: it ends the
	// extension's goroutines and waits for them.
	Close()

	// AddCounts adds the extension's counters to out (a first label → a
	// second label → count; for the gateway, verdict action → reason).
	// Server.Stats reports the sum as Stats.ExtensionCounts.
	AddCounts(out map[string]map[string]uint64)
}

// AllocationExtension is an extension's state of one allocation, created
// by Extension.Admit and ended by Closed.
type AllocationExtension interface {
	// Permit decides on peer for CreatePermission (hasPort false, the
	// permission is IP-only, RFC 8656 §9) and ChannelBind (RFC 8656 §10.2,
	// §12.2 allow a server to restrict peers). PermitDefault leaves the
	// decision to the relay's Policy. Like Admit it does no I/O.
	Permit(peer netip.AddrPort, hasPort bool, now mono.Time) PeerVerdict

	// Outbound sees a datagram the client sends to peer (Send indication
	// DATA or ChannelData payload, RFC 8656 §11.2, §12.6) after the
	// relay's permission check on peer. payload is only valid during the
	// call. client reaches the allocation's client for an answer, now or
	// later. lane is the calling loop's (Extension.Start).
	Outbound(client Client, peer netip.AddrPort, payload []byte, now mono.Time, lane int) OutboundVerdict

	// Inbound decides on a datagram a relayed socket received from src
	// (RFC 8656 §11.3, §12.7) before the relay's permission check and
	// channel lookup, which then apply to the address it names.
	Inbound(src netip.AddrPort, now mono.Time, lane int) InboundVerdict

	// InboundICMP decides on an ICMP error about a datagram the relayed
	// socket sent to quoted (RFC 8656 §11.5), like Inbound.
	InboundICMP(quoted netip.AddrPort, icmp ICMP, now mono.Time, lane int) InboundVerdict

	// Connect decides on the peer of a Connect (RFC 6062 §5.2, TCP
	// relaying): the relay connects to ConnectVerdict.To for the client's
	// peer, which the client keeps seeing (its permission, CONNECTION-ID
	// and ConnectionAttempts name peer). Like Permit it does no I/O; the
	// relay's own sockets are refused whatever it answers.
	Connect(peer netip.AddrPort, now mono.Time) ConnectVerdict

	// AcceptPeer decides on a TCP connection src opened to the
	// allocation's relayed TCP address (RFC 6062 §5.3) before the
	// relay's permission check: PermitForbid closes it, anything else
	// leaves it to that check.
	AcceptPeer(src netip.AddrPort, now mono.Time) PeerVerdict

	// Closed ends the state when the allocation ends (deleted, expired, or
	// never created because a later step of Allocate failed).
	Closed(now mono.Time)
}

// PermitDecision is an extension's answer on a peer.
type PermitDecision uint8

const (
	// PermitDefault: no opinion; the relay's Policy decides.
	PermitDefault PermitDecision = iota
	// PermitAllow allows the peer without asking the Policy.
	PermitAllow
	// PermitForbid refuses the peer with 403 (RFC 8656 §10.2).
	PermitForbid
)

// PeerVerdict is the answer of AllocationExtension.Permit.
type PeerVerdict struct {
	Decision PermitDecision
	// Reason labels a PermitForbid in the relay's peer-denial counters and
	// logs: short, from a bounded set, never user data.
	Reason string
}

// ConnectDecision is an extension's answer on a Connect's peer.
type ConnectDecision uint8

const (
	// ConnectDefault: no opinion; the relay checks the peer as for
	// ChannelBind (Permit, then the Policy) and connects to it.
	ConnectDefault ConnectDecision = iota
	// ConnectTo connects to ConnectVerdict.To without asking the Policy.
	ConnectTo
	// ConnectForbid refuses the Connect with 403 (RFC 6062 §5.2).
	ConnectForbid
	// ConnectUnreachable answers 447 (RFC 6062 §5.2, connection failure):
	// there is nothing to connect to.
	ConnectUnreachable
)

// ConnectVerdict is the answer of AllocationExtension.Connect.
type ConnectVerdict struct {
	Decision ConnectDecision
	To       netip.AddrPort // for ConnectTo
	// Reason labels a ConnectForbid or ConnectUnreachable in the relay's
	// counters and logs: short, from a bounded set, never user data.
	Reason string
}

// OutboundAction is what the relay does with a client's datagram after
// AllocationExtension.Outbound.
type OutboundAction uint8

const (
	// OutboundPass: not the extension's; the relay's ordinary path goes on
	// (the Policy for a Send indication, then the send to the peer).
	OutboundPass OutboundAction = iota
	// OutboundSend sends the payload to OutboundVerdict.To instead of the
	// peer, from the relayed address of To's family, without asking the
	// Policy.
	OutboundSend
	// OutboundConsumed: the extension answered the datagram (through the
	// Client) or dropped it; the relay does nothing more.
	OutboundConsumed
)

// OutboundVerdict is the answer of AllocationExtension.Outbound.
type OutboundVerdict struct {
	Action OutboundAction
	To     netip.AddrPort // for OutboundSend
}

// InboundAction is what the relay does with a datagram or ICMP error from
// a peer after AllocationExtension.Inbound or InboundICMP.
type InboundAction uint8

const (
	// InboundPass delivers it as from its own source (or quoted peer).
	InboundPass InboundAction = iota
	// InboundDeliver delivers it as from InboundVerdict.As: the client
	// sees that peer address, and the permission and channel checked are
	// As's.
	InboundDeliver
	// InboundDrop discards it.
	InboundDrop
)

// InboundVerdict is the answer of Inbound and InboundICMP.
type InboundVerdict struct {
	Action InboundAction
	As     netip.AddrPort // for InboundDeliver
}

// ICMP is an ICMP error as the ICMP attribute of a Data indication carries
// it (RFC 8656 §18.13): type, code and error data (the next-hop MTU of a
// "fragmentation needed" or "packet too big", zero otherwise). The family
// is that of the peer address it goes with.
type ICMP struct {
	Type, Code uint8
	Data       uint32
}

// Client is the relay's capability to reach one allocation's client,
// handed to AllocationExtension.Outbound. It may be kept and used later
// from any goroutine (an answer that completes asynchronously); after the
// allocation ended its deliveries go nowhere.
type Client interface {
	// DeliverData sends payload to the client as a datagram from peer:
	// ChannelData on the channel bound to peer, else a Data indication
	// with XOR-PEER-ADDRESS = peer (RFC 8656 §11.3, §12.7). Like every
	// delivery it needs a live permission for peer's IP (§9). payload is
	// only read during the call.
	DeliverData(peer netip.AddrPort, payload []byte)
	// DeliverICMP tells the client about an ICMP error for a datagram it
	// sent to peer: a Data indication with XOR-PEER-ADDRESS and ICMP and
	// no DATA (RFC 8656 §11.5), under the same permission rule.
	DeliverICMP(peer netip.AddrPort, icmp ICMP)
}

// Observer watches the data plane for a component that relays ChannelData
// outside the relay's packet loops (an in-kernel fast path): it is told
// when a channel binding becomes usable and when it stops being usable,
// and reports what it relayed itself so that Server.Stats counts it.
// Config.Observer nil is a relay without one: none of this runs.
//
// The relay calls BindingUsable and BindingUnusable under its lock of the
// bindings it watches (never taken on the data path), in the order the
// changes happened: implementations must not block and must not call back
// into the relay. Expiries are found by the relay's single housekeeping
// timer, exactly at their deadlines; there is no timer per channel.
type Observer interface {
	// BindingUsable: ChannelData on b.Channel can now flow between the
	// client and b.Peer (a ChannelBind succeeded, RFC 8656 §12.2, or a
	// CreatePermission renewed the expired permission of a live channel),
	// until b.Expires. It is called again, with the later Expires, when a
	// ChannelBind or CreatePermission refreshes a usable binding. The
	// relay sends the request's success response after the call returns.
	BindingUsable(b Binding, now mono.Time)
	// BindingUnusable: b can no longer carry data, for why. Every usable
	// binding is told once, before it is usable again.
	BindingUnusable(b Binding, why Unusable, now mono.Time)
	// Relayed returns the packets and bytes the observer's component
	// relayed itself in direction dir for clients on transport t,
	// cumulative; Server.Stats adds them to Stats.Packets and Stats.Bytes.
	Relayed(dir Direction, t allocation.Transport) (packets, bytes uint64)
	// AddCounts adds the component's own counters to out (a counter name
	// → a label value → count, cumulative); Server.Stats reports them as
	// Stats.ObserverCounts.
	AddCounts(out map[string]map[string]uint64)
}

// Binding is one channel of an allocation as the data plane needs it: the
// client's 5-tuple, the channel number, the peer, and the relayed socket's
// bound address of the peer's family (the address the kernel sends from;
// behind a 1:1 NAT the advertised XOR-RELAYED-ADDRESS differs).
type Binding struct {
	Client  allocation.FiveTuple
	Channel uint16
	Peer    netip.AddrPort
	Relayed netip.AddrPort
	// Expires is the earlier of the channel's and the permission's
	// deadlines (RFC 8656 §12, §9), set in BindingUsable; the relay tells
	// BindingUnusable at that instant unless a refresh moved it.
	Expires mono.Time
}

// Unusable says why a binding stopped being usable.
type Unusable uint8

const (
	// ChannelExpired: the channel was not refreshed (RFC 8656 §12: 10
	// minutes).
	ChannelExpired Unusable = iota
	// PermissionExpired: the permission for the peer's IP was not
	// refreshed (RFC 8656 §9: 5 minutes); a CreatePermission or
	// ChannelBind makes the binding usable again while the channel lives.
	PermissionExpired
	// AllocationDeleted: a Refresh with lifetime 0 (RFC 8656 §8.2) deleted
	// the allocation, or the relayed address of the peer's family (§8.1),
	// or its stream connection closed, or the relay closed.
	AllocationDeleted
	// AllocationExpired: the allocation's lifetime ran out (RFC 8656 §6).
	AllocationExpired
)

func (u Unusable) String() string {
	switch u {
	case ChannelExpired:
		return "channel_expired"
	case PermissionExpired:
		return "permission_expired"
	case AllocationDeleted:
		return "allocation_deleted"
	}
	return "allocation_expired"
}
