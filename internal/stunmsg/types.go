package stunmsg

// HeaderSize is the size in bytes of the STUN message header (RFC 8489 §5).
const HeaderSize = 20

// MagicCookie is the fixed value of header bytes 4–7 (RFC 8489 §5).
const MagicCookie = 0x2112A442

// attrHeaderSize is the size of an attribute's type and length fields
// (RFC 8489 §14).
const attrHeaderSize = 4

// maxMessageLength is the largest value of the 16-bit Length header field
// that is a multiple of 4 (RFC 8489 §5: attributes are padded to 4 bytes).
const maxMessageLength = 0xFFFC

// Method is a 12-bit STUN method (RFC 8489 §5, RFC 8656 §17).
type Method uint16

// Methods this relay speaks (RFC 8489 §18.2, RFC 8656 §17).
const (
	Binding          Method = 0x001 // RFC 8489 §18.2
	Allocate         Method = 0x003 // RFC 8656 §17, request only
	Refresh          Method = 0x004 // RFC 8656 §17, request only
	Send             Method = 0x006 // RFC 8656 §17, indication only
	Data             Method = 0x007 // RFC 8656 §17, indication only
	CreatePermission Method = 0x008 // RFC 8656 §17, request only
	ChannelBind      Method = 0x009 // RFC 8656 §17, request only
	// RFC 6062 §6.1 (TCP relaying): Connect and ConnectionBind are
	// requests, ConnectionAttempt is the server's indication.
	Connect           Method = 0x00A
	ConnectionBind    Method = 0x00B
	ConnectionAttempt Method = 0x00C
)

// String names the method for logs; unknown methods are "unknown".
func (m Method) String() string {
	switch m {
	case Binding:
		return "binding"
	case Allocate:
		return "allocate"
	case Refresh:
		return "refresh"
	case Send:
		return "send"
	case Data:
		return "data"
	case CreatePermission:
		return "create_permission"
	case ChannelBind:
		return "channel_bind"
	case Connect:
		return "connect"
	case ConnectionBind:
		return "connection_bind"
	case ConnectionAttempt:
		return "connection_attempt"
	}
	return "unknown"
}

// Class is the 2-bit message class C1C0 (RFC 8489 §5).
type Class uint8

// The four classes, numbered by their C1C0 bits.
const (
	Request    Class = 0b00
	Indication Class = 0b01
	Success    Class = 0b10
	Error      Class = 0b11
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case Request:
		return "request"
	case Indication:
		return "indication"
	case Success:
		return "success"
	case Error:
		return "error"
	}
	return "unknown"
}

// MessageType encodes method and class into the 16-bit message type
// (RFC 8489 §5, Figure 3): the method bits M0–M11 are split around the class
// bits C0 (bit 4) and C1 (bit 8); the two most significant bits are 0.
// Method bits above the twelfth and class bits above the second are dropped.
func MessageType(method Method, class Class) uint16 {
	m := uint16(method) & 0x0FFF
	t := m&0x000F | (m&0x0070)<<1 | (m&0x0F80)<<2
	t |= uint16(class&1)<<4 | uint16(class>>1&1)<<8
	return t
}

// SplitType decodes a 16-bit message type into method and class, the inverse
// of MessageType. The two most significant bits are ignored; Parse rejects
// messages where they are set.
func SplitType(t uint16) (Method, Class) {
	m := t&0x000F | (t&0x00E0)>>1 | (t&0x3E00)>>2
	c := (t>>4)&1 | (t>>7)&2
	return Method(m), Class(c)
}

// Family is an address family value as carried in address attributes
// (RFC 8489 §14.1) and in REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY
// (RFC 8656 §18.6, §18.11).
type Family uint8

// Address families (RFC 8489 §14.1).
const (
	FamilyIPv4 Family = 0x01
	FamilyIPv6 Family = 0x02
)

// IP protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §18.8).
const (
	ProtoUDP uint8 = 17 // RFC 8656
	ProtoTCP uint8 = 6  // RFC 6062 §6.2 (TCP relaying, when the core enables it)
)
