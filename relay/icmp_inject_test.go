package relay

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Crafted ICMP errors for the ICMP permission and rate-limit tests.
//
// A Send indication only leaves the relay for a permitted peer, so a real
// ICMP error always quotes a permitted destination, and it arrives within
// microseconds, long before any permission could expire. To show that the
// relay drops errors for peers without a permission, these helpers write
// the error the network would send with a raw ICMP socket on loopback: it
// quotes a UDP datagram from the relayed address to any destination. The
// kernel checks nothing but the quoted 4-tuple (an unconnected UDP socket
// matches any remote address), so the error takes exactly the path a
// router's would: icmp_rcv / icmpv6_rcv, the UDP error handler,
// ip_icmp_error / ipv6_icmp_error, the relayed socket's error queue and
// the relay's ICMP forwarding. Raw sockets need CAP_NET_RAW; the tests fail
// without it, as the namespace tests do.

// injectICMPv4 sends an ICMPv4 error of type typ and code from the local
// address from (the "router" the relay sees as the sender) to relayed's
// address. The error quotes a UDP datagram relayed → quotedDst.
func injectICMPv4(t testing.TB, from netip.Addr, typ, code uint8, relayed, quotedDst netip.AddrPort) {
	t.Helper()
	fd := rawSocket(t, unix.AF_INET, unix.IPPROTO_ICMP)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: from.As4()}); err != nil {
		t.Fatalf("binding the raw socket to %s: %v", from, err)
	}
	pkt := make([]byte, 8+20+8)
	pkt[0], pkt[1] = typ, code
	quoted := pkt[8:]
	quoted[0] = 0x45                                 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(quoted[2:], 20+8+100) // total length of the datagram it stood for
	binary.BigEndian.PutUint16(quoted[6:], 0x4000)   // DF
	quoted[8], quoted[9] = 64, unix.IPPROTO_UDP
	src, dst := relayed.Addr().As4(), quotedDst.Addr().As4()
	copy(quoted[12:16], src[:])
	copy(quoted[16:20], dst[:])
	binary.BigEndian.PutUint16(quoted[10:], internetChecksum(quoted[:20]))
	udp := quoted[20:]
	binary.BigEndian.PutUint16(udp[0:], relayed.Port())
	binary.BigEndian.PutUint16(udp[2:], quotedDst.Port())
	binary.BigEndian.PutUint16(udp[4:], 8+100)
	binary.BigEndian.PutUint16(pkt[2:], internetChecksum(pkt))
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: relayed.Addr().As4()}); err != nil {
		t.Fatalf("sending the ICMPv4 error: %v", err)
	}
}

// injectICMPv6 is injectICMPv4 for ICMPv6, sent from ::1 (the kernel fills
// in the ICMPv6 checksum of raw ICMPv6 sockets, RFC 3542 §3.1).
func injectICMPv6(t testing.TB, typ, code uint8, relayed, quotedDst netip.AddrPort) {
	t.Helper()
	fd := rawSocket(t, unix.AF_INET6, unix.IPPROTO_ICMPV6)
	pkt := make([]byte, 8+40+8)
	pkt[0], pkt[1] = typ, code
	quoted := pkt[8:]
	quoted[0] = 0x60
	binary.BigEndian.PutUint16(quoted[4:], 8+100) // payload length
	quoted[6], quoted[7] = unix.IPPROTO_UDP, 64
	src, dst := relayed.Addr().As16(), quotedDst.Addr().As16()
	copy(quoted[8:24], src[:])
	copy(quoted[24:40], dst[:])
	udp := quoted[40:]
	binary.BigEndian.PutUint16(udp[0:], relayed.Port())
	binary.BigEndian.PutUint16(udp[2:], quotedDst.Port())
	binary.BigEndian.PutUint16(udp[4:], 8+100)
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet6{Addr: relayed.Addr().As16()}); err != nil {
		t.Fatalf("sending the ICMPv6 error: %v", err)
	}
}

// rawSocket opens a raw socket closed at the end of the test.
func rawSocket(t testing.TB, family, proto int) int {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		t.Fatalf("raw socket (needs CAP_NET_RAW, uid %d): %v", os.Getuid(), err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// internetChecksum is the RFC 1071 one's complement sum.
func internetChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return ^uint16(sum)
}
