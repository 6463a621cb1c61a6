package netio

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message as the kernel lays it out: cmsghdr, data,
// padding to CMSG_ALIGN.
func cmsg(level, typ int32, data []byte) []byte {
	length := unix.SizeofCmsghdr + len(data)
	b := make([]byte, cmsgAlign(uint64(length)))
	if unix.SizeofPtr == 8 {
		binary.NativeEndian.PutUint64(b, uint64(length))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(length))
	}
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr:], uint32(level))
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr+4:], uint32(typ))
	copy(b[unix.SizeofCmsghdr:], data)
	return b
}

// extendedErr builds a sock_extended_err followed by an offender sockaddr.
func extendedErr(errno uint32, origin, typ, code uint8, info uint32, offender netip.Addr) []byte {
	b := make([]byte, sizeofSockExtendedErr, sizeofSockExtendedErr+unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint32(b[0:], errno)
	b[4], b[5], b[6] = origin, typ, code
	binary.NativeEndian.PutUint32(b[8:], info)
	var sa sockaddrBytes
	family := unix.AF_INET
	if offender.Is6() {
		family = unix.AF_INET6
	}
	if n := encodeSockaddr(&sa, netip.AddrPortFrom(offender, 0), family); n > 0 {
		b = append(b, sa[:n]...)
	} else {
		b = append(b, make([]byte, unix.SizeofSockaddrInet6)...) // AF_UNSPEC
	}
	return b
}

func TestParseControl(t *testing.T) {
	router4 := netip.MustParseAddr("192.0.2.1")
	router6 := netip.MustParseAddr("2001:db8::1")
	frag := extendedErr(uint32(unix.EMSGSIZE), unix.SO_EE_ORIGIN_ICMP, 3, 4, 1400, router4)
	tooBig := extendedErr(uint32(unix.EMSGSIZE), unix.SO_EE_ORIGIN_ICMP6, 2, 0, 1280, router6)
	local := extendedErr(uint32(unix.EMSGSIZE), unix.SO_EE_ORIGIN_LOCAL, 0, 0, 1500, netip.Addr{})
	other := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMP, make([]byte, 16))

	type want struct {
		origin, typ, code uint8
		info              uint32
		errno             unix.Errno
		offender          netip.Addr
	}
	none := want{}
	tests := []struct {
		name string
		b    []byte
		want want
	}{
		{"empty", nil, none},
		{"frag needed", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag), want{unix.SO_EE_ORIGIN_ICMP, 3, 4, 1400, unix.EMSGSIZE, router4}},
		{"packet too big", cmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, tooBig), want{unix.SO_EE_ORIGIN_ICMP6, 2, 0, 1280, unix.EMSGSIZE, router6}},
		{"local, no offender", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, local), want{unix.SO_EE_ORIGIN_LOCAL, 0, 0, 1500, unix.EMSGSIZE, netip.Addr{}}},
		{"after another cmsg", append(other, cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag)...), want{unix.SO_EE_ORIGIN_ICMP, 3, 4, 1400, unix.EMSGSIZE, router4}},
		{"wrong level", cmsg(unix.IPPROTO_IPV6, unix.IP_RECVERR, frag), none},
		{"only another cmsg", other, none},
		{"error without offender bytes", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag[:sizeofSockExtendedErr]), want{unix.SO_EE_ORIGIN_ICMP, 3, 4, 1400, unix.EMSGSIZE, netip.Addr{}}},
		{"offender cut short", cmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, tooBig[:sizeofSockExtendedErr+10]), want{unix.SO_EE_ORIGIN_ICMP6, 2, 0, 1280, unix.EMSGSIZE, netip.Addr{}}},
		{"error cut short", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag[:sizeofSockExtendedErr-1]), none},
		{"header only", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, nil), none},
		{"shorter than a header", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag)[:unix.SizeofCmsghdr-1], none},
		{"length beyond buffer", cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag)[:unix.SizeofCmsghdr+8], none},
		{"length below header", func() []byte {
			b := cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag)
			b[0] = 4
			for i := 1; i < unix.SizeofPtr; i++ {
				b[i] = 0
			}
			return b
		}(), none},
		{"huge length", func() []byte {
			b := cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, frag)
			for i := 0; i < unix.SizeofPtr; i++ {
				b[i] = 0xFF
			}
			return b
		}(), none},
		{"unaligned tail after a cmsg", append(other, 1, 2, 3), none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e ErrQueueEntry
			e.parseControl(tc.b)
			got := want{e.Origin, e.Type, e.Code, e.Info, e.Errno, e.Offender}
			if got != tc.want {
				t.Fatalf("parsed %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSockaddrCodec(t *testing.T) {
	tests := []struct {
		to     netip.AddrPort
		family int
		length uint32
		back   netip.AddrPort
	}{
		{netip.MustParseAddrPort("192.0.2.7:3478"), unix.AF_INET, unix.SizeofSockaddrInet4, netip.MustParseAddrPort("192.0.2.7:3478")},
		{netip.MustParseAddrPort("[::ffff:192.0.2.7]:1"), unix.AF_INET, unix.SizeofSockaddrInet4, netip.MustParseAddrPort("192.0.2.7:1")},
		{netip.MustParseAddrPort("[2001:db8::7]:65535"), unix.AF_INET6, unix.SizeofSockaddrInet6, netip.MustParseAddrPort("[2001:db8::7]:65535")},
		{netip.MustParseAddrPort("[fe80::1%eth0]:5"), unix.AF_INET6, unix.SizeofSockaddrInet6, netip.MustParseAddrPort("[fe80::1]:5")},
		{netip.MustParseAddrPort("192.0.2.7:1"), unix.AF_INET6, 0, netip.AddrPort{}},
		{netip.MustParseAddrPort("[2001:db8::7]:1"), unix.AF_INET, 0, netip.AddrPort{}},
		{netip.AddrPort{}, unix.AF_INET, 0, netip.AddrPort{}},
	}
	for _, tc := range tests {
		var sa sockaddrBytes
		n := encodeSockaddr(&sa, tc.to, tc.family)
		if n != tc.length {
			t.Errorf("encode(%v, %d) length %d, want %d", tc.to, tc.family, n, tc.length)
			continue
		}
		if n == 0 {
			continue
		}
		if got := decodeSockaddr(sa[:n]); got != tc.back {
			t.Errorf("decode(encode(%v)) = %v, want %v", tc.to, got, tc.back)
		}
		for cut := uint32(0); cut < n; cut++ {
			if got := decodeSockaddr(sa[:cut]); got.IsValid() {
				t.Errorf("decode of %v cut to %d bytes = %v, want invalid", tc.to, cut, got)
			}
		}
	}
	// A v4-mapped IPv6 source (from a dual-stack peer) decodes unmapped.
	var sa sockaddrBytes
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(sa[2:], 9)
	mapped := netip.MustParseAddr("::ffff:10.1.2.3").As16()
	copy(sa[8:], mapped[:])
	if got, want := decodeSockaddr(sa[:]), netip.MustParseAddrPort("10.1.2.3:9"); got != want {
		t.Errorf("decode of a v4-mapped sockaddr_in6 = %v, want %v", got, want)
	}
	// An unknown family decodes as invalid.
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_UNIX)
	if got := decodeSockaddr(sa[:]); got.IsValid() {
		t.Errorf("decode of AF_UNIX = %v, want invalid", got)
	}
}
