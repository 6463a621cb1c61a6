package xdp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// xdpMD is struct xdp_md, the context BPF_PROG_TEST_RUN hands the program;
// ingress_ifindex makes the FIB lookup ask about relay0.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

const (
	xdpPass = 2
	xdpTX   = 3
)

var (
	listener4 = netip.MustParseAddrPort("192.0.2.1:3478")
	relayed4  = netip.MustParseAddrPort("192.0.2.1:50000")
	client4   = netip.MustParseAddrPort("203.0.113.5:40000")
	peer4     = netip.MustParseAddrPort("198.51.100.7:60000")
	listener6 = netip.MustParseAddrPort("[2001:db8::1]:3478")
	relayed6  = netip.MustParseAddrPort("[2001:db8::1]:50002")
	client6   = netip.MustParseAddrPort("[2001:db8:c::5]:40000")
	peer6     = netip.MustParseAddrPort("[2001:db8:f::7]:60000")
	// hairpin4 is a peer that is another relayed address of this relay.
	hairpin4 = netip.MustParseAddrPort("192.0.2.1:50004")
)

const farFuture = ^uint64(0)

// binding is one map entry a case installs.
type binding struct {
	client, server netip.AddrPort
	channel        uint16
	peer, relayed  netip.AddrPort
	expiresNs      uint64
}

var (
	bind4 = binding{client4, listener4, 0x4001, peer4, relayed4, farFuture}
	bind6 = binding{client6, listener6, 0x4002, peer6, relayed6, farFuture}
)

// in builds a frame arriving from the router.
func in(src, dst netip.AddrPort, ttl uint8, payload []byte) frameSpec {
	return frameSpec{dstMAC: relayMAC, srcMAC: routerMAC, src: src, dst: dst, ttl: ttl, tos: 0x2e, id: 0x1234, fragOff: 0x4000, payload: payload}
}

// out builds the frame the program should send back towards the router.
func out(src, dst netip.AddrPort, ttl uint8, payload []byte) frameSpec {
	f := in(src, dst, ttl, payload)
	f.dstMAC, f.srcMAC = routerMAC, relayMAC
	return f
}

func with(f frameSpec, change func(*frameSpec)) frameSpec {
	change(&f)
	return f
}

func TestProgramTable(t *testing.T) {
	ns := enterTableNamespace(t)
	ifindex := ns.ifindex
	p := requireBPF(t, ProgramConfig{ListenPorts: []uint16{3478, 3479}, ChannelMax: 0x4FFF, MaxBindings: 64})

	data := []byte("hello, peer")
	odd := []byte("abcde") // 5 bytes: 3 of padding to a multiple of 4
	big := bytes.Repeat([]byte{0xab}, 1500-20-8)
	dns := []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}
	zeroSum := payloadSummingToZero(t, func(p []byte) []byte { return out(listener4, client4, 63, channelData(0x4001, p)).build() })

	cases := []struct {
		name     string
		bindings []binding
		in       frameSpec
		verdict  uint32
		want     frameSpec // for XDP_TX; a pass must leave the frame unchanged
		reason   PassReason
		toPeer   int // payload bytes counted towards peers (0: none)
		toClient int
	}{
		{name: "v4 client to v4 peer", bindings: []binding{bind4},
			in:      in(client4, listener4, 64, channelData(0x4001, data)),
			verdict: xdpTX, want: out(relayed4, peer4, 63, data), toPeer: len(data)},
		{name: "v4 peer to v4 client", bindings: []binding{bind4},
			in:      in(peer4, relayed4, 64, data),
			verdict: xdpTX, want: out(listener4, client4, 63, channelData(0x4001, data)), toClient: len(data)},
		{name: "v6 client to v6 peer", bindings: []binding{bind6},
			in:      in(client6, listener6, 64, channelData(0x4002, data)),
			verdict: xdpTX, want: out(relayed6, peer6, 63, data), toPeer: len(data)},
		{name: "v6 peer to v6 client", bindings: []binding{bind6},
			in:      in(peer6, relayed6, 64, data),
			verdict: xdpTX, want: out(listener6, client6, 63, channelData(0x4002, data)), toClient: len(data)},
		{name: "v4 client to v6 peer", bindings: []binding{{client4, listener4, 0x4003, peer6, relayed6, farFuture}},
			in: in(client4, listener4, 64, channelData(0x4003, data)), verdict: xdpPass, reason: PassCrossFamily},
		{name: "v6 client to v4 peer", bindings: []binding{{client6, listener6, 0x4003, peer4, relayed4, farFuture}},
			in: in(client6, listener6, 64, channelData(0x4003, data)), verdict: xdpPass, reason: PassCrossFamily},
		{name: "v6 peer to v4 client", bindings: []binding{{client4, listener4, 0x4003, peer6, relayed6, farFuture}},
			in: in(peer6, relayed6, 64, data), verdict: xdpPass, reason: PassCrossFamily},
		{name: "v4 peer to v6 client", bindings: []binding{{client6, listener6, 0x4003, peer4, relayed4, farFuture}},
			in: in(peer4, relayed4, 64, data), verdict: xdpPass, reason: PassCrossFamily},
		{name: "miss: no binding", in: in(client4, listener4, 64, channelData(0x4001, data)), verdict: xdpPass, reason: PassMiss},
		{name: "miss: another channel of the client", bindings: []binding{bind4},
			in: in(client4, listener4, 64, channelData(0x4002, data)), verdict: xdpPass, reason: PassMiss},
		{name: "miss: the peer's other port", bindings: []binding{bind4},
			in: in(netip.AddrPortFrom(peer4.Addr(), 60001), relayed4, 64, data), verdict: xdpPass, reason: PassMiss},
		{name: "expired to peer", bindings: []binding{{client4, listener4, 0x4001, peer4, relayed4, 1}},
			in: in(client4, listener4, 64, channelData(0x4001, data)), verdict: xdpPass, reason: PassExpired},
		{name: "expired to client", bindings: []binding{{client4, listener4, 0x4001, peer4, relayed4, 1}},
			in: in(peer4, relayed4, 64, data), verdict: xdpPass, reason: PassExpired},
		{name: "padding trimmed v4", bindings: []binding{bind4},
			in:      in(client4, listener4, 64, channelData(0x4001, odd, 0xde, 0xad, 0xbf)),
			verdict: xdpTX, want: out(relayed4, peer4, 63, odd), toPeer: len(odd)},
		{name: "padding trimmed v6", bindings: []binding{bind6},
			in:      in(client6, listener6, 64, channelData(0x4002, odd[:2], 0xff, 0x01)),
			verdict: xdpTX, want: out(relayed6, peer6, 63, odd[:2]), toPeer: 2},
		{name: "padding of the wrong size", bindings: []binding{bind4},
			in: in(client4, listener4, 64, channelData(0x4001, odd, 0, 0)), verdict: xdpPass, reason: PassBadLength},
		{name: "ChannelData longer than the datagram", bindings: []binding{bind4},
			in: in(client4, listener4, 64, channelData(0x4001, data)[:8]), verdict: xdpPass, reason: PassBadLength},
		{name: "Ethernet minimum-size padding", bindings: []binding{bind4},
			in:      with(in(client4, listener4, 64, channelData(0x4001, []byte("x"))), func(f *frameSpec) { f.trailer = 60 - 47 }),
			verdict: xdpTX, want: out(relayed4, peer4, 63, []byte("x")), toPeer: 1},
		{name: "fragment: more fragments", bindings: []binding{bind4},
			in: with(in(client4, listener4, 64, channelData(0x4001, data)), func(f *frameSpec) { f.fragOff = 0x2000 }), verdict: xdpPass, reason: PassFragment},
		{name: "fragment: offset", bindings: []binding{bind4},
			in: with(in(peer4, relayed4, 64, data), func(f *frameSpec) { f.fragOff = 0x0010 }), verdict: xdpPass, reason: PassFragment},
		{name: "IPv4 options", bindings: []binding{bind4},
			in: with(in(client4, listener4, 64, channelData(0x4001, data)), func(f *frameSpec) { f.options = []byte{1, 1, 1, 0} }), verdict: xdpPass, reason: PassIPOptions},
		{name: "IPv6 extension header", bindings: []binding{bind6},
			in: with(in(client6, listener6, 64, channelData(0x4002, data)), func(f *frameSpec) { f.v6NextHeader = 60 }), verdict: xdpPass, reason: PassIPv6Extension},
		{name: "VLAN tag", bindings: []binding{bind4},
			in: with(in(client4, listener4, 64, channelData(0x4001, data)), func(f *frameSpec) { f.vlan = 7 }), verdict: xdpPass, reason: PassVLAN},
		{name: "DNS answer to a relayed port", bindings: []binding{bind4},
			in: in(netip.MustParseAddrPort("198.51.100.53:53"), netip.MustParseAddrPort("192.0.2.1:50001"), 64, dns), verdict: xdpPass, reason: PassMiss},
		{name: "STUN on the listener port", bindings: []binding{bind4},
			in: in(client4, listener4, 64, stunBinding()), verdict: xdpPass, reason: PassNotChannelData},
		{name: "STUN on the second listener port", bindings: []binding{bind4},
			in: in(client4, netip.AddrPortFrom(listener4.Addr(), 3479), 64, stunBinding()), verdict: xdpPass, reason: PassNotChannelData},
		{name: "oversize: 1500 bytes grow past the MTU", bindings: []binding{bind4},
			in: in(peer4, relayed4, 64, big), verdict: xdpPass, reason: PassMTU},
		{name: "largest that fits", bindings: []binding{bind4},
			in:      in(peer4, relayed4, 64, big[:len(big)-4]),
			verdict: xdpTX, want: out(listener4, client4, 63, channelData(0x4001, big[:len(big)-4])), toClient: len(big) - 4},
		{name: "zero IPv4 UDP checksum to client stays zero", bindings: []binding{bind4},
			in:      with(in(peer4, relayed4, 64, data), func(f *frameSpec) { f.zeroChecksum = true }),
			verdict: xdpTX, want: with(out(listener4, client4, 63, channelData(0x4001, data)), func(f *frameSpec) { f.zeroChecksum = true }), toClient: len(data)},
		{name: "zero IPv4 UDP checksum to peer stays zero", bindings: []binding{bind4},
			in:      with(in(client4, listener4, 64, channelData(0x4001, data)), func(f *frameSpec) { f.zeroChecksum = true }),
			verdict: xdpTX, want: with(out(relayed4, peer4, 63, data), func(f *frameSpec) { f.zeroChecksum = true }), toPeer: len(data)},
		{name: "zero IPv6 UDP checksum", bindings: []binding{bind6},
			in: with(in(peer6, relayed6, 64, data), func(f *frameSpec) { f.zeroChecksum = true }), verdict: xdpPass, reason: PassZeroChecksum},
		{name: "TTL 1", bindings: []binding{bind4},
			in: in(client4, listener4, 1, channelData(0x4001, data)), verdict: xdpPass, reason: PassTTL},
		{name: "hop limit 1", bindings: []binding{bind6},
			in: in(peer6, relayed6, 1, data), verdict: xdpPass, reason: PassTTL},
		{name: "TTL 2 still relays", bindings: []binding{bind4},
			in:      in(peer4, relayed4, 2, data),
			verdict: xdpTX, want: out(listener4, client4, 1, channelData(0x4001, data)), toClient: len(data)},
		{name: "channel above the range", bindings: []binding{{client4, listener4, 0x5000, peer4, relayed4, farFuture}},
			in: in(client4, listener4, 64, channelData(0x5000, data)), verdict: xdpPass, reason: PassChannelRange},
		{name: "channel 0x7FFF", in: in(client4, listener4, 64, channelData(0x7FFF, data)), verdict: xdpPass, reason: PassChannelRange},
		{name: "UDP length disagrees with IP (GRO-coalesced)", bindings: []binding{bind4},
			in: with(in(client4, listener4, 64, channelData(0x4001, data)), func(f *frameSpec) { f.udpLenDelta = -4 }), verdict: xdpPass, reason: PassBadLength},
		{name: "hairpin to another allocation", bindings: []binding{{client4, listener4, 0x4004, hairpin4, relayed4, farFuture}},
			in: in(client4, listener4, 64, channelData(0x4004, data)), verdict: xdpPass, reason: PassFIBLocal},
		{name: "a computed checksum of 0 is sent as 0xFFFF", bindings: []binding{bind4},
			in:      in(peer4, relayed4, 64, zeroSum),
			verdict: xdpTX, want: out(listener4, client4, 63, channelData(0x4001, zeroSum)), toClient: len(zeroSum)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns.join(t)
			runCase(t, p, ifindex, c.bindings, c.in.build(), c.verdict, c.want, c.reason, c.toPeer, c.toClient)
		})
	}

	t.Run("forwarding off on the interface", func(t *testing.T) {
		ns.join(t)
		setForwarding(t, "relay0", false)
		defer setForwarding(t, "relay0", true)
		runCase(t, p, ifindex, []binding{bind4}, in(client4, listener4, 64, channelData(0x4001, data)).build(),
			xdpPass, frameSpec{}, PassFIBForwardingDisabled, 0, 0)
	})
	t.Run("not IP", func(t *testing.T) {
		ns.join(t)
		arp := append(append(append([]byte{}, relayMAC[:]...), routerMAC[:]...), 0x08, 0x06)
		runCase(t, p, ifindex, nil, append(arp, make([]byte, 28)...), xdpPass, frameSpec{}, PassNotIP, 0, 0)
	})
	t.Run("not UDP", func(t *testing.T) {
		ns.join(t)
		f := in(client4, listener4, 64, channelData(0x4001, data)).build()
		f[14+9] = 6 // TCP; the header checksum does not matter to the program
		runCase(t, p, ifindex, []binding{bind4}, f, xdpPass, frameSpec{}, PassNotUDP, 0, 0)
	})
	t.Run("truncated IPv4 header", func(t *testing.T) {
		ns.join(t)
		f := in(client4, listener4, 64, channelData(0x4001, data)).build()
		runCase(t, p, ifindex, nil, f[:14+12], xdpPass, frameSpec{}, PassBadLength, 0, 0)
	})
}

// payloadSummingToZero finds a 2-byte payload whose frame, built by
// frame, has a UDP checksum computed as 0 and so sent as 0xFFFF (RFC 768).
func payloadSummingToZero(t *testing.T, frame func([]byte) []byte) []byte {
	t.Helper()
	for w := 0; w < 0x10000; w++ {
		p := []byte{byte(w >> 8), byte(w)}
		f := frame(p)
		if binary.BigEndian.Uint16(f[14+20+6:]) == 0xffff {
			return p
		}
	}
	t.Fatal("no payload gives a zero checksum")
	return nil
}

// stunBinding is a STUN Binding request header (RFC 8489 §5) with no
// attributes.
func stunBinding() []byte {
	b := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}
	return append(b, bytes.Repeat([]byte{7}, 12)...)
}

// runCase installs bindings, runs the program once on frame and checks
// the verdict, the frame it left and every counter.
func runCase(t *testing.T, p *Program, ifindex int, bindings []binding, frame []byte, verdict uint32, want frameSpec, reason PassReason, toPeer, toClient int) {
	t.Helper()
	resetCounters(t, p)
	var installed []entry
	for _, b := range bindings {
		e := newEntry(b.client, b.server, b.channel, b.peer, b.relayed, b.expiresNs)
		if err := p.put(&e); err != nil {
			t.Fatal(err)
		}
		installed = append(installed, e)
	}
	defer func() {
		for i := range installed {
			if err := p.remove(&installed[i]); err != nil {
				t.Error(err)
			}
		}
	}()
	got, verdictGot := runProgram(t, p, ifindex, frame)
	if verdictGot != verdict {
		t.Fatalf("verdict %d, want %d", verdictGot, verdict)
	}
	var wantFrame []byte
	if verdict == xdpTX {
		wantFrame = want.build()
		checkChecksums(t, got)
	} else {
		wantFrame = frame
	}
	if !bytes.Equal(got, wantFrame) {
		t.Fatalf("frame out\n%s\nwant\n%s", hex.Dump(got), hex.Dump(wantFrame))
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	var wantPassed [numPassReasons]uint64
	if verdict == xdpPass {
		wantPassed[reason] = 1
	}
	if c.Passed != wantPassed {
		for r, n := range c.Passed {
			if n != wantPassed[r] {
				t.Errorf("passed %s: %d, want %d", PassReason(r), n, wantPassed[r])
			}
		}
	}
	wantRelayed := Counters{Passed: c.Passed}
	if toPeer > 0 {
		wantRelayed.ToPeerPackets, wantRelayed.ToPeerBytes = 1, uint64(toPeer)
	}
	if toClient > 0 {
		wantRelayed.ToClientPackets, wantRelayed.ToClientBytes = 1, uint64(toClient)
	}
	if c != wantRelayed {
		t.Errorf("relayed counters %+v, want %+v", c, wantRelayed)
	}
}

func runProgram(t *testing.T, p *Program, ifindex int, frame []byte) ([]byte, uint32) {
	t.Helper()
	opts := ebpf.RunOptions{
		Data:    frame,
		DataOut: make([]byte, len(frame)+64),
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)},
	}
	ret, err := p.objs.TurnstileRelay.Run(&opts)
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return opts.DataOut, ret
}

func resetCounters(t *testing.T, p *Program) {
	t.Helper()
	m := p.counterMap()
	zero := make([]uint64, ebpf.MustPossibleCPU())
	for i := uint32(0); i < m.MaxEntries(); i++ {
		if err := m.Put(&i, zero); err != nil {
			t.Fatalf("resetting counter %d: %v", i, err)
		}
	}
}

// checkChecksums recomputes the IPv4 header and UDP checksums of an
// Ethernet frame from scratch and fails when either is wrong; a UDP
// checksum of 0 is accepted for IPv4 only (RFC 768, RFC 8200 §8.1).
func checkChecksums(t *testing.T, f []byte) {
	t.Helper()
	if p := checksumProblem(f); p != "" {
		t.Error(p)
	}
}

// checksumProblem says what is wrong with the checksums of an untagged
// Ethernet frame carrying UDP in IPv4 (no options) or IPv6 (no extension
// headers), "" when nothing; a frame it cannot read that far is a
// problem too. Lengths come from the headers, bounded by the frame.
func checksumProblem(f []byte) string {
	if len(f) < 14 {
		return "shorter than Ethernet"
	}
	var src, dst, udp []byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if len(f) < 14+20+8 || f[14] != 0x45 || f[14+9] != 17 {
			return "not IPv4 without options carrying UDP"
		}
		ip := f[14 : 14+20]
		if s := fold(sum16(ip, 0)); s != 0xffff {
			return fmt.Sprintf("IPv4 header checksum wrong (sum %#04x)", s)
		}
		src, dst, udp = ip[12:16], ip[16:20], f[14+20:]
	case 0x86dd:
		if len(f) < 14+40+8 || f[14]>>4 != 6 || f[14+6] != 17 {
			return "not IPv6 carrying UDP"
		}
		src, dst, udp = f[14+8:14+24], f[14+24:14+40], f[14+40:]
		if binary.BigEndian.Uint16(udp[6:]) == 0 {
			return "IPv6 UDP checksum 0"
		}
	default:
		return fmt.Sprintf("not IP: %x", f[12:14])
	}
	n := int(binary.BigEndian.Uint16(udp[4:]))
	if n < 8 || n > len(udp) {
		return fmt.Sprintf("UDP length %d outside 8-%d", n, len(udp))
	}
	udp = udp[:n]
	if binary.BigEndian.Uint16(udp[6:]) == 0 && src != nil && len(src) == 4 {
		return "" // RFC 768: no checksum
	}
	if s := fold(sum16(udp, pseudoSum(src, dst, len(udp)))); s != 0xffff {
		return fmt.Sprintf("UDP checksum wrong (sum %#04x)", s)
	}
	return ""
}
