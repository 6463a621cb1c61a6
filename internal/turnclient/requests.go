package turnclient

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// AllocateOptions are the optional parts of an Allocate request
// (RFC 8656 §7.1). The zero value asks for one IPv4 relayed address with the
// relay's default lifetime.
type AllocateOptions struct {
	// RequestedFamily sends REQUESTED-ADDRESS-FAMILY: the one family of
	// the relayed address (§18.6). 0 omits it.
	RequestedFamily Family
	// AdditionalFamily sends ADDITIONAL-ADDRESS-FAMILY (§18.11):
	// FamilyIPv6 asks for a dual allocation, an IPv4 and an IPv6 relayed
	// address. 0 omits it.
	AdditionalFamily Family
	// DontFragment sends DONT-FRAGMENT (§18.9): the relay sets DF on every
	// datagram it relays to peers, so a path with a smaller MTU answers
	// with ICMP fragmentation-needed / packet-too-big.
	DontFragment bool
	// Lifetime sends LIFETIME, rounded down to whole seconds (§18.2);
	// 0 omits it.
	Lifetime time.Duration
	// TCP sends REQUESTED-TRANSPORT TCP (RFC 6062 §5.1): the relayed
	// address is a TCP one, reached with Connect and BindConnection; the
	// client must be on a TCP or TLS connection.
	TCP bool
}

// Allocation is a successful Allocate response (RFC 8656 §7.3).
type Allocation struct {
	// Relayed are the XOR-RELAYED-ADDRESS values in the order the relay
	// sent them: one, or for a dual allocation IPv4 then IPv6.
	Relayed []netip.AddrPort
	// Mapped is XOR-MAPPED-ADDRESS: the client's address as the relay
	// sees it.
	Mapped netip.AddrPort
	// Lifetime is the granted LIFETIME.
	Lifetime time.Duration
	// FamilyError is ADDRESS-ERROR-CODE (§18.12): the family of a dual
	// allocation the relay could not provide and why (440 or 508); nil
	// when absent.
	FamilyError *FamilyError
}

// FamilyError is an ADDRESS-ERROR-CODE value.
type FamilyError struct {
	Family Family
	Code   int
	Reason string
}

// RelayedFor returns the relayed address of family f, if the allocation
// has one.
func (a *Allocation) RelayedFor(f Family) (netip.AddrPort, bool) {
	for _, r := range a.Relayed {
		if FamilyOf(r.Addr()) == f {
			return r, true
		}
	}
	return netip.AddrPort{}, false
}

// Allocate asks for an allocation on this client's 5-tuple (RFC 8656 §7).
// An error response is returned as *Error (e.g. 440 Address Family not
// Supported, 437 when the 5-tuple already has one).
func (c *Client) Allocate(opts AllocateOptions) (*Allocation, error) {
	resp, err := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) {
		proto := stunmsg.ProtoUDP
		if opts.TCP {
			proto = stunmsg.ProtoTCP
		}
		b.AddRequestedTransport(proto)
		if opts.RequestedFamily != 0 {
			b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, stunmsg.Family(opts.RequestedFamily))
		}
		if opts.AdditionalFamily != 0 {
			b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.Family(opts.AdditionalFamily))
		}
		if opts.DontFragment {
			b.Add(stunmsg.AttrDontFragment, nil)
		}
		if opts.Lifetime > 0 {
			b.AddUint32(stunmsg.AttrLifetime, uint32(opts.Lifetime/time.Second))
		}
	})
	if err != nil {
		return nil, err
	}
	if resp.Class != stunmsg.Success {
		return nil, responseError(resp)
	}
	a := &Allocation{}
	for v := range resp.All(stunmsg.AttrXORRelayedAddress) {
		r, err := stunmsg.DecodeXORAddress(v, resp.TransactionID)
		if err != nil {
			return nil, fmt.Errorf("turnclient: allocate: bad XOR-RELAYED-ADDRESS: %w", err)
		}
		a.Relayed = append(a.Relayed, netip.AddrPortFrom(r.Addr().Unmap(), r.Port()))
	}
	if len(a.Relayed) == 0 {
		return nil, fmt.Errorf("turnclient: allocate: success without XOR-RELAYED-ADDRESS")
	}
	if v, ok := resp.Get(stunmsg.AttrXORMappedAddress); ok {
		if m, err := stunmsg.DecodeXORAddress(v, resp.TransactionID); err == nil {
			a.Mapped = m
		}
	}
	a.Lifetime = lifetimeOf(resp)
	if v, ok := resp.Get(stunmsg.AttrAddressErrorCode); ok {
		fam, code, reason, err := stunmsg.DecodeAddressErrorCode(v)
		if err != nil {
			return nil, fmt.Errorf("turnclient: allocate: bad ADDRESS-ERROR-CODE: %w", err)
		}
		a.FamilyError = &FamilyError{Family: Family(fam), Code: code, Reason: string(reason)}
	}
	return a, nil
}

// Refresh sets the allocation's lifetime (RFC 8656 §8.1), rounded down to
// whole seconds; 0 deletes it. family 0 applies to every relayed address;
// FamilyIPv4 or FamilyIPv6 sends REQUESTED-ADDRESS-FAMILY to refresh, or
// with lifetime 0 delete, only that family of a dual allocation. It
// returns the granted lifetime (0 after a deletion). A 437 to a deletion
// means the allocation is already gone (§8.3) and is returned as *Error
// for the caller to judge.
func (c *Client) Refresh(lifetime time.Duration, family Family) (time.Duration, error) {
	resp, err := c.request(stunmsg.Refresh, func(b *stunmsg.Builder) {
		b.AddUint32(stunmsg.AttrLifetime, uint32(lifetime/time.Second))
		if family != 0 {
			b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, stunmsg.Family(family))
		}
	})
	if err != nil {
		return 0, err
	}
	if resp.Class != stunmsg.Success {
		return 0, responseError(resp)
	}
	return lifetimeOf(resp), nil
}

// CreatePermission installs or refreshes permissions for peers' IP
// addresses (RFC 8656 §10.1); ports play no part in permissions (§9).
func (c *Client) CreatePermission(peers ...netip.Addr) error {
	if len(peers) == 0 {
		return fmt.Errorf("turnclient: create permission: no peer")
	}
	resp, err := c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		for _, p := range peers {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.AddrPortFrom(p, 0))
		}
	})
	if err != nil {
		return err
	}
	if resp.Class != stunmsg.Success {
		return responseError(resp)
	}
	return nil
}

// BindChannel binds channel ch to peer, or refreshes that binding
// (RFC 8656 §12.1); the relay also installs a permission for the peer's
// IP. Afterwards Send uses ChannelData for peer and Receive reports
// ChannelData on ch as data from peer.
func (c *Client) BindChannel(ch uint16, peer netip.AddrPort) error {
	resp, err := c.request(stunmsg.ChannelBind, func(b *stunmsg.Builder) {
		b.AddChannelNumber(ch)
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	})
	if err != nil {
		return err
	}
	if resp.Class != stunmsg.Success {
		return responseError(resp)
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	c.mu.Lock()
	c.channelsByPeer[peer] = ch
	c.peersByChannel[ch] = peer
	c.mu.Unlock()
	return nil
}

// lifetimeOf reads LIFETIME from a response; absent or malformed is 0.
func lifetimeOf(m *stunmsg.Message) time.Duration {
	v, ok := m.Get(stunmsg.AttrLifetime)
	if !ok {
		return 0
	}
	s, ok := stunmsg.DecodeLifetime(v)
	if !ok {
		return 0
	}
	return time.Duration(s) * time.Second
}
