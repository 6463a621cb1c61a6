package xdp

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// PassReason is why the program passed a frame to the kernel's stack; the
// values are enum pass_reason in bpf/relay.c.
type PassReason uint32

// passReasons names the reasons in the order of enum pass_reason; these
// names are the metric's reason label.
var passReasons = [...]string{
	"not_ip",
	"vlan",
	"not_udp",
	"ip_options",
	"ipv6_extension",
	"fragment",
	"bad_length",
	"not_channeldata",
	"channel_range",
	"miss",
	"expired",
	"cross_family",
	"ttl",
	"zero_checksum",
	"fib_forwarding_disabled",
	"fib_local_or_unroutable",
	"fib_other",
	"mtu",
	"adjust_failed",
}

// The pass reasons as Go constants, for tests and callers.
const (
	PassNotIP PassReason = iota
	PassVLAN
	PassNotUDP
	PassIPOptions
	PassIPv6Extension
	PassFragment
	PassBadLength
	PassNotChannelData
	PassChannelRange
	PassMiss
	PassExpired
	PassCrossFamily
	PassTTL
	PassZeroChecksum
	PassFIBForwardingDisabled
	PassFIBLocal
	PassFIBOther
	PassMTU
	PassAdjustFailed
	numPassReasons
)

// String is the reason's metric label.
func (r PassReason) String() string {
	if int(r) < len(passReasons) {
		return passReasons[r]
	}
	return fmt.Sprintf("reason_%d", uint32(r))
}

// PassReasons lists every reason, in order.
func PassReasons() []PassReason {
	out := make([]PassReason, numPassReasons)
	for i := range out {
		out[i] = PassReason(i)
	}
	return out
}

// Counters are the program's counters summed over all CPUs, cumulative
// since it was loaded.
type Counters struct {
	Passed                         [numPassReasons]uint64
	ToPeerPackets, ToPeerBytes     uint64 // ChannelData payload bytes relayed to peers
	ToClientPackets, ToClientBytes uint64 // peer datagram bytes relayed to clients
}

// Counters reads the per-CPU counters and sums them.
func (p *Program) Counters() (Counters, error) {
	var c Counters
	n := uint32(numPassReasons) + 4
	for i := uint32(0); i < n; i++ {
		var perCPU []uint64
		if err := p.objs.Counters.Lookup(&i, &perCPU); err != nil {
			return Counters{}, fmt.Errorf("xdp: reading counter %d: %w", i, err)
		}
		var sum uint64
		for _, v := range perCPU {
			sum += v
		}
		switch {
		case i < uint32(numPassReasons):
			c.Passed[i] = sum
		case i == uint32(numPassReasons):
			c.ToPeerPackets = sum
		case i == uint32(numPassReasons)+1:
			c.ToPeerBytes = sum
		case i == uint32(numPassReasons)+2:
			c.ToClientPackets = sum
		default:
			c.ToClientBytes = sum
		}
	}
	return c, nil
}

// counterMap is for tests that reset counters between cases.
func (p *Program) counterMap() *ebpf.Map { return p.objs.Counters }
