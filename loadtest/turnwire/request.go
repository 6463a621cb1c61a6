package turnwire

import (
	"net/netip"

	"github.com/pion/stun/v2"
)

// transportUDP is the REQUESTED-TRANSPORT protocol number for UDP relaying
// (RFC 8656 §18.8: IANA protocol number 17).
const transportUDP = 17

// Request is an encoded STUN request ready to send. Raw is owned by the
// Request; callers send it as is (it may be retransmitted unchanged over UDP,
// RFC 8489 §6.2.1).
type Request struct {
	Raw           []byte
	TransactionID [12]byte
	Method        stun.Method
}

// AllocateRequest builds an Allocate request for a UDP relay (RFC 8656 §7.1)
// with REQUESTED-TRANSPORT UDP. When auth is ready it carries USERNAME,
// REALM, NONCE and MESSAGE-INTEGRITY (RFC 8489 §9.2.3); otherwise it is the
// unauthenticated first attempt that draws the 401 carrying the realm.
func AllocateRequest(auth *Auth) (Request, error) {
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{transportUDP, 0, 0, 0}}
	return build(stun.MethodAllocate, auth, transport)
}

// RefreshRequest builds a Refresh request (RFC 8656 §8.1) asking for
// lifetime seconds; lifetime 0 deletes the allocation.
func RefreshRequest(auth *Auth, lifetime uint32) (Request, error) {
	v := make([]byte, 4)
	be.PutUint32(v, lifetime)
	return build(stun.MethodRefresh, auth, stun.RawAttribute{Type: stun.AttrLifetime, Value: v})
}

// CreatePermissionRequest builds a CreatePermission request for one peer
// (RFC 8656 §10.1). Permissions are per IP address; the port is carried but
// ignored by the server (RFC 8656 §9).
func CreatePermissionRequest(auth *Auth, peer netip.AddrPort) (Request, error) {
	return build(stun.MethodCreatePermission, auth, peerAttr(peer))
}

// ChannelBindRequest builds a ChannelBind request binding channel to peer
// (RFC 8656 §12.1). channel must be within 0x4000–0x4FFF (RFC 8656 §12).
func ChannelBindRequest(auth *Auth, channel uint16, peer netip.AddrPort) (Request, error) {
	if !ValidChannel(channel) {
		return Request{}, errBadChannel
	}
	v := make([]byte, 4) // number (2) + RFFU (2) = 0, RFC 8656 §18.1
	be.PutUint16(v, channel)
	return build(stun.MethodChannelBind, auth, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v}, peerAttr(peer))
}

// peerAttr defers encoding XOR-PEER-ADDRESS until the transaction ID is known,
// since an IPv6 address is XORed with it (RFC 8489 §14.2).
func peerAttr(peer netip.AddrPort) stun.Setter {
	return xorPeerSetter(peer)
}

type xorPeerSetter netip.AddrPort

func (p xorPeerSetter) AddTo(m *stun.Message) error {
	addr := netip.AddrPort(p)
	v := make([]byte, XORAddrSize(addr))
	PutXORAddr(v, addr, &m.TransactionID)
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

// build assembles a request: type, random transaction ID (RFC 8489 §6: 96
// bits from a cryptographically random source), method attributes, then the
// long-term credential attributes with MESSAGE-INTEGRITY last (RFC 8489
// §14.5: it covers everything before it).
func build(method stun.Method, auth *Auth, attrs ...stun.Setter) (Request, error) {
	setters := make([]stun.Setter, 0, len(attrs)+6)
	setters = append(setters, stun.TransactionID, stun.NewType(method, stun.ClassRequest))
	setters = append(setters, attrs...)
	if auth != nil && auth.Ready() {
		setters = append(setters,
			stun.NewUsername(auth.Username),
			stun.NewRealm(auth.realm),
			stun.NewNonce(auth.nonce),
			auth.key,
		)
	}
	m, err := stun.Build(setters...)
	if err != nil {
		return Request{}, err
	}
	return Request{Raw: m.Raw, TransactionID: m.TransactionID, Method: method}, nil
}
