package allocation

import (
	"testing"
	"time"
)

func TestReservations(t *testing.T) {
	r := newTable(t, Config{}).Reservations()
	tok := func(b byte) [8]byte { return [8]byte{b, 1, 2, 3, 4, 5, 6, 7} }
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("empty Reservations has a deadline")
	}
	if err := r.Reserve(tok(1), "alice", "sock1", 0, 29*time.Second); err != ErrInvalidLifetime {
		t.Errorf("ttl below 30 s = %v", err)
	}
	if err := r.Reserve(tok(1), "alice", "sock1", 0, 2*time.Hour); err != ErrInvalidLifetime {
		t.Errorf("ttl above an hour = %v", err)
	}
	if err := r.Reserve(tok(1), "alice", "sock1", 0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(tok(1), "alice", "again", 0, 60*time.Second); err != ErrExists {
		t.Errorf("reserving a held token = %v", err)
	}
	if err := r.Reserve(tok(2), "alice", "sock2", secs(10), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(tok(3), "alice", "sock3", secs(10), 40*time.Second); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.NextDeadline(); !ok || d != secs(30) || r.Len() != 3 {
		t.Errorf("NextDeadline = %v, %v; Len %d", d, ok, r.Len())
	}
	if v, err := r.Redeem(tok(1), "alice", secs(29.999)); err != nil || v != "sock1" {
		t.Errorf("Redeem before expiry = %v, %v", v, err)
	}
	r.ReleaseRedeemed("alice")
	if _, err := r.Redeem(tok(1), "alice", secs(29.999)); err != ErrGone {
		t.Errorf("Redeem consumes the reservation: %v", err)
	}
	if _, err := r.Redeem(tok(9), "alice", 0); err != ErrGone {
		t.Errorf("unknown token redeemed: %v", err)
	}
	// The taken token's queue entry is stale: NextDeadline skips it.
	if d, _ := r.NextDeadline(); d != secs(50) {
		t.Errorf("NextDeadline = %v, want 50 s", d)
	}
	// At its deadline a reservation can no longer be taken; Expire hands
	// the value back for closing.
	if _, err := r.Redeem(tok(3), "alice", secs(50)); err != ErrGone {
		t.Errorf("expired reservation redeemed: %v", err)
	}
	if got := r.Expire(secs(49.999), nil); len(got) != 0 {
		t.Errorf("Expire early = %v", got)
	}
	if got := r.Expire(secs(50), nil); len(got) != 1 || got[0] != "sock3" {
		t.Errorf("Expire(50 s) = %v", got)
	}
	// A token may be reused once taken or expired.
	if err := r.Reserve(tok(1), "alice", "sock1b", secs(60), 30*time.Second); err != nil {
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
