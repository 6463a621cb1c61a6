package turnwire

import "encoding/binary"

// Sizes and values fixed by RFC 8489 §5 and §14, and RFC 8656 §12.4.
const (
	// HeaderSize is the STUN message header size (RFC 8489 §5).
	HeaderSize = 20
	// MagicCookie is the fixed STUN magic cookie (RFC 8489 §5).
	MagicCookie = 0x2112A442
	// attrHeaderSize is the type+length prefix of every attribute (RFC 8489 §14).
	attrHeaderSize = 4
	// ChannelDataHeaderSize is the channel number + length prefix of a
	// ChannelData message (RFC 8656 §12.4).
	ChannelDataHeaderSize = 4

	// ChannelMin and ChannelMax bound the channel numbers a client may bind:
	// RFC 8656 §12 allows only 0x4000 through 0x4FFF (RFC 5766 allowed up to
	// 0x7FFF; 0x5000–0xFFFF are now reserved for RFC 7983 demultiplexing).
	ChannelMin = 0x4000
	ChannelMax = 0x4FFF
)

// STUN message types used by a TURN client (RFC 8656 §17, RFC 8489 §5).
const (
	typeSendIndication = 0x0016
	typeDataIndication = 0x0017
)

// Attribute types (RFC 8656 §18, RFC 8489 §14).
const (
	attrXORPeerAddress = 0x0012
	attrData           = 0x0013
)

// pad4 rounds n up to a multiple of 4: attribute values and, over TCP/TLS,
// ChannelData messages are padded to 4-byte boundaries (RFC 8489 §14,
// RFC 8656 §12.5).
func pad4(n int) int { return (n + 3) &^ 3 }

var be = binary.BigEndian
