package loadtest

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestLoopbackSourcesAreDistinctLoopbackHosts(t *testing.T) {
	var s loopbackSources
	first := []string{"127.1.0.1", "127.1.0.2"}
	seen := map[netip.Addr]bool{}
	const n = 3 * sourcesPerBlock / 2 // crosses into the second /16
	for i := range n {
		a := s.take()
		if i < len(first) && a.String() != first[i] {
			t.Fatalf("address %d = %v, want %s", i, a, first[i])
		}
		b := a.As4()
		if !a.Is4() || b[0] != 127 || b[1] == 0 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("address %d = %v: not a 127.1-254.x.1-254 host", i, a)
		}
		if seen[a] {
			t.Fatalf("address %d = %v handed out twice", i, a)
		}
		seen[a] = true
	}
	if s.taken() != n {
		t.Fatalf("taken() = %d, want %d", s.taken(), n)
	}
	if got := s.take(); got.String() != "127.2.128.1" {
		t.Fatalf("next address %v, want 127.2.128.1", got)
	}
	// After every address of 127.1.0.0–127.254.255.255 it starts over.
	s.next.Store(254 * sourcesPerBlock)
	if got := s.take(); got.String() != "127.1.0.1" {
		t.Fatalf("after wrapping: %v", got)
	}
}

// TestDialFromSource checks that a source address given to dial is the one
// the server sees, over UDP and TCP.
func TestDialFromSource(t *testing.T) {
	source := netip.MustParseAddr("127.3.4.5")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := DefaultConfig()
	conn, err := dial(ctx, &cfg, target{addr: pc.LocalAddr().(*net.UDPAddr).AddrPort()}, source, 1, 1, ProbeHeaderSize)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	if err := conn.writeFrame([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	_, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := from.(*net.UDPAddr).AddrPort().Addr(); got != source {
		t.Fatalf("udp: server saw %v, want %v", got, source)
	}

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.Transport = TransportTCP
	tc, err := dial(ctx, &cfg, target{addr: l.Addr().(*net.TCPAddr).AddrPort()}, source, 1, 1, ProbeHeaderSize)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.close()
	accepted, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	if got := accepted.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != source {
		t.Fatalf("tcp: server saw %v, want %v", got, source)
	}
}
