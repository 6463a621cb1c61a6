package stunmsg

import (
	"encoding/binary"
	"net/netip"
)

// DataIndicationMaxHead is the largest header DataIndicationOverhead
// reports: STUN header, IPv6 XOR-PEER-ADDRESS, DATA attribute header
// (20+24+4 = 48, the overhead RFC 8656 §13.2 subtracts from a relayed MTU).
// Reading peer datagrams at this offset always leaves enough headroom.
const DataIndicationMaxHead = HeaderSize + attrHeaderSize + addrSizeIPv6 + attrHeaderSize

// DataIndicationOverhead returns how many bytes a Data indication for peer
// (RFC 8656 §11.3) puts before the payload — header, XOR-PEER-ADDRESS, DATA
// attribute header — and the most padding it puts after (3). head is 36 for
// an IPv4 peer and 48 otherwise.
func DataIndicationOverhead(peer netip.AddrPort) (head, tailMax int) {
	size := addressSize(peer)
	if size == 0 {
		size = addrSizeIPv6
	}
	return HeaderSize + attrHeaderSize + size + attrHeaderSize, 3
}

// PutDataIndication turns a payload already in buf[payloadStart :
// payloadStart+payloadLen] into a Data indication (RFC 8656 §11.3) without
// moving it: it writes the STUN header (method Data, class indication,
// transaction ID txid), XOR-PEER-ADDRESS for peer and the DATA attribute
// header immediately before the payload, and zero padding after it. The
// message is buf[start:end]. ok is false, and buf untouched, if the
// headroom (payloadStart) or tail room (len(buf)) is too small, the
// arguments are negative, peer is invalid, or the message would exceed the
// 16-bit Length. Indications carry no MESSAGE-INTEGRITY (RFC 8656 §5).
// Does not allocate.
func PutDataIndication(buf []byte, payloadStart, payloadLen int, peer netip.AddrPort, txid [12]byte) (start, end int, ok bool) {
	addrSize := addressSize(peer)
	if addrSize == 0 || payloadStart < 0 || payloadStart > len(buf) || payloadLen < 0 || payloadLen > 0xFFFF {
		return 0, 0, false
	}
	head, _ := DataIndicationOverhead(peer)
	start = payloadStart - head
	end = payloadStart + padded(payloadLen)
	if start < 0 || end > len(buf) || end-start-HeaderSize > maxMessageLength {
		return 0, 0, false
	}
	msg := buf[start:end]
	binary.BigEndian.PutUint16(msg[0:2], MessageType(Data, Indication))
	binary.BigEndian.PutUint16(msg[2:4], uint16(len(msg)-HeaderSize))
	binary.BigEndian.PutUint32(msg[4:8], MagicCookie)
	copy(msg[8:HeaderSize], txid[:])
	at := HeaderSize
	binary.BigEndian.PutUint16(msg[at:at+2], AttrXORPeerAddress)
	binary.BigEndian.PutUint16(msg[at+2:at+4], uint16(addrSize))
	at += attrHeaderSize
	putXORAddress(msg[at:at+addrSize], peer, &txid)
	at += addrSize
	binary.BigEndian.PutUint16(msg[at:at+2], AttrData)
	binary.BigEndian.PutUint16(msg[at+2:at+4], uint16(payloadLen))
	clear(msg[head+payloadLen:])
	return start, end, true
}
