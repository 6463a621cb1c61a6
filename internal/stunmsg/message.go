package stunmsg

import (
	"encoding/binary"
	"hash/crc32"
	"iter"
)

// MaxAttributes is the largest number of attributes a message may carry,
// counting every attribute on the wire including those after
// MESSAGE-INTEGRITY that are ignored. A message with more is malformed
// (ReasonTooManyAttrs). No TURN message needs more than a dozen; the fixed
// bound keeps Message free of heap allocation.
const MaxAttributes = 64

// Attr describes one attribute of a parsed message: its type and where its
// value lies in Message.Raw. Offset and Length exclude the 4-byte attribute
// header and the padding.
type Attr struct {
	Type   uint16
	Length uint16
	Offset uint32
}

// Message is a parsed view of one STUN message held in a caller-owned buffer.
//
// Parse fills it without allocating and without copying: Raw and every value
// returned by Get, All and Value alias the buffer passed to Parse, which must
// stay unchanged while the Message is in use. A Message is reusable: each
// Parse call resets it. The zero Message holds no message. A Message is not
// safe for concurrent use; after Parse returns, concurrent read-only use
// (Get, All, Value, CheckIntegrity) is safe.
//
// Only the attributes a receiver may act on are recorded (RFC 8489 §9 and
// §14.5–§14.7): every attribute up to and including the first
// MESSAGE-INTEGRITY; after it only a MESSAGE-INTEGRITY-SHA256; after the
// first MESSAGE-INTEGRITY-SHA256 nothing; and FINGERPRINT, which must be
// last. The other attributes after the integrity attributes are skipped:
// Get, All and UnknownRequired never see them.
type Message struct {
	// Raw is the whole message, exactly 20+Length bytes of the parsed buffer.
	Raw []byte
	// Type is the 16-bit message type; Method and Class are its parts.
	Type   uint16
	Method Method
	Class  Class
	// TransactionID is the 96-bit transaction ID (RFC 8489 §5).
	TransactionID [12]byte
	// IntegrityAt, IntegritySHA256At and FingerprintAt are the offsets in
	// Raw of the attribute header of the recorded MESSAGE-INTEGRITY,
	// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, or -1. They are set by
	// every Parse call (to -1 when it fails); in a Message never parsed they
	// are 0, which is never a valid offset (attributes start at 20).
	IntegrityAt       int
	IntegritySHA256At int
	FingerprintAt     int

	attrs [MaxAttributes]Attr
	n     int
}

// Parse checks b as one complete STUN message and records its attributes,
// replacing whatever m held. b is a whole UDP datagram or one stream frame
// (see FrameLength); it is retained by m, not copied.
//
// Checks, in order; the first failure is returned as a Reason and leaves m
// empty (RFC 8489 §6.3: such input is silently discarded):
//   - at least 20 bytes (ReasonTooShort);
//   - the two top bits of the type are 00 (ReasonBadTopBits, RFC 8489 §5);
//   - the magic cookie (ReasonBadCookie, RFC 8489 §5; RFC 8656 §5 rules out
//     RFC 3489 clients);
//   - Length is a multiple of 4 (ReasonBadLength, RFC 8489 §5);
//   - len(b) == 20+Length exactly (ReasonLengthMismatch, RFC 8489 §6.3);
//   - each attribute with its padding lies inside the message
//     (ReasonAttrOverrun, RFC 8489 §14); padding bytes are not inspected;
//   - at most MaxAttributes attributes (ReasonTooManyAttrs);
//   - nothing follows FINGERPRINT (ReasonFingerprintNotLast) and its value is
//     CRC-32 of the preceding bytes XOR 0x5354554e (ReasonBadFingerprint,
//     RFC 8489 §14.7).
//
// Parse does not check the method/class combination, integrity or attribute
// values; those belong to the caller and the Decode functions.
func (m *Message) Parse(b []byte) error {
	m.clear()
	// RFC 8489 §6.3: too short to hold a header.
	if len(b) < HeaderSize {
		return ReasonTooShort
	}
	typ := binary.BigEndian.Uint16(b[0:2])
	// RFC 8489 §5: the most significant two bits of every STUN message are
	// zero; this is also what separates STUN from ChannelData.
	if typ&0xC000 != 0 {
		return ReasonBadTopBits
	}
	if binary.BigEndian.Uint32(b[4:8]) != MagicCookie {
		return ReasonBadCookie
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	// RFC 8489 §5: every attribute is padded, so Length's two low bits are 0.
	if length%4 != 0 {
		return ReasonBadLength
	}
	// RFC 8489 §6.3 "sensible length": one datagram is one message.
	if len(b) != HeaderSize+length {
		return ReasonLengthMismatch
	}

	var (
		n           int
		count       int
		miAt        = -1
		shaAt       = -1
		fpAt        = -1
		fingerprint []byte
	)
	for off := HeaderSize; off < len(b); {
		// RFC 8489 §14: a 4-byte type/length header must fit.
		if len(b)-off < attrHeaderSize {
			return ReasonAttrOverrun
		}
		if fpAt >= 0 {
			// RFC 8489 §14.7: FINGERPRINT MUST be the last attribute.
			return ReasonFingerprintNotLast
		}
		count++
		if count > MaxAttributes {
			return ReasonTooManyAttrs
		}
		t := binary.BigEndian.Uint16(b[off : off+2])
		l := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		valueAt := off + attrHeaderSize
		// RFC 8489 §14: the value and its padding to 4 bytes must fit.
		if padded(l) > len(b)-valueAt {
			return ReasonAttrOverrun
		}
		record := false
		switch {
		case t == AttrFingerprint:
			fpAt, fingerprint, record = off, b[valueAt:valueAt+l], true
		case shaAt >= 0:
			// RFC 8489 §9: after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT counts.
		case miAt >= 0:
			// RFC 8489 §9, §14.5: after MESSAGE-INTEGRITY only
			// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
			if t == AttrMessageIntegritySHA256 {
				shaAt, record = off, true
			}
		default:
			record = true
			switch t {
			case AttrMessageIntegrity:
				miAt = off
			case AttrMessageIntegritySHA256:
				shaAt = off
			}
		}
		if record {
			m.attrs[n] = Attr{Type: t, Length: uint16(l), Offset: uint32(valueAt)}
			n++
		}
		off = valueAt + padded(l)
	}
	if fpAt >= 0 {
		// RFC 8489 §14.7: CRC-32 over the message up to the attribute; the
		// header Length already includes it because it is last.
		if len(fingerprint) != fingerprintSize ||
			binary.BigEndian.Uint32(fingerprint) != crc32.ChecksumIEEE(b[:fpAt])^fingerprintXOR {
			return ReasonBadFingerprint
		}
	}

	m.Raw = b
	m.Type = typ
	m.Method, m.Class = SplitType(typ)
	copy(m.TransactionID[:], b[8:HeaderSize])
	m.IntegrityAt, m.IntegritySHA256At, m.FingerprintAt = miAt, shaAt, fpAt
	m.n = n
	return nil
}

// clear empties m without touching the attribute array's contents.
func (m *Message) clear() {
	m.Raw = nil
	m.Type, m.Method, m.Class = 0, 0, 0
	m.TransactionID = [12]byte{}
	m.IntegrityAt, m.IntegritySHA256At, m.FingerprintAt = -1, -1, -1
	m.n = 0
}

// Attrs returns the recorded attributes in wire order. The slice aliases m
// and is valid until the next Parse.
func (m *Message) Attrs() []Attr { return m.attrs[:m.n] }

// Value returns the value bytes of a, which must come from m.Attrs; a
// descriptor that does not fit m.Raw yields nil.
func (m *Message) Value(a Attr) []byte {
	start := int(a.Offset)
	end := start + int(a.Length)
	if start < HeaderSize || end > len(m.Raw) {
		return nil
	}
	return m.Raw[start:end:end]
}

// Get returns the value of the first recorded attribute of type t
// (RFC 8489 §14: only the first of duplicates need be processed). The value
// aliases m.Raw; its capacity is limited to its length.
func (m *Message) Get(t uint16) ([]byte, bool) {
	for _, a := range m.attrs[:m.n] {
		if a.Type == t {
			return m.Value(a), true
		}
	}
	return nil, false
}

// Contains reports whether an attribute of type t was recorded.
func (m *Message) Contains(t uint16) bool {
	_, ok := m.Get(t)
	return ok
}

// Count returns how many recorded attributes have type t.
func (m *Message) Count(t uint16) int {
	c := 0
	for _, a := range m.attrs[:m.n] {
		if a.Type == t {
			c++
		}
	}
	return c
}

// All yields the value of every recorded attribute of type t in wire order,
// e.g. each XOR-PEER-ADDRESS of a CreatePermission request (RFC 8656 §10).
// Ranging over it does not allocate.
func (m *Message) All(t uint16) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for _, a := range m.attrs[:m.n] {
			if a.Type == t && !yield(m.Value(a)) {
				return
			}
		}
	}
}
