package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// maxListenPorts is MAX_LISTENERS in bpf/relay.c.
const maxListenPorts = 8

// ProgramConfig sets what the BPF program is told before it is loaded.
type ProgramConfig struct {
	// ListenPorts are the UDP listener ports; ChannelData to any other port
	// is taken for a peer's datagram. At most 8.
	ListenPorts []uint16
	// ChannelMax is the highest channel number accepted: 0x4FFF (RFC 8656
	// §12) or 0x7FFF with RFC 5766 clients allowed.
	ChannelMax uint16
	// MaxBindings sizes each binding map; a binding beyond it is not
	// offloaded (never evicted).
	MaxBindings uint32
}

// ChannelMax is the highest channel number the program accepts for a
// relay that does (legacy) or does not accept RFC 5766's channel numbers
// (TURNSTILE_LEGACY_CHANNELS): the userspace relay's range, so the program
// never passes a channel the relay binds nor relays one it refuses.
func ChannelMax(legacy bool) uint16 {
	if legacy {
		return 0x7FFF // RFC 5766 §11
	}
	return 0x4FFF // RFC 8656 §12
}

// Program is the loaded, not yet attached, BPF program with its maps.
// Map writes are not synchronised here: one goroutine owns them (Offload).
type Program struct {
	objs relayObjects
}

// ErrFull reports that a binding map has no room: the binding stays on
// the userspace path.
var ErrFull = errors.New("xdp: binding map full")

// LoadProgram loads the program into the kernel (CAP_BPF and CAP_NET_ADMIN
// or root). It does not attach it.
func LoadProgram(c ProgramConfig) (*Program, error) {
	if len(c.ListenPorts) == 0 || len(c.ListenPorts) > maxListenPorts {
		return nil, fmt.Errorf("xdp: %d UDP listener ports, want 1 to %d", len(c.ListenPorts), maxListenPorts)
	}
	if c.ChannelMax < 0x4000 || c.ChannelMax > 0x7FFF {
		return nil, fmt.Errorf("xdp: highest channel %#x outside 0x4000-0x7FFF", c.ChannelMax)
	}
	if c.MaxBindings == 0 {
		return nil, errors.New("xdp: MaxBindings is 0")
	}
	spec, err := loadRelay()
	if err != nil {
		return nil, fmt.Errorf("xdp: reading the embedded program: %w", err)
	}
	var ports [maxListenPorts]uint16
	copy(ports[:], c.ListenPorts)
	for name, v := range map[string]any{
		"listen_ports": ports,
		"channel_min":  uint16(0x4000),
		"channel_max":  c.ChannelMax,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("xdp: setting %s: %w", name, err)
		}
	}
	spec.Maps[relayMapChannels].MaxEntries = c.MaxBindings
	spec.Maps[relayMapPeers].MaxEntries = c.MaxBindings
	p := &Program{}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("xdp: the verifier refused the program: %+v", ve)
		}
		return nil, fmt.Errorf("xdp: loading the program: %w", err)
	}
	return p, nil
}

// Close unloads the program and its maps (an attached link keeps the
// program alive until it is closed too).
func (p *Program) Close() error { return p.objs.Close() }

// entry is one binding in the kernel's terms: both map keys and values.
type entry struct {
	chanKey relayChannelKey
	chanVal relayChannelValue
	peerKey relayPeerKey
	peerVal relayPeerValue
}

// newEntry builds the map entries of a channel from client (the client's
// address and the listener's) to peer through relayed, valid until the
// CLOCK_MONOTONIC instant expiresNs.
func newEntry(client, server netip.AddrPort, channel uint16, peer, relayed netip.AddrPort, expiresNs uint64) entry {
	var e entry
	e.chanKey.ClientAddr = client.Addr().As16()
	e.chanKey.ServerAddr = server.Addr().As16()
	binary.BigEndian.PutUint16(e.chanKey.ClientPort[:], client.Port())
	binary.BigEndian.PutUint16(e.chanKey.ServerPort[:], server.Port())
	binary.BigEndian.PutUint16(e.chanKey.Channel[:], channel)
	e.chanVal.PeerAddr = peer.Addr().As16()
	e.chanVal.RelayedAddr = relayed.Addr().As16()
	binary.BigEndian.PutUint16(e.chanVal.PeerPort[:], peer.Port())
	binary.BigEndian.PutUint16(e.chanVal.RelayedPort[:], relayed.Port())
	e.chanVal.ExpiresNs = expiresNs

	e.peerKey.RelayedAddr = e.chanVal.RelayedAddr
	e.peerKey.PeerAddr = e.chanVal.PeerAddr
	e.peerKey.RelayedPort = e.chanVal.RelayedPort
	e.peerKey.PeerPort = e.chanVal.PeerPort
	e.peerVal.ClientAddr = e.chanKey.ClientAddr
	e.peerVal.ServerAddr = e.chanKey.ServerAddr
	e.peerVal.ClientPort = e.chanKey.ClientPort
	e.peerVal.ServerPort = e.chanKey.ServerPort
	e.peerVal.Channel = e.chanKey.Channel
	e.peerVal.ExpiresNs = expiresNs
	return e
}

// put installs or refreshes both directions of e. When a map is full
// nothing of e stays installed and ErrFull is returned.
func (p *Program) put(e *entry) error {
	if err := p.objs.Channels.Update(&e.chanKey, &e.chanVal, ebpf.UpdateAny); err != nil {
		return mapError(err)
	}
	if err := p.objs.Peers.Update(&e.peerKey, &e.peerVal, ebpf.UpdateAny); err != nil {
		_ = p.objs.Channels.Delete(&e.chanKey)
		return mapError(err)
	}
	return nil
}

// remove deletes both directions of e; entries already gone are fine.
func (p *Program) remove(e *entry) error {
	err1 := p.objs.Channels.Delete(&e.chanKey)
	err2 := p.objs.Peers.Delete(&e.peerKey)
	if errors.Is(err1, ebpf.ErrKeyNotExist) {
		err1 = nil
	}
	if errors.Is(err2, ebpf.ErrKeyNotExist) {
		err2 = nil
	}
	return errors.Join(err1, err2)
}

// mapError names a full map: the kernel answers E2BIG to an insert into
// a hash map at max_entries.
func mapError(err error) error {
	if errors.Is(err, unix.E2BIG) {
		return ErrFull
	}
	return err
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, bpf_ktime_get_ns's clock.
func monotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("xdp: CLOCK_MONOTONIC unreadable: " + err.Error()) // never on Linux
	}
	return uint64(ts.Nano())
}
