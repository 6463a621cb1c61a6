package netio

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestFdRefClosesExactlyOnce races calls against beginClose many times and
// checks the protocol's two promises: the descriptor is closed exactly once,
// and never while a call that acquired it is still running.
func TestFdRefClosesExactlyOnce(t *testing.T) {
	for round := 0; round < 200; round++ {
		var r fdRef
		var closes, inFlight atomic.Int64
		var violations atomic.Int64
		closeFd := func() {
			if inFlight.Load() != 0 {
				violations.Add(1)
			}
			closes.Add(1)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if !r.acquire() {
						return
					}
					inFlight.Add(1)
					inFlight.Add(-1)
					if r.release() {
						closeFd()
					}
				}
			}()
		}
		for c := 0; c < 2; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, now := r.beginClose(); now {
					closeFd()
				}
			}()
		}
		wg.Wait()
		if got := closes.Load(); got != 1 {
			t.Fatalf("round %d: descriptor closed %d times", round, got)
		}
		if violations.Load() != 0 {
			t.Fatalf("round %d: closed under a call in flight", round)
		}
		if !r.closing() || r.acquire() {
			t.Fatalf("round %d: acquire succeeded after close", round)
		}
	}
}

func TestFdRefSequence(t *testing.T) {
	var r fdRef
	if r.closing() || !r.acquire() || !r.acquire() {
		t.Fatal("fresh fdRef refused a call")
	}
	if first, now := r.beginClose(); !first || now {
		t.Fatalf("beginClose with calls in flight = %v, %v; want true, false", first, now)
	}
	if first, now := r.beginClose(); first || now {
		t.Fatalf("second beginClose = %v, %v; want false, false", first, now)
	}
	if r.release() {
		t.Fatal("release with another call in flight asked to close")
	}
	if !r.release() {
		t.Fatal("last release did not ask to close")
	}
	var idle fdRef
	if first, now := idle.beginClose(); !first || !now {
		t.Fatalf("beginClose with no call = %v, %v; want true, true", first, now)
	}
}
