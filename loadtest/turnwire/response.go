package turnwire

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/pion/stun/v2"
)

// Response is a decoded STUN success or error response (RFC 8489 §6.3.1,
// §6.3.4). It owns a copy of the bytes it was decoded from.
type Response struct {
	TransactionID [12]byte
	Method        stun.Method
	// Code is 0 for a success response, else the ERROR-CODE value (RFC 8489
	// §14.8), e.g. 401, 437, 438, 486, 508.
	Code   int
	Reason string
	// Realm and Nonce are set when the response carries them (401, 438).
	Realm, Nonce string
	// Relayed is XOR-RELAYED-ADDRESS of an Allocate success (RFC 8656 §7.3);
	// the first one when the server sent two (dual allocation).
	Relayed netip.AddrPort
	// Mapped is XOR-MAPPED-ADDRESS of an Allocate success (RFC 8656 §7.3).
	Mapped netip.AddrPort
	// Lifetime is LIFETIME in seconds (RFC 8656 §18.2), when present.
	Lifetime    uint32
	HasLifetime bool

	msg stun.Message
}

// ErrNotResponse reports bytes that are not a STUN success or error response.
var ErrNotResponse = errors.New("turnwire: not a STUN response")

// ErrIntegrity reports a response whose MESSAGE-INTEGRITY does not verify
// with the client's key (RFC 8489 §9.2.5: such a response is discarded).
var ErrIntegrity = errors.New("turnwire: response MESSAGE-INTEGRITY does not verify")

var errBadChannel = errors.New("turnwire: channel number outside 0x4000-0x4FFF (RFC 8656 §12)")

// ParseResponse decodes a success or error response. b must hold exactly one
// STUN message; it is copied, so b may be reused afterwards. Malformed
// attributes the client relies on (ERROR-CODE, XOR addresses, LIFETIME) make
// it return an error; it never panics.
func ParseResponse(b []byte) (*Response, error) {
	if Classify(b) != KindResponse {
		return nil, ErrNotResponse
	}
	r := &Response{}
	r.msg.Raw = append(make([]byte, 0, len(b)), b...)
	if err := r.msg.Decode(); err != nil {
		return nil, fmt.Errorf("turnwire: %w", err)
	}
	m := &r.msg
	r.TransactionID = m.TransactionID
	r.Method = m.Type.Method
	if m.Type.Class == stun.ClassErrorResponse {
		// ERROR-CODE: 2 reserved bytes, class, number, reason (RFC 8489
		// §14.8); an error response without it is malformed.
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return nil, fmt.Errorf("turnwire: error response without valid ERROR-CODE: %w", err)
		}
		r.Code = int(ec.Code)
		r.Reason = string(ec.Reason)
		if r.Code < 300 || r.Code > 699 {
			return nil, fmt.Errorf("turnwire: ERROR-CODE %d outside 300-699", r.Code)
		}
	}
	if v, err := m.Get(stun.AttrRealm); err == nil {
		r.Realm = string(v)
	}
	if v, err := m.Get(stun.AttrNonce); err == nil {
		r.Nonce = string(v)
	}
	if v, err := m.Get(stun.AttrXORRelayedAddress); err == nil {
		if r.Relayed, err = ParseXORAddr(v, &r.TransactionID); err != nil {
			return nil, err
		}
	}
	if v, err := m.Get(stun.AttrXORMappedAddress); err == nil {
		if r.Mapped, err = ParseXORAddr(v, &r.TransactionID); err != nil {
			return nil, err
		}
	}
	if v, err := m.Get(stun.AttrLifetime); err == nil {
		// LIFETIME is a 32-bit number of seconds (RFC 8656 §18.2).
		if len(v) != 4 {
			return nil, fmt.Errorf("turnwire: LIFETIME of %d bytes", len(v))
		}
		r.Lifetime, r.HasLifetime = be.Uint32(v), true
	}
	return r, nil
}

// VerifyIntegrity checks the response's MESSAGE-INTEGRITY with key (RFC 8489
// §9.2.5). A response without MESSAGE-INTEGRITY passes only when it is an
// error response: 401 and 400 cannot carry one (RFC 8489 §9.2.4). A success
// response must carry a 20-byte MESSAGE-INTEGRITY that verifies.
func (r *Response) VerifyIntegrity(key stun.MessageIntegrity) error {
	v, err := r.msg.Get(stun.AttrMessageIntegrity)
	if err != nil {
		if r.Code != 0 {
			return nil
		}
		return ErrIntegrity
	}
	// HMAC-SHA1 is 20 bytes (RFC 8489 §14.5); anything else cannot verify
	// and would confuse pion's length arithmetic.
	if len(v) != 20 || key == nil {
		return ErrIntegrity
	}
	if err := key.Check(&r.msg); err != nil {
		return ErrIntegrity
	}
	return nil
}
