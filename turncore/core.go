package turncore

import (
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/txcache"
	"github.com/turnstile-relay/turnstile/sourcebudget"
)

// RelayIP pairs a local relay address with the address advertised for it
// (the external IP of a 1:1 NAT, or the same address).
type RelayIP struct {
	Local, Public netip.Addr
}

// Config is what the core decides with. Table, Nonces, TxCache and Policy
// are required; the core shares them with the shell (expiry, metrics) and
// never replaces them. Ports reserved by EVEN-PORT are the Table's
// Reservations, so they count against its quotas.
type Config struct {
	Realm    string // REALM (RFC 8489 §14.9)
	Software string // SOFTWARE value; empty omits the attribute (RFC 8656 §21.1.6)

	Table   *allocation.Table
	Nonces  *auth.Nonces
	TxCache *txcache.Cache
	Policy  Policy
	Hooks   Hooks // an extension's decisions; nil for none
	// Budget bounds the unauthenticated responses per source over
	// datagram transports (package sourcebudget); nil answers every
	// request.
	Budget *sourcebudget.Table

	// Channels is the range ChannelBind and ChannelData accept
	// (stunmsg.StrictChannels, or LegacyChannels by operator opt-in).
	Channels stunmsg.ChannelRange

	// Relays4 and Relays6 are the addresses relayed sockets bind to, by
	// family; a family without any is not served (RFC 8656 §7.2 step 7).
	Relays4, Relays6 []RelayIP
	PortMin, PortMax uint16 // relayed port range, inclusive

	// AlternateServers are offered with 300 Try Alternate while draining.
	AlternateServers []netip.AddrPort
	// LegacyDualAllocation also reads ADDITIONAL-ADDRESS-FAMILY at the
	// draft codepoint 0x8032 (see relay.Config).
	LegacyDualAllocation bool

	// PortRand returns a uniform integer in [0, n) for relayed port
	// candidates; nil means math/rand/v2. Tests make it deterministic.
	// Must be safe for concurrent use.
	PortRand func(n int) int
	// TokenRand fills b with unpredictable bytes for RESERVATION-TOKENs
	// (RFC 8656 §7.2); nil means crypto/rand. Must be safe for concurrent
	// use.
	TokenRand func(b []byte)

	// TCP turns on and bounds TCP relaying (RFC 6062); off by default.
	TCP TCPConfig
}

// Core holds the shared decision state. It is safe for concurrent use; each
// packet loop drives it through its own Processor.
type Core struct {
	cfg           Config
	has4, has6    bool
	draining      atomic.Bool
	relayNext     atomic.Uint32
	alternateNext atomic.Uint32
	retransmits   atomic.Uint64
	// own is the relay's own sockets, set by the shell once they are
	// bound (SetOwnSockets); nil before.
	own       atomic.Pointer[OwnSockets]
	portRand  func(int) int
	tokenRand func([]byte)
	// expired and reserved are Expire's reused buffers (one caller at a
	// time).
	expired  []*allocation.Allocation
	reserved []any
	tcp      *tcpConns
}

// New checks cfg and returns a core.
func New(cfg Config) (*Core, error) {
	switch {
	case cfg.Table == nil, cfg.Nonces == nil, cfg.TxCache == nil, cfg.Policy == nil:
		return nil, errors.New("turncore: Table, Nonces, TxCache and Policy are required")
	case cfg.PortMin == 0 || cfg.PortMax < cfg.PortMin:
		return nil, errors.New("turncore: bad relayed port range")
	case cfg.Channels.Max() == 0:
		return nil, errors.New("turncore: Config.Channels is required")
	}
	cfg.TCP.withDefaults()
	c := &Core{cfg: cfg, has4: len(cfg.Relays4) > 0, has6: len(cfg.Relays6) > 0, portRand: cfg.PortRand, tokenRand: cfg.TokenRand, tcp: newTCPConns()}
	if c.portRand == nil {
		c.portRand = rand.IntN
	}
	if c.tokenRand == nil {
		c.tokenRand = func(b []byte) { crand.Read(b) }
	}
	return c, nil
}

// Table returns the allocation table the core decides on.
func (c *Core) Table() *allocation.Table { return c.cfg.Table }

// Drain stops admitting allocations (403, or 300 with ALTERNATE-SERVER)
// while existing ones keep relaying.
func (c *Core) Drain() { c.draining.Store(true) }

// Draining reports whether the core refuses new allocations.
func (c *Core) Draining() bool { return c.draining.Load() }

// Retransmits counts requests answered from the transaction cache.
func (c *Core) Retransmits() uint64 { return c.retransmits.Load() }

// nextAlternate picks an alternate server of the client's family, rotating
// through the configured ones.
func (c *Core) nextAlternate(client netip.Addr) (netip.AddrPort, bool) {
	alts := c.cfg.AlternateServers
	if len(alts) == 0 {
		return netip.AddrPort{}, false
	}
	start := int(c.alternateNext.Add(1))
	for i := range alts {
		a := alts[(start+i)%len(alts)]
		if a.Addr().Unmap().Is4() == client.Unmap().Is4() {
			return a, true
		}
	}
	return netip.AddrPort{}, false
}

// State is the core's part of an allocation's shell state: which relayed
// addresses are still live and whether its sockets forbid fragmentation.
// The shell embeds it in the value it hangs on allocation.Allocation.Ext.
type State struct {
	live4, live6 atomic.Bool
	dontFragment bool
	tcp          bool     // a TCP allocation (RFC 6062 §5.1)
	hook         PeerHook // the extension's state; nil without one
}

// TURNState returns s; through embedding it makes the shell's value a
// Stateful.
func (s *State) TURNState() *State { return s }

// HasRelay reports whether the allocation still has a relayed address of
// family f (RFC 8656 §8.1: a family deleted by Refresh is gone).
func (s *State) HasRelay(f allocation.Family) bool {
	if f == allocation.FamilyIPv4 {
		return s.live4.Load()
	}
	return s.live6.Load()
}

// Hook returns the extension's state of the allocation (Hooks.Admit), nil
// without one.
func (s *State) Hook() PeerHook { return s.hook }

// DontFragment reports whether the allocation's sockets set DF (RFC 8656
// §7.2 step 4).
func (s *State) DontFragment() bool { return s.dontFragment }

// TCP reports whether the allocation relays TCP (RFC 6062 §5.1): its
// relayed address is a listening TCP socket, and peers are reached with
// Connect rather than Send or channels.
func (s *State) TCP() bool { return s.tcp }

func (s *State) setLive(f allocation.Family, live bool) {
	if f == allocation.FamilyIPv4 {
		s.live4.Store(live)
	} else {
		s.live6.Store(live)
	}
}

// Stateful is what the core requires of allocation.Allocation.Ext.
type Stateful interface{ TURNState() *State }

func stateOf(a *allocation.Allocation) *State { return a.Ext.(Stateful).TURNState() }

// familyOf returns the family of ip after unmapping.
func familyOf(ip netip.Addr) allocation.Family {
	if ip.Unmap().Is4() {
		return allocation.FamilyIPv4
	}
	return allocation.FamilyIPv6
}

// familyMatches reports whether the allocation still has a relayed address
// of the peer's family (RFC 8656 §10.2, §12.2: 443 otherwise; §8.1: a
// family deleted by Refresh is gone).
func familyMatches(a *allocation.Allocation, peer netip.Addr) bool {
	return stateOf(a).HasRelay(familyOf(peer))
}

// SetOwnSockets tells the core where the relay's own services listen, once
// the shell has bound them (ports may have been picked by the kernel).
// ChannelBind to one of them is refused and Send indications to them are
// dropped from then on, whatever the Policy says (OwnSockets).
func (c *Core) SetOwnSockets(o *OwnSockets) { c.own.Store(o) }

// OwnSocket reports whether peer is one of the relay's own sockets. The
// shell asks it about addresses an extension translates peers to.
func (c *Core) OwnSocket(peer netip.AddrPort) bool { return c.own.Load().Contains(peer) }
