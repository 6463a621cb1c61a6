package netio

import "sync/atomic"

// fdRef counts the calls in flight on a file descriptor and records whether
// Close has begun, so that the descriptor is closed exactly once and only
// when no call is using it. Without it, a call racing with Close could pass
// a descriptor number to the kernel after close(2) returned and after the
// kernel had handed the same number to a newer socket.
//
// The state word holds the number of calls in flight in its low 63 bits and
// fdRefClosing in its top bit. The zero value is an open descriptor with no
// call in flight. All methods are safe for concurrent use.
type fdRef struct {
	state atomic.Uint64
}

const fdRefClosing = uint64(1) << 63

// acquire registers a call on the descriptor. It returns false once Close has
// begun; the caller must then not touch the descriptor.
func (r *fdRef) acquire() bool {
	for {
		old := r.state.Load()
		if old&fdRefClosing != 0 {
			return false
		}
		if r.state.CompareAndSwap(old, old+1) {
			return true
		}
	}
}

// release ends a call registered by acquire. It returns true when Close has
// begun and this was the last call in flight: the caller must close the
// descriptor now.
func (r *fdRef) release() bool {
	return r.state.Add(^uint64(0)) == fdRefClosing
}

// beginClose marks the descriptor as closing. first is true for the one call
// that made the change (later calls are no-ops); closeNow is true when no
// call was in flight, so the caller must close the descriptor itself.
// Otherwise the last release does it.
func (r *fdRef) beginClose() (first, closeNow bool) {
	for {
		old := r.state.Load()
		if old&fdRefClosing != 0 {
			return false, false
		}
		if r.state.CompareAndSwap(old, old|fdRefClosing) {
			return true, old == 0
		}
	}
}

// closing reports whether Close has begun.
func (r *fdRef) closing() bool {
	return r.state.Load()&fdRefClosing != 0
}
