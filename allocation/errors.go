package allocation

import "errors"

// Errors returned by the table. Code maps each to the STUN error code the
// relay answers with.
var (
	// ErrExists: Allocate on a 5-tuple that already has a live allocation
	// (RFC 8656 §7.2 step 2, 437 Allocation Mismatch).
	ErrExists = errors.New("allocation: 5-tuple already has an allocation")
	// ErrGone: the allocation was deleted or has expired (RFC 8656 §5,
	// 437 Allocation Mismatch).
	ErrGone = errors.New("allocation: allocation expired or deleted")
	// ErrQuota: the per-user or total allocation quota is reached
	// (RFC 8656 §5, §7.2 step 10, 486 Allocation Quota Reached).
	ErrQuota = errors.New("allocation: allocation quota reached")
	// ErrCapacity: the per-allocation limit on permissions or channels is
	// reached (RFC 8656 §10.2, §12.2, 508 Insufficient Capacity).
	ErrCapacity = errors.New("allocation: insufficient capacity")
	// ErrBadChannel: channel number outside 0x4000–0x4FFF (RFC 8656 §12,
	// 400 Bad Request).
	ErrBadChannel = errors.New("allocation: channel number outside 0x4000-0x4FFF")
	// ErrChannelConflict: the number is bound (or reserved) for another peer
	// transport address, or the peer is bound (or reserved) to another number
	// (RFC 8656 §12.2, 400 Bad Request).
	ErrChannelConflict = errors.New("allocation: channel number or peer bound differently")
	// ErrInvalidAddress: a peer address is not a valid IP (or, for a channel,
	// has port 0), or no peer address was given (RFC 8656 §10.2, §12.2,
	// 400 Bad Request).
	ErrInvalidAddress = errors.New("allocation: invalid peer address")
	// ErrFamilyMismatch: a peer's address family matches no relayed address
	// of the allocation (RFC 8656 §10.2, §12.2, 443 Peer Address Family
	// Mismatch).
	ErrFamilyMismatch = errors.New("allocation: peer address family matches no relayed address")
	// ErrInvalidSpec: Create was given a malformed Spec (invalid 5-tuple,
	// no relayed address, lifetime out of range). A bug in the caller.
	ErrInvalidSpec = errors.New("allocation: invalid allocation spec")
	// ErrInvalidLifetime: a lifetime outside the accepted range was passed
	// to Refresh or Reservations.Reserve. A bug in the caller.
	ErrInvalidLifetime = errors.New("allocation: lifetime out of range")
)

// Code returns the STUN error code (RFC 8489 §14.8, RFC 8656 §19) the relay
// should answer for an error from this package, or 500 for any other error.
func Code(err error) int {
	switch {
	case errors.Is(err, ErrExists), errors.Is(err, ErrGone):
		return 437
	case errors.Is(err, ErrQuota):
		return 486
	case errors.Is(err, ErrCapacity):
		return 508
	case errors.Is(err, ErrBadChannel), errors.Is(err, ErrChannelConflict),
		errors.Is(err, ErrInvalidAddress):
		return 400
	case errors.Is(err, ErrFamilyMismatch):
		return 443
	}
	return 500
}
