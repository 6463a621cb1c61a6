package stunmsg

import "encoding/binary"

// ChannelData framing (RFC 8656 §12.4): 2-byte channel number, 2-byte
// Length counting application data only, the data, and over streams padding
// to a multiple of 4 bytes that Length does not count.
const ChannelDataHeaderSize = 4

// Channel number range a ChannelBind may use (RFC 8656 §12): 0x4000–0x4FFF.
// 0x0000–0x3FFF cannot be channels (first byte of STUN) and 0x5000–0xFFFF
// are reserved for RFC 7983 demultiplexing.
const (
	MinChannelNumber = 0x4000
	MaxChannelNumber = 0x4FFF
)

// IsChannelNumber reports whether ch is in 0x4000–0x4FFF (RFC 8656 §12).
// RFC 5766's wider 0x4000–0x7FFF range, still used by pion/turn, is not
// accepted.
func IsChannelNumber(ch uint16) bool { return StrictChannels.Contains(ch) }

// ParseChannelData checks b as one ChannelData message received in a UDP
// datagram or cut from a stream (RFC 8656 §12.4, §12.6) and returns the
// channel number and exactly Length bytes of application data. ok is false
// when b is shorter than the header, the channel is outside 0x4000–0x4FFF
// (the reserved 0x5000–0xFFFF are dropped, §12.6), or b holds fewer than
// 4+Length bytes. Bytes beyond 4+Length are padding and ignored (§12.5).
// payload aliases b with its capacity limited to its length. Whether the
// channel is bound is the caller's concern. Does not allocate.
func ParseChannelData(b []byte) (channel uint16, payload []byte, ok bool) {
	return StrictChannels.ParseChannelData(b)
}

// ParseChannelData is the package-level ParseChannelData for the channel
// numbers of r.
func (r ChannelRange) ParseChannelData(b []byte) (channel uint16, payload []byte, ok bool) {
	if len(b) < ChannelDataHeaderSize {
		return 0, nil, false
	}
	channel = binary.BigEndian.Uint16(b[0:2])
	if !r.Contains(channel) {
		return 0, nil, false
	}
	end := ChannelDataHeaderSize + int(binary.BigEndian.Uint16(b[2:4]))
	if end > len(b) {
		return 0, nil, false
	}
	return channel, b[ChannelDataHeaderSize:end:end], true
}

// PutChannelDataHeader writes the 4-byte ChannelData header for channel and
// an n-byte payload into b[0:4] (RFC 8656 §12.4); the payload is expected
// at b[4:4+n], typically received there by reading at offset 4 (headroom).
// ok is false, and b untouched, if len(b) < 4, channel is outside
// 0x4000–0x4FFF, or n is outside 0–65535. Stream senders also pad; see
// ChannelDataPaddedLen. Does not allocate.
func PutChannelDataHeader(b []byte, channel uint16, n int) bool {
	return StrictChannels.PutChannelDataHeader(b, channel, n)
}

// PutChannelDataHeader is the package-level PutChannelDataHeader for the
// channel numbers of r.
func (r ChannelRange) PutChannelDataHeader(b []byte, channel uint16, n int) bool {
	if len(b) < ChannelDataHeaderSize || !r.Contains(channel) || n < 0 || n > 0xFFFF {
		return false
	}
	binary.BigEndian.PutUint16(b[0:2], channel)
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	return true
}

// ChannelDataPaddedLen returns the number of bytes a ChannelData message
// with an n-byte payload occupies on a TCP or TLS stream: the 4-byte header
// plus n rounded up to a multiple of 4 (RFC 8656 §12.5). Over UDP the
// message is 4+n bytes. n must be non-negative.
func ChannelDataPaddedLen(n int) int { return ChannelDataHeaderSize + padded(n) }

// Kind is what the first byte of a datagram or stream frame says it is.
type Kind uint8

// The kinds of input a TURN port receives (RFC 8656 §12, §12.6; RFC 7983).
const (
	KindOther       Kind = iota // anything else: drop
	KindSTUN                    // first byte 0x00–0x3F: two top bits 00
	KindChannelData             // first byte 0x40–0x4F: channel 0x4000–0x4FFF
)

// String names the kind for metric labels.
func (k Kind) String() string {
	switch k {
	case KindSTUN:
		return "stun"
	case KindChannelData:
		return "channel_data"
	}
	return "other"
}

// Classify tells STUN from ChannelData by the first byte of b (RFC 8656
// §12): the two top bits 00 mean STUN (RFC 8489 §5), 0x40–0x4F a ChannelData
// message on a valid channel; everything else — reserved channel numbers
// 0x50–0x7F, RTP/RTCP 0x80–0xBF, the rest — and an empty b is KindOther.
// RFC 7983 narrows STUN to 0x00–0x03 on ports shared with DTLS-SRTP; on a
// plain TURN port 0x04–0x3F also start STUN-shaped messages, which Parse or
// the method check (RFC 8489 §6.3) then drops.
func Classify(b []byte) Kind { return StrictChannels.Classify(b) }

// Classify is the package-level Classify for the channel numbers of r: with
// LegacyChannels the first bytes 0x50–0x7F are ChannelData too.
func (r ChannelRange) Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindOther
	}
	switch c := b[0]; {
	case c < 0x40:
		return KindSTUN
	case c <= byte(r.max>>8):
		return KindChannelData
	}
	return KindOther
}

// MaxFrameLength is the largest total FrameLength reports: a STUN message
// with Length 0xFFFC (65552 bytes); ChannelData frames are at most
// 4+65536 bytes. A stream reader whose buffer holds this many bytes never
// has to refuse a well-formed frame.
const MaxFrameLength = HeaderSize + maxMessageLength

// FrameLength returns the total size of the message that starts a TCP or
// TLS stream, given at least its first 4 bytes (RFC 8656 §12.5, RFC 8489
// §6.2.2): 20+Length for STUN, 4+Length rounded up to a multiple of 4 for
// ChannelData. ok is false when head has fewer than 4 bytes, a STUN Length
// is not a multiple of 4 (RFC 8489 §5), or the first byte is neither STUN
// nor a valid ChannelData channel (Classify); a stream that fails is out of
// sync and must be closed. Does not allocate.
func FrameLength(head []byte) (total int, ok bool) { return StrictChannels.FrameLength(head) }

// FrameLength is the package-level FrameLength for the channel numbers of r.
func (r ChannelRange) FrameLength(head []byte) (total int, ok bool) {
	if len(head) < 4 {
		return 0, false
	}
	length := int(binary.BigEndian.Uint16(head[2:4]))
	switch r.Classify(head) {
	case KindSTUN:
		if length%4 != 0 {
			return 0, false
		}
		return HeaderSize + length, true
	case KindChannelData:
		return ChannelDataPaddedLen(length), true
	}
	return 0, false
}
