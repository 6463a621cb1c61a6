package turnwire

// Kind is what a frame received from a TURN server is, decided by its first
// byte as RFC 8656 §12 (Table 3, from RFC 7983) prescribes.
type Kind uint8

const (
	// KindInvalid is anything a TURN client must drop: a first byte outside
	// 0x00–0x3F and 0x40–0x4F, or a malformed message.
	KindInvalid Kind = iota
	// KindChannelData is a ChannelData message (first byte 0x40–0x4F).
	KindChannelData
	// KindDataIndication is a STUN Data indication (RFC 8656 §11.4).
	KindDataIndication
	// KindResponse is a STUN success or error response (RFC 8489 §5 classes
	// 0b10 and 0b11), to be matched by transaction ID.
	KindResponse
	// KindOtherSTUN is a well-framed STUN request or indication other than a
	// Data indication; a client ignores it.
	KindOtherSTUN
)

// String names the kind for counters and logs.
func (k Kind) String() string {
	switch k {
	case KindChannelData:
		return "channel-data"
	case KindDataIndication:
		return "data-indication"
	case KindResponse:
		return "response"
	case KindOtherSTUN:
		return "other-stun"
	default:
		return "invalid"
	}
}

// Classify decides what frame b is. b must hold exactly one message (a UDP
// datagram, or one frame cut by Framer). It reads only b's header and does
// not allocate.
func Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindInvalid
	}
	switch {
	case b[0] >= 0x40 && b[0] <= 0x4F:
		return KindChannelData
	case b[0]&0xC0 == 0:
		if !isSTUNHeader(b) {
			return KindInvalid
		}
		t := be.Uint16(b[0:2])
		if t == typeDataIndication {
			return KindDataIndication
		}
		// Class bits are C1 = bit 8 and C0 = bit 4 (RFC 8489 §5); responses
		// have C1 set.
		if t&0x0100 != 0 {
			return KindResponse
		}
		return KindOtherSTUN
	default:
		return KindInvalid
	}
}
