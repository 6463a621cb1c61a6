package relayext

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// injectICMPv4 sends an ICMPv4 error of type typ and code from the local
// address from to relayed's address, quoting a UDP datagram relayed →
// quotedDst; mtu, when not zero, is the next-hop MTU of a fragmentation
// needed error (type 3 code 4, RFC 1191 §4). The kernel matches the quote
// to the relayed socket and queues the error on it exactly as for an error
// from a router (IP_RECVERR), so a crafted error takes the relay's real
// ICMP path.
func injectICMPv4(t testing.TB, from netip.Addr, typ, code uint8, mtu uint16, relayed, quotedDst netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		t.Fatalf("raw socket (needs CAP_NET_RAW, uid %d): %v", os.Getuid(), err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: from.As4()}); err != nil {
		t.Fatalf("binding the raw socket to %s: %v", from, err)
	}
	quotedLen := uint16(20 + 8 + 100) // the datagram the error stands for
	if mtu != 0 {
		quotedLen = 1400 // one that did not fit
	}
	pkt := make([]byte, 8+20+8)
	pkt[0], pkt[1] = typ, code
	binary.BigEndian.PutUint16(pkt[6:], mtu)
	quoted := pkt[8:]
	quoted[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(quoted[2:], quotedLen)
	binary.BigEndian.PutUint16(quoted[6:], 0x4000) // DF
	quoted[8], quoted[9] = 64, unix.IPPROTO_UDP
	src, dst := relayed.Addr().As4(), quotedDst.Addr().As4()
	copy(quoted[12:16], src[:])
	copy(quoted[16:20], dst[:])
	binary.BigEndian.PutUint16(quoted[10:], internetChecksum(quoted[:20]))
	udp := quoted[20:]
	binary.BigEndian.PutUint16(udp[0:], relayed.Port())
	binary.BigEndian.PutUint16(udp[2:], quotedDst.Port())
	binary.BigEndian.PutUint16(udp[4:], quotedLen-20)
	binary.BigEndian.PutUint16(pkt[2:], internetChecksum(pkt))
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: relayed.Addr().As4()}); err != nil {
		t.Fatalf("sending the ICMPv4 error: %v", err)
	}
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
