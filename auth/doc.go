// Package auth is the relay's credential core: long-term keys (RFC 8489
// §9.2.2), TURN REST API credentials with secret rotation
// (draft-uberti-behave-turn-rest-00), stateless nonces (RFC 8489 §9.2,
// RFC 8656 §5) and the RFC 8489 §9.2.4 server decision order.
//
// The package does no I/O and never reads a clock: every function that
// depends on time takes now as an argument. Times here are wall-clock
// time.Time values because TURN REST expiries are UNIX timestamps and nonces
// must stay meaningful across restarts of a relay that keeps its nonce key.
//
// Strings are used exactly as given. RFC 8489 §9.2.2 asks for the PRECIS
// OpaqueString profile (RFC 8265) on realm and password; this package does not
// implement it, so the configured realm and static passwords are required to
// be printable ASCII, for which OpaqueString is the identity. TURN REST
// passwords are base64 and therefore always ASCII.
package auth
