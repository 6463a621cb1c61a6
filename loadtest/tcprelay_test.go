package loadtest

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestTCPAccount checks the TCP load's accounting on fake counts: bytes
// both ways are the growth over the window, each connection's throughput
// is its own bytes both ways per second, and the median of an even count
// is the mean of the middle two.
func TestTCPAccount(t *testing.T) {
	start := []tcpCounts{{toPeer: 100, fromPeer: 50}, {toPeer: 0, fromPeer: 0}, {toPeer: 7, fromPeer: 7}, {}}
	end := []tcpCounts{
		{toPeer: 100 + 3e6, fromPeer: 50 + 1e6}, // 4 MB in 2 s: 2 MB/s
		{toPeer: 1e6, fromPeer: 1e6},            // 1 MB/s
		{toPeer: 7 + 6e6, fromPeer: 7 + 6e6},    // 6 MB/s
		{toPeer: 4e6, fromPeer: 4e6},            // 4 MB/s
	}
	r := tcpAccount(start, end, 2)
	if r.Connections != 4 || r.ToPeerBytes != 14e6 || r.FromPeerBytes != 12e6 || r.RelayedBytes != 26e6 {
		t.Fatalf("bytes: %+v", r)
	}
	if want := []float64{2, 1, 6, 4}; !slices.Equal(r.PerConnectionMBps, want) {
		t.Fatalf("per connection %v, want %v", r.PerConnectionMBps, want)
	}
	if r.MedianMBps != 3 || r.MinMBps != 1 || r.MaxMBps != 6 {
		t.Fatalf("median %v min %v max %v, want 3, 1, 6", r.MedianMBps, r.MinMBps, r.MaxMBps)
	}
	odd := tcpAccount(start[:3], end[:3], 2)
	if odd.MedianMBps != 2 {
		t.Fatalf("median of three %v, want 2", odd.MedianMBps)
	}
}

// TestPerMB checks CPU per MB: 30 ms over 20 MB is 1500 µs per MB, and no
// bytes give 0 rather than infinity.
func TestPerMB(t *testing.T) {
	if got := perMB(30*time.Millisecond, 20e6); math.Abs(got-1500) > 1e-9 {
		t.Fatalf("perMB = %v, want 1500", got)
	}
	if got := perMB(time.Second, 0); got != 0 {
		t.Fatalf("perMB without bytes = %v, want 0", got)
	}
}

// TestTCPModeValidation: TCP relaying needs a TCP control connection and a
// bounded number of connections.
func TestTCPModeValidation(t *testing.T) {
	c := DefaultConfig()
	c.Secret, c.Mode = "0123456789abcdef", ModeTCP
	c.Allocations = 4
	if err := c.Validate(); err == nil {
		t.Fatal("ModeTCP over UDP accepted")
	}
	c.Transport = TransportTCP
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Allocations = MaxTCPConnections + 1
	if err := c.Validate(); err == nil {
		t.Fatalf("%d connections accepted", c.Allocations)
	}
}
