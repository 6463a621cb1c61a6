package stunmsg

// Attribute types (RFC 8489 §18.3, RFC 8656 §18). Types 0x0000–0x7FFF are
// comprehension-required, 0x8000–0xFFFF comprehension-optional
// (RFC 8489 §14). The set of types this relay understands, and thus does not
// report as unknown, is decided by UnknownRequired.
const (
	AttrMappedAddress           uint16 = 0x0001 // RFC 8489 §14.1
	AttrChangeRequest           uint16 = 0x0003 // RFC 5780 §7.2; reserved in RFC 8489 §18.3.1
	AttrUsername                uint16 = 0x0006 // RFC 8489 §14.3
	AttrMessageIntegrity        uint16 = 0x0008 // RFC 8489 §14.5
	AttrErrorCode               uint16 = 0x0009 // RFC 8489 §14.8
	AttrUnknownAttributes       uint16 = 0x000A // RFC 8489 §14.13
	AttrChannelNumber           uint16 = 0x000C // RFC 8656 §18.1
	AttrLifetime                uint16 = 0x000D // RFC 8656 §18.2
	AttrXORPeerAddress          uint16 = 0x0012 // RFC 8656 §18.3
	AttrData                    uint16 = 0x0013 // RFC 8656 §18.4
	AttrRealm                   uint16 = 0x0014 // RFC 8489 §14.9
	AttrNonce                   uint16 = 0x0015 // RFC 8489 §14.10
	AttrXORRelayedAddress       uint16 = 0x0016 // RFC 8656 §18.5
	AttrRequestedAddressFamily  uint16 = 0x0017 // RFC 8656 §18.6
	AttrEvenPort                uint16 = 0x0018 // RFC 8656 §18.7
	AttrRequestedTransport      uint16 = 0x0019 // RFC 8656 §18.8
	AttrDontFragment            uint16 = 0x001A // RFC 8656 §18.9
	AttrAccessToken             uint16 = 0x001B // RFC 7635 §6.2 (not implemented)
	AttrMessageIntegritySHA256  uint16 = 0x001C // RFC 8489 §14.6
	AttrPasswordAlgorithm       uint16 = 0x001D // RFC 8489 §14.12 (not implemented)
	AttrUserhash                uint16 = 0x001E // RFC 8489 §14.4 (not implemented)
	AttrXORMappedAddress        uint16 = 0x0020 // RFC 8489 §14.2
	AttrReservationToken        uint16 = 0x0022 // RFC 8656 §18.10
	AttrPriority                uint16 = 0x0024 // RFC 8445 §16.1
	AttrUseCandidate            uint16 = 0x0025 // RFC 8445 §16.1
	AttrConnectionID            uint16 = 0x002A // RFC 6062 §6.2.1 (understood by turncore only when TCP relaying is on)
	AttrAdditionalAddressFamily uint16 = 0x8000 // RFC 8656 §18.11
	AttrAddressErrorCode        uint16 = 0x8001 // RFC 8656 §18.12
	AttrPasswordAlgorithms      uint16 = 0x8002 // RFC 8489 §14.11
	AttrAlternateDomain         uint16 = 0x8003 // RFC 8489 §14.16
	AttrICMP                    uint16 = 0x8004 // RFC 8656 §18.13
	AttrSoftware                uint16 = 0x8022 // RFC 8489 §14.14
	// The codepoints draft-ietf-tram-turnbis used for ADDITIONAL-ADDRESS-FAMILY
	// and ADDRESS-ERROR-CODE before RFC 8656 assigned 0x8000 and 0x8001;
	// coturn 4.x still sends them. A strict relay ignores them (they are
	// comprehension-optional); see relay.Config.LegacyDualAllocation.
	AttrDraftAdditionalAddressFamily uint16 = 0x8032
	AttrDraftAddressErrorCode        uint16 = 0x8033
	AttrAlternateServer              uint16 = 0x8023 // RFC 8489 §14.15
	AttrFingerprint                  uint16 = 0x8028 // RFC 8489 §14.7
	AttrICEControlled                uint16 = 0x8029 // RFC 8445 §16.1
	AttrICEControlling               uint16 = 0x802A // RFC 8445 §16.1
	AttrThirdPartyAuthorization      uint16 = 0x802E // RFC 7635 §6.1
	AttrMobilityTicket               uint16 = 0x8030 // RFC 8016 §3.1
)

// IsComprehensionRequired reports whether t is in the comprehension-required
// range 0x0000–0x7FFF (RFC 8489 §14).
func IsComprehensionRequired(t uint16) bool { return t < 0x8000 }

// Value sizes fixed by the RFCs.
const (
	integritySize       = 20 // HMAC-SHA1, RFC 8489 §14.5
	integritySHA256Size = 32 // HMAC-SHA256 untruncated, RFC 8489 §14.6
	fingerprintSize     = 4  // CRC-32, RFC 8489 §14.7
)

// fingerprintXOR is XORed into the CRC-32 of FINGERPRINT (RFC 8489 §14.7).
const fingerprintXOR = 0x5354554e

// padded returns n rounded up to a multiple of 4 (RFC 8489 §14: attribute
// values are padded to a 4-byte boundary). n must be non-negative.
func padded(n int) int { return (n + 3) &^ 3 }
