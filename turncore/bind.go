package turncore

import (
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
)

// ReservationTTL is how long the port of an EVEN-PORT R=1 pair stays
// reserved for the RESERVATION-TOKEN (RFC 8656 §7.2: at least 30 s).
const ReservationTTL = 30 * time.Second

// BindAttempts bounds the random probing of the port range for one socket.
const BindAttempts = 64

// reservedSocket is what the core holds under a RESERVATION-TOKEN: the
// shell's socket and its advertised address.
type reservedSocket struct {
	handle any
	public netip.AddrPort
}

// pendingAllocate is an Allocate between its checks and Commit: the
// sockets bound so far and where the search for the next one stands.
type pendingAllocate struct {
	active bool
	params allocateParams
	req    request
	hook   PeerHook // the extension's state for the new allocation

	family   allocation.Family // the family being bound
	ip       RelayIP
	attempt  int
	port     uint16
	second   bool // waiting for port+1 of an EVEN-PORT R=1 pair
	first    any  // the even port's socket while port+1 is bound
	fromHeld bool // waiting for DF on a socket taken from a reservation
	// redeemed: a RESERVATION-TOKEN was redeemed, so the user holds the
	// quota unit Create is to spend (allocation.Spec.Redeemed).
	redeemed bool

	v4, v6           Relay
	reservedToken    [8]byte
	hasReservedToken bool
	familyErr6       int
	code             int // the Allocate fails with this code once sockets are closed
	lifetime         time.Duration
}

// startBinding asks for the first socket of a checked Allocate: a held
// reservation, or a candidate port of the first family wanted.
func (p *Processor) startBinding() []byte {
	pa := &p.pending
	if pa.params.hasToken {
		v, err := p.c.cfg.Table.Reservations().Redeem(pa.params.token, pa.req.user, pa.req.now)
		if err != nil {
			// RFC 8656 §7.2: an invalid token is 508 (step 5), a user
			// without room for the port is 486 (step 10).
			pa.code = allocation.Code(err)
			if pa.code != 486 {
				pa.code = 508
			}
			return p.relaysBound()
		}
		pa.redeemed = true
		held := v.(reservedSocket)
		if held.public.Addr().Is4() {
			pa.family, pa.v4 = allocation.FamilyIPv4, Relay{Handle: held.handle, Public: held.public}
		} else {
			pa.family, pa.v6 = allocation.FamilyIPv6, Relay{Handle: held.handle, Public: held.public}
		}
		// The port was reserved by an Allocate that may not have asked for
		// DF; this one did, so its socket must forbid fragmentation too.
		if !pa.params.dontFragment {
			return p.relaysBound()
		}
		pa.fromHeld = true
		p.res.Step = StepOpen
		p.res.Open = OpenSocket{Public: held.public, DontFragment: true, Reserved: held.handle}
		return nil
	}
	if pa.params.want4 {
		return p.startFamily(allocation.FamilyIPv4)
	}
	return p.startFamily(allocation.FamilyIPv6)
}

// startFamily begins the search for a relayed port of family f on the next
// relay IP of that family (round robin).
func (p *Processor) startFamily(f allocation.Family) []byte {
	pa := &p.pending
	pa.family, pa.attempt, pa.second = f, 0, false
	ips := p.c.cfg.Relays4
	if f == allocation.FamilyIPv6 {
		ips = p.c.cfg.Relays6
		if len(ips) == 0 {
			return p.familyFailed(440)
		}
	}
	if len(ips) == 0 {
		return p.familyFailed(508)
	}
	pa.ip = ips[int(p.c.relayNext.Add(1))%len(ips)]
	return p.nextCandidate()
}

// nextCandidate asks for a random port of the configured range (RFC 8656
// §7.2 "relayed transport address"; random ports also blunt the loop attack
// of §21.1.7): even for EVEN-PORT, and with port+1 in range for R=1.
func (p *Processor) nextCandidate() []byte {
	pa := &p.pending
	cfg := &p.c.cfg
	even, reserve := pa.params.evenPort, pa.params.reserveNext
	span := int(cfg.PortMax) - int(cfg.PortMin) + 1
	for pa.attempt < BindAttempts {
		pa.attempt++
		port := int(cfg.PortMin) + p.c.portRand(span)
		if even || reserve {
			port &^= 1
			if port < int(cfg.PortMin) || reserve && port+1 > int(cfg.PortMax) {
				continue
			}
		}
		pa.port, pa.second = uint16(port), false
		p.askOpen(pa.port)
		return nil
	}
	return p.familyFailed(508)
}

func (p *Processor) askOpen(port uint16) {
	pa := &p.pending
	p.res.Step = StepOpen
	p.res.Open = OpenSocket{
		Local:        netip.AddrPortFrom(pa.ip.Local, port),
		Public:       netip.AddrPortFrom(pa.ip.Public, port),
		DontFragment: pa.params.dontFragment,
		TCP:          pa.params.tcp,
	}
}

// Opened is the shell's report on the socket Result.Open asked for: handle
// names the socket when status is Opened. The result asks for another
// socket, for Commit, or is the Allocate's final answer.
func (p *Processor) Opened(handle any, status OpenStatus) Result {
	p.clearActions()
	pa := &p.pending
	if !pa.active || p.res.Step != StepOpen {
		panic("turncore: Opened without a pending socket")
	}
	p.res.Step, p.res.Open = StepDone, OpenSocket{}
	return p.finishRequest(p.opened(handle, status), pa.req.now)
}

func (p *Processor) opened(handle any, status OpenStatus) []byte {
	pa := &p.pending
	if pa.fromHeld {
		pa.fromHeld = false
		if status != Opened {
			p.closeBound()
			pa.v4, pa.v6 = Relay{}, Relay{}
			pa.code = 508
		}
		return p.relaysBound()
	}
	switch {
	case status == PortTaken && pa.second:
		p.act(Action{Kind: ActCloseSocket, Handle: pa.first})
		pa.first = nil
		return p.nextCandidate()
	case status == PortTaken:
		return p.nextCandidate()
	case status != Opened && pa.second:
		p.act(Action{Kind: ActCloseSocket, Handle: pa.first})
		pa.first = nil
		return p.familyFailed(508)
	case status != Opened:
		return p.familyFailed(508)
	}
	if pa.params.reserveNext && !pa.second {
		// An EVEN-PORT R=1 pair: keep port+1 bound for the token.
		pa.first, pa.second = handle, true
		p.askOpen(pa.port + 1)
		return nil
	}
	relay := Relay{Handle: handle, Public: netip.AddrPortFrom(pa.ip.Public, pa.port)}
	if pa.second {
		relay = Relay{Handle: pa.first, Public: netip.AddrPortFrom(pa.ip.Public, pa.port)}
		pa.first = nil
		held := reservedSocket{handle: handle, public: netip.AddrPortFrom(pa.ip.Public, pa.port+1)}
		token, err := p.reserve(held)
		if err != nil {
			p.act(Action{Kind: ActCloseSocket, Handle: relay.Handle})
			p.act(Action{Kind: ActCloseSocket, Handle: handle})
			if err == allocation.ErrQuota {
				// The reserved port is the user's too; a concurrent
				// Allocate took the room CheckQuota saw (RFC 8656 §7.2
				// step 10).
				return p.familyFailed(486)
			}
			return p.familyFailed(508)
		}
		pa.reservedToken, pa.hasReservedToken = token, true
	}
	if pa.family == allocation.FamilyIPv4 {
		pa.v4 = relay
		if pa.params.want6 {
			return p.startFamily(allocation.FamilyIPv6)
		}
	} else {
		pa.v6 = relay
	}
	return p.relaysBound()
}

// familyFailed ends the search for the current family's socket: code is
// the error (508: RFC 8656 §7.2, no port or address available; 440 for an
// IPv6 relay the server lacks). An optional IPv6 (ADDITIONAL-ADDRESS-FAMILY)
// only costs the IPv6 address and is reported in ADDRESS-ERROR-CODE (§7.2
// step 9); otherwise the Allocate fails and what was bound is closed.
func (p *Processor) familyFailed(code int) []byte {
	pa := &p.pending
	if pa.family == allocation.FamilyIPv6 && pa.params.optional6 {
		pa.familyErr6 = code
		return p.relaysBound()
	}
	p.closeBound()
	pa.v4, pa.v6 = Relay{}, Relay{}
	pa.code = code
	return p.relaysBound()
}

// closeBound asks the shell to close the sockets bound for the pending
// Allocate.
func (p *Processor) closeBound() {
	pa := &p.pending
	for _, r := range [2]Relay{pa.v4, pa.v6} {
		if r.Handle != nil {
			p.act(Action{Kind: ActCloseSocket, Handle: r.Handle})
		}
	}
}

// reserve holds a socket under a fresh RESERVATION-TOKEN (RFC 8656 §7.2: 8
// random bytes), counted against the requesting user's quota. A token
// collision is astronomically unlikely; it is retried anyway.
func (p *Processor) reserve(held reservedSocket) ([8]byte, error) {
	var token [8]byte
	err := allocation.ErrExists
	for range 4 {
		p.c.tokenRand(token[:])
		err = p.c.cfg.Table.Reservations().Reserve(token, p.pending.req.user, held, p.pending.req.now, ReservationTTL)
		if err != allocation.ErrExists {
			break
		}
	}
	return token, err
}
