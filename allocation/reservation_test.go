package allocation

import (
	"testing"
	"time"
)

func TestReservations(t *testing.T) {
	var r Reservations
	tok := func(b byte) [8]byte { return [8]byte{b, 1, 2, 3, 4, 5, 6, 7} }
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("empty Reservations has a deadline")
	}
	if err := r.Reserve(tok(1), "sock1", 0, 29*time.Second); err != ErrInvalidLifetime {
		t.Errorf("ttl below 30 s = %v", err)
	}
	if err := r.Reserve(tok(1), "sock1", 0, 2*time.Hour); err != ErrInvalidLifetime {
		t.Errorf("ttl above an hour = %v", err)
	}
	if err := r.Reserve(tok(1), "sock1", 0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(tok(1), "again", 0, 60*time.Second); err != ErrExists {
		t.Errorf("reserving a held token = %v", err)
	}
	if err := r.Reserve(tok(2), "sock2", secs(10), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(tok(3), "sock3", secs(10), 40*time.Second); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.NextDeadline(); !ok || d != secs(30) || r.Len() != 3 {
		t.Errorf("NextDeadline = %v, %v; Len %d", d, ok, r.Len())
	}
	if v, ok := r.Take(tok(1), secs(29.999)); !ok || v != "sock1" {
		t.Errorf("Take before expiry = %v, %v", v, ok)
	}
	if _, ok := r.Take(tok(1), secs(29.999)); ok {
		t.Errorf("Take consumes the reservation")
	}
	if _, ok := r.Take(tok(9), 0); ok {
		t.Errorf("unknown token taken")
	}
	// The taken token's queue entry is stale: NextDeadline skips it.
	if d, _ := r.NextDeadline(); d != secs(50) {
		t.Errorf("NextDeadline = %v, want 50 s", d)
	}
	// At its deadline a reservation can no longer be taken; Expire hands
	// the value back for closing.
	if _, ok := r.Take(tok(3), secs(50)); ok {
		t.Errorf("expired reservation taken")
	}
	if got := r.Expire(secs(49.999), nil); len(got) != 0 {
		t.Errorf("Expire early = %v", got)
	}
	if got := r.Expire(secs(50), nil); len(got) != 1 || got[0] != "sock3" {
		t.Errorf("Expire(50 s) = %v", got)
	}
	// A token may be reused once taken or expired.
	if err := r.Reserve(tok(1), "sock1b", secs(60), 30*time.Second); err != nil {
		t.Errorf("reuse of a taken token = %v", err)
	}
	got := r.Expire(secs(100), nil)
	if len(got) != 2 || r.Len() != 0 {
		t.Errorf("Expire(100 s) = %v, Len %d", got, r.Len())
	}
	if _, ok := r.NextDeadline(); ok {
		t.Errorf("deadline left after everything expired")
	}
}
