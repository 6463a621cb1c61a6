package stunmsg

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"sync"
)

// Builder writes one STUN message into a caller-owned buffer.
//
// Reset starts a message in buf's full capacity; each Add method appends one
// attribute, zero-fills its padding (RFC 8489 §14) and keeps the header
// Length current. The Builder never grows or replaces buf: when an attribute
// does not fit, or a value is invalid, the first error is recorded, later
// calls do nothing, and Bytes/Err report it. Apart from the HMAC state of
// AddIntegrity and AddIntegritySHA256, building does not allocate.
//
// Attributes must come in RFC 8489 order: nothing but
// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT after MESSAGE-INTEGRITY
// (§14.5, §14.6), nothing but FINGERPRINT after MESSAGE-INTEGRITY-SHA256, and
// nothing after FINGERPRINT (§14.7); violations record ReasonBadOrder.
//
// A Builder is not safe for concurrent use. The zero Builder must be Reset
// before use.
type Builder struct {
	buf  []byte // the caller's buffer at full capacity
	n    int    // bytes written
	err  error
	txid [12]byte
	// state orders the attributes: 0 open, then stateIntegrity,
	// stateIntegritySHA256, stateFingerprint.
	state uint8
}

const (
	stateOpen = iota
	stateIntegrity
	stateIntegritySHA256
	stateFingerprint
)

// Reset starts a message of type typ with transaction ID txid in buf,
// discarding the previous message. The message is written from buf[0];
// buf's length is ignored, its capacity bounds the message. A type with
// either top bit set records ReasonBadType (RFC 8489 §5).
func (b *Builder) Reset(buf []byte, typ uint16, txid [12]byte) {
	*b = Builder{buf: buf[:cap(buf)], txid: txid}
	if typ&0xC000 != 0 {
		b.err = ReasonBadType
		return
	}
	if len(b.buf) < HeaderSize {
		b.err = ReasonBufferTooSmall
		return
	}
	binary.BigEndian.PutUint16(b.buf[0:2], typ)
	binary.BigEndian.PutUint16(b.buf[2:4], 0)
	binary.BigEndian.PutUint32(b.buf[4:8], MagicCookie)
	copy(b.buf[8:HeaderSize], txid[:])
	b.n = HeaderSize
}

// Err returns the first error recorded since Reset, or nil.
func (b *Builder) Err() error { return b.err }

// Bytes returns the message built so far, aliasing the buffer given to Reset,
// or nil and the first recorded error.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf[:b.n], nil
}

// fail records err unless an error is already recorded.
func (b *Builder) fail(err Reason) {
	if b.err == nil {
		b.err = err
	}
}

// orderState returns the state an attribute of type t leads to.
func orderState(t uint16) uint8 {
	switch t {
	case AttrMessageIntegrity:
		return stateIntegrity
	case AttrMessageIntegritySHA256:
		return stateIntegritySHA256
	case AttrFingerprint:
		return stateFingerprint
	}
	return stateOpen
}

// begin appends the header of an attribute of type t with an l-byte value,
// zeroes the padding, updates the header Length, and returns the value bytes
// for the caller to fill; nil if an error is (or was) recorded.
func (b *Builder) begin(t uint16, l int) []byte {
	if b.err != nil {
		return nil
	}
	next := orderState(t)
	if next < b.state || next == b.state && next != stateOpen {
		b.fail(ReasonBadOrder)
		return nil
	}
	if l > 0xFFFF || b.n-HeaderSize+attrHeaderSize+padded(l) > maxMessageLength {
		b.fail(ReasonValueTooLong)
		return nil
	}
	end := b.n + attrHeaderSize + padded(l)
	if end > len(b.buf) {
		b.fail(ReasonBufferTooSmall)
		return nil
	}
	binary.BigEndian.PutUint16(b.buf[b.n:b.n+2], t)
	binary.BigEndian.PutUint16(b.buf[b.n+2:b.n+4], uint16(l))
	value := b.buf[b.n+attrHeaderSize : b.n+attrHeaderSize+l]
	clear(b.buf[b.n+attrHeaderSize+l : end])
	b.n = end
	binary.BigEndian.PutUint16(b.buf[2:4], uint16(b.n-HeaderSize))
	b.state = next
	return value
}

// Add appends attribute t with value v (copied) and zero padding. Adding
// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 or FINGERPRINT this way copies
// a value computed elsewhere and obeys the same order rules.
func (b *Builder) Add(t uint16, v []byte) {
	if dst := b.begin(t, len(v)); dst != nil {
		copy(dst, v)
	}
}

// AddString is Add for a string value, without converting it.
func (b *Builder) AddString(t uint16, s string) {
	if dst := b.begin(t, len(s)); dst != nil {
		copy(dst, s)
	}
}

// AddText appends a text attribute after checking the sender's limits:
// USERNAME UTF-8 of fewer than 509 bytes (RFC 8489 §14.3); REALM, NONCE,
// SOFTWARE UTF-8 of fewer than 128 characters (§14.9, §14.10, §14.14), NONCE
// also qdtext/quoted-pair. Other types need UTF-8 of at most 763 bytes.
// A violation records ReasonBadText.
func (b *Builder) AddText(t uint16, s string) {
	dst := b.begin(t, len(s))
	if dst == nil {
		return
	}
	copy(dst, s)
	ok := ValidUsername(dst)
	switch t {
	case AttrUsername:
		ok = ok && len(s) <= MaxUsernameSendBytes
	case AttrNonce:
		ok = ValidNonce(dst)
	case AttrRealm, AttrSoftware, AttrAlternateDomain:
		ok = ValidText(dst)
	}
	if !ok {
		b.fail(ReasonBadText)
	}
}

// AddUint32 appends a 4-byte big-endian value such as LIFETIME (seconds).
func (b *Builder) AddUint32(t uint16, x uint32) {
	if dst := b.begin(t, 4); dst != nil {
		binary.BigEndian.PutUint32(dst, x)
	}
}

// AddChannelNumber appends CHANNEL-NUMBER with zero RFFU (RFC 8656 §18.1).
func (b *Builder) AddChannelNumber(channel uint16) {
	b.AddUint32(AttrChannelNumber, uint32(channel)<<16)
}

// AddRequestedTransport appends REQUESTED-TRANSPORT (RFC 8656 §18.8).
func (b *Builder) AddRequestedTransport(proto uint8) {
	b.AddUint32(AttrRequestedTransport, uint32(proto)<<24)
}

// AddAddressFamily appends REQUESTED-ADDRESS-FAMILY or
// ADDITIONAL-ADDRESS-FAMILY, t, with family f (RFC 8656 §18.6, §18.11).
func (b *Builder) AddAddressFamily(t uint16, f Family) {
	b.AddUint32(t, uint32(f)<<24)
}

// AddEvenPort appends EVEN-PORT with the R bit set to reserve (RFC 8656 §18.7).
func (b *Builder) AddEvenPort(reserve bool) {
	if dst := b.begin(AttrEvenPort, 1); dst != nil {
		dst[0] = 0
		if reserve {
			dst[0] = 0x80
		}
	}
}

// AddXORAddress appends an XOR address attribute t (XOR-MAPPED-ADDRESS,
// XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS) for ap, XORed with the magic cookie
// and the transaction ID given to Reset (RFC 8489 §14.2). IPv4 addresses
// (netip.Addr.Is4) use family 0x01, all others family 0x02, so callers unmap
// IPv4-mapped addresses first. An invalid ap records ReasonBadAddress.
func (b *Builder) AddXORAddress(t uint16, ap netip.AddrPort) {
	size := addressSize(ap)
	if size == 0 {
		b.fail(ReasonBadAddress)
		return
	}
	if dst := b.begin(t, size); dst != nil {
		putXORAddress(dst, ap, &b.txid)
	}
}

// AddAddress appends a plain address attribute t such as ALTERNATE-SERVER
// (RFC 8489 §14.1, §14.15), with the family rules of AddXORAddress.
func (b *Builder) AddAddress(t uint16, ap netip.AddrPort) {
	size := addressSize(ap)
	if size == 0 {
		b.fail(ReasonBadAddress)
		return
	}
	if dst := b.begin(t, size); dst != nil {
		putAddress(dst, ap)
	}
}

// AddUnknownAttributes appends UNKNOWN-ATTRIBUTES listing types, 2 bytes
// each, padded normally (RFC 8489 §14.13).
func (b *Builder) AddUnknownAttributes(types []uint16) {
	dst := b.begin(AttrUnknownAttributes, 2*len(types))
	if dst == nil {
		return
	}
	for i, t := range types {
		binary.BigEndian.PutUint16(dst[2*i:], t)
	}
}

// AddICMP appends the ICMP attribute (RFC 8656 §18.13): zero reserved bytes,
// ICMP type, code and error data (next-hop MTU, or 0).
func (b *Builder) AddICMP(typ, code uint8, data uint32) {
	dst := b.begin(AttrICMP, 8)
	if dst == nil {
		return
	}
	dst[0], dst[1], dst[2], dst[3] = 0, 0, typ, code
	binary.BigEndian.PutUint32(dst[4:8], data)
}

// AddErrorCode appends ERROR-CODE for code 300–699 (RFC 8489 §14.8: class
// code/100, number code%100). An empty reason is replaced by DefaultReason;
// a code outside the range, or with neither a reason nor a default, records
// ReasonBadErrorCode, and a reason that is not fewer than 128 UTF-8
// characters records ReasonBadText.
func (b *Builder) AddErrorCode(code int, reason string) {
	b.addCodeWord(AttrErrorCode, 0, code, reason)
}

// AddAddressErrorCode appends ADDRESS-ERROR-CODE (RFC 8656 §18.12) for the
// address family that could not be allocated, with the rules of
// AddErrorCode (the RFC uses 440 and 508).
func (b *Builder) AddAddressErrorCode(family Family, code int, reason string) {
	b.AddAddressErrorCodeAs(AttrAddressErrorCode, family, code, reason)
}

// AddAddressErrorCodeAs is AddAddressErrorCode with another attribute type,
// for AttrDraftAddressErrorCode.
func (b *Builder) AddAddressErrorCodeAs(t uint16, family Family, code int, reason string) {
	b.addCodeWord(t, byte(family), code, reason)
}

func (b *Builder) addCodeWord(t uint16, first byte, code int, reason string) {
	if reason == "" {
		reason = DefaultReason(code)
	}
	if !validCode(code) || reason == "" {
		b.fail(ReasonBadErrorCode)
		return
	}
	if !validTextString(reason) {
		b.fail(ReasonBadText)
		return
	}
	dst := b.begin(t, 4+len(reason))
	if dst == nil {
		return
	}
	dst[0], dst[1], dst[2], dst[3] = first, 0, byte(code/100), byte(code%100)
	copy(dst[4:], reason)
}

// AddIntegrity appends MESSAGE-INTEGRITY: HMAC-SHA1 with key over the message
// so far, with the header Length covering the attribute (RFC 8489 §14.5).
func (b *Builder) AddIntegrity(key []byte) {
	b.addMAC(AttrMessageIntegrity, &sha1MACs, key, integritySize)
}

// AddIntegritySHA256 appends a 32-byte MESSAGE-INTEGRITY-SHA256
// (RFC 8489 §14.6), after MESSAGE-INTEGRITY if both are used.
func (b *Builder) AddIntegritySHA256(key []byte) {
	b.addMAC(AttrMessageIntegritySHA256, &sha256MACs, key, integritySHA256Size)
}

func (b *Builder) addMAC(t uint16, pool *sync.Pool, key []byte, size int) {
	at := b.n
	dst := b.begin(t, size)
	if dst == nil {
		return
	}
	// begin already set Length to end after this attribute, as §14.5 asks.
	integrityMAC(dst, pool, key, b.buf[:at], b.n-HeaderSize)
}

// AddFingerprint appends FINGERPRINT, CRC-32 of the message so far XOR
// 0x5354554e, with the header Length covering the attribute (RFC 8489
// §14.7). Nothing may follow it.
func (b *Builder) AddFingerprint() {
	at := b.n
	dst := b.begin(AttrFingerprint, fingerprintSize)
	if dst == nil {
		return
	}
	binary.BigEndian.PutUint32(dst, crc32.ChecksumIEEE(b.buf[:at])^fingerprintXOR)
}
