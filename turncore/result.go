package turncore

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Step says what the core waits for after a call.
type Step uint8

const (
	// StepDone: the message is handled; send Response (if any) and carry
	// out Actions.
	StepDone Step = iota
	// StepOpen: bind the socket Result.Open describes and call Opened.
	StepOpen
	// StepCommit: every relayed socket is bound; call Commit with the
	// shell's state for the new allocation.
	StepCommit
)

// OpenSocket asks the shell for one relayed socket.
type OpenSocket struct {
	// Local is the address to bind; Public the one advertised for it.
	Local, Public netip.AddrPort
	// DontFragment: the socket must forbid fragmentation (RFC 8656 §7.2
	// step 4).
	DontFragment bool
	// TCP: bind a listening TCP socket (a TCP allocation, RFC 6062 §5.1)
	// instead of a UDP one.
	TCP bool
	// Reserved, when set, is a socket the shell bound earlier and the core
	// held under a RESERVATION-TOKEN: bind nothing, only set DF on it.
	Reserved any
}

// OpenStatus is the shell's report on an OpenSocket.
type OpenStatus uint8

const (
	Opened     OpenStatus = iota // bound; the handle names the socket
	PortTaken                    // the port is in use (EADDRINUSE): the core tries another
	OpenFailed                   // any other error: the Allocate fails with 508
)

// Relay is one relayed transport address of a new allocation: the shell's
// socket and the advertised address.
type Relay struct {
	Handle any
	Public netip.AddrPort
}

// ActionKind names what the shell must do.
type ActionKind uint8

const (
	// ActCloseSocket: close Action.Handle (a socket no allocation uses).
	ActCloseSocket ActionKind = iota
	// ActCloseFamily: close the relayed socket of Action.Family of
	// Action.Alloc; the allocation lives on with the other family (RFC
	// 8656 §8.1).
	ActCloseFamily
	// ActCreated: Action.Alloc was created (after the shell's Commit).
	ActCreated
	// ActRefreshed: Action.Alloc got a new lifetime.
	ActRefreshed
	// ActDeleted: Action.Alloc left the table (Refresh to 0, or expiry
	// when Action.Expired): close its sockets and release its state.
	ActDeleted
	// ActToPeer: send Action.Data from Action.Alloc's relayed address of
	// Action.Peer's family to Action.Peer, after offering it to the
	// extension's outbound translation and, unclaimed, to
	// Core.PermitSend (RFC 8656 §11.2).
	ActToPeer
	// ActDrop: count Action.Drop.
	ActDrop
	// ActRelease: end Action.Hook, the extension's state of an Allocate
	// that failed after Hooks.Admit.
	ActRelease
	// ActChannelBound: a ChannelBind bound or refreshed Action.Channel to
	// Action.Peer on Action.Alloc, with the permission for its IP (RFC
	// 8656 §12.2). A shell with a data-plane observer tells it.
	ActChannelBound
	// ActPermitted: a CreatePermission installed or refreshed the
	// permission for Action.Peer's IP (port 0) on Action.Alloc (RFC 8656
	// §10.2), one action per IP.
	ActPermitted
	// ActConnect: open a TCP connection from Action.Alloc's relayed
	// address to Action.To (Action.Peer, or where the extension
	// translated it, PeerHook.ConnectPeer) for the client's Action.Peer
	// (RFC 6062 §5.2) and report the outcome with
	// Core.ConnectDone(Action.Conn, ...). The Connect is answered then.
	ActConnect
	// ActConnectionBound: the ConnectionBind being answered bound the
	// client data connection it arrived on to Action.Conn's peer
	// connection (Action.Handle, to Action.Peer). After sending the
	// response the shell relays raw bytes both ways (RFC 6062 §5.4).
	ActConnectionBound
	// ActCloseConnection: close Action.Conn's peer data connection
	// (Action.Handle; nil while a Connect still opens it: abandon the
	// attempt). With Action.Data, send it on Action.Alloc's control
	// connection: the Connect's 447 (RFC 6062 §5.2). Expired is set for
	// the timeouts of RFC 6062 §5.2 and §5.3.
	ActCloseConnection
)

// Action is one thing for the shell to do. Data aliases the message the
// core was given; every field is only valid until the next call on the
// Processor.
type Action struct {
	Kind    ActionKind
	Alloc   *allocation.Allocation
	Handle  any
	Family  allocation.Family
	Peer    netip.AddrPort
	To      netip.AddrPort // ActConnect's destination
	Data    []byte
	Drop    Drop
	Channel uint16
	Expired bool
	Hook    PeerHook
	Conn    ConnID
}

// Outcome describes a request for counters and logs.
type Outcome struct {
	// Method is the request's method.
	Method stunmsg.Method
	// Counted: the request was answered with Code (0 for success), which
	// the request counters record.
	Counted bool
	Code    int
	// AuthFailed: Auth is the failed authentication, for its counter and
	// the rate-limited log line.
	AuthFailed bool
	Auth       auth.Decision
	// PeerDenied is the policy's refusal of a peer of CreatePermission or
	// ChannelBind, for its counter.
	PeerDenied error
	// LegacyChannel: a ChannelBind was refused because its channel number
	// lies in RFC 5766's 0x5000–0x7FFF, which RFC 8656 §12 reserves and
	// the relay accepts only when its operator opted in; the shell tells
	// the operator so.
	LegacyChannel bool
	// Retransmit: the response came from the transaction cache.
	Retransmit bool
	// BuildError is set when a response did not fit its buffer (a bug,
	// answered with silence).
	BuildError error
}

// Result is the core's answer to one call on a Processor. Response and
// Actions alias the Processor's buffers and stay valid until its next call.
// Every step may carry actions (a socket to close while the search for a
// port goes on); the shell carries them out before it takes the step.
type Result struct {
	Step     Step
	Response []byte
	Actions  []Action
	Outcome  Outcome
	// Open is the socket to bind (StepOpen).
	Open OpenSocket
	// Relay4 and Relay6 are the bound relayed sockets (StepCommit), Hook
	// the extension's state for the allocation (nil without one).
	Relay4, Relay6 Relay
	Hook           PeerHook
	// Created is the new allocation when Commit created one.
	Created *allocation.Allocation
}
