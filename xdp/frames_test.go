package xdp

import (
	"encoding/binary"
	"net/netip"
)

// frameSpec describes an Ethernet frame carrying UDP over IPv4 or IPv6;
// build writes it with checksums computed from scratch, so a frame the
// program rewrote incrementally can be compared with one built directly.
type frameSpec struct {
	dstMAC, srcMAC [6]byte
	vlan           uint16 // non-zero: an 802.1Q tag with this VLAN ID
	src, dst       netip.AddrPort
	ttl            uint8
	tos            uint8
	id             uint16
	fragOff        uint16 // IPv4 flags and offset, host order (0x4000 = DF)
	options        []byte // IPv4 options (a multiple of 4 bytes)
	v6NextHeader   uint8  // non-zero: an IPv6 extension header of this type before UDP
	payload        []byte
	zeroChecksum   bool // send UDP checksum 0
	udpLenDelta    int  // added to the UDP length field (inconsistent lengths)
	trailer        int  // bytes of Ethernet padding after the IP packet
}

func (f frameSpec) build() []byte {
	var b []byte
	b = append(b, f.dstMAC[:]...)
	b = append(b, f.srcMAC[:]...)
	if f.vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, f.vlan)
	}
	udpLen := 8 + len(f.payload)
	udp := make([]byte, 8, udpLen)
	binary.BigEndian.PutUint16(udp[0:], f.src.Port())
	binary.BigEndian.PutUint16(udp[2:], f.dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+f.udpLenDelta))
	udp = append(udp, f.payload...)
	src, dst := f.src.Addr(), f.dst.Addr()
	if src.Is4() {
		sum := pseudoSum(src.AsSlice(), dst.AsSlice(), udpLen)
		setUDPChecksum(udp, sum, f.zeroChecksum)
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ihl := 5 + len(f.options)/4
		ip := make([]byte, 20, ihl*4)
		ip[0] = 0x40 | byte(ihl)
		ip[1] = f.tos
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl*4+udpLen))
		binary.BigEndian.PutUint16(ip[4:], f.id)
		binary.BigEndian.PutUint16(ip[6:], f.fragOff)
		ip[8] = f.ttl
		ip[9] = 17
		copy(ip[12:], src.AsSlice())
		copy(ip[16:], dst.AsSlice())
		ip = append(ip, f.options...)
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(ip, 0)))
		b = append(b, ip...)
	} else {
		sum := pseudoSum(src.AsSlice(), dst.AsSlice(), udpLen)
		setUDPChecksum(udp, sum, f.zeroChecksum)
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		ip := make([]byte, 40)
		binary.BigEndian.PutUint32(ip, 6<<28|uint32(f.tos)<<20)
		next, ext := byte(17), []byte(nil)
		if f.v6NextHeader != 0 {
			next = f.v6NextHeader
			ext = []byte{17, 0, 0, 0, 0, 0, 0, 0} // 8 bytes, next header UDP
		}
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+udpLen))
		ip[6] = next
		ip[7] = f.ttl
		copy(ip[8:], src.AsSlice())
		copy(ip[24:], dst.AsSlice())
		b = append(b, ip...)
		b = append(b, ext...)
	}
	b = append(b, udp...)
	return append(b, make([]byte, f.trailer)...)
}

func setUDPChecksum(udp []byte, pseudo uint32, zero bool) {
	if zero {
		return
	}
	c := ^fold(sum16(udp, pseudo))
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], c)
}

func pseudoSum(src, dst []byte, udpLen int) uint32 {
	s := sum16(src, 0)
	s = sum16(dst, s)
	return s + 17 + uint32(udpLen)
}

func sum16(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// channelData is a ChannelData message (RFC 8656 §12.4) with the given
// padding bytes after the data.
func channelData(ch uint16, data []byte, padding ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, ch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, data...)
	return append(b, padding...)
}
