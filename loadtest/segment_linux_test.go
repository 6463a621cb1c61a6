package loadtest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestSegmentedWriteArrivesAsDatagrams: writeFrames' segmented send
// reaches a plain receiver as one datagram per frame, in order, and
// allocates nothing.
func TestSegmentedWriteArrivesAsDatagrams(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	conn := dialTestConn(t, rx.LocalAddr().(*net.UDPAddr).AddrPort(), 8)
	var frames [][]byte
	for i := range 5 {
		f := bytes.Repeat([]byte(fmt.Sprint(i)), 120)
		if i == 4 {
			f = f[:30]
		}
		frames = append(frames, f)
	}
	if err := conn.writeFrames(frames); err != nil {
		t.Fatal(err)
	}
	if !conn.segment {
		t.Fatal("the kernel refused a segmented send on loopback")
	}
	buf := make([]byte, 4096)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i, want := range frames {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: %d bytes %q..., want %d bytes %q...", i, n, buf[:1], len(want), want[:1])
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := conn.writeFrames(frames[:4]); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			rx.Read(buf)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per segmented write", allocs)
	}
}

// TestEchoSendsRunsBack: bursts from two sources, each of equal datagrams
// with a shorter last and an empty one after, come back to each source
// exactly, in order (the echo joins runs into segmented sends).
func TestEchoSendsRunsBack(t *testing.T) {
	pool, err := startEchoPool(netip.MustParseAddr("127.0.0.1"), 1, 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.close()
	var conns []*udpConn
	for range 2 {
		conns = append(conns, dialTestConn(t, pool.addr(0), 16))
	}
	burst := func(k int) [][]byte {
		var f [][]byte
		for i := range 6 {
			f = append(f, bytes.Repeat([]byte{byte(16*k + i)}, 200))
		}
		f[5] = f[5][:50]
		return f
	}
	for k, conn := range conns {
		if err := conn.writeFrames(burst(k)); err != nil {
			t.Fatal(err)
		}
		if err := conn.writeFrames([][]byte{{}}); err != nil {
			t.Fatal(err)
		}
	}
	for k, conn := range conns {
		expectEchoes(t, k, conn, append(burst(k), []byte{}))
	}
}

// expectEchoes reads from conn, source k of a test, until the datagrams
// want came back, and fails the test unless they came exactly and in order.
func expectEchoes(t *testing.T, k int, conn *udpConn, want [][]byte) {
	t.Helper()
	var got [][]byte
	conn.setReadDeadline(time.Now().Add(2 * time.Second))
	for len(got) < len(want) {
		frames, err := conn.readFrames()
		if err != nil {
			t.Fatalf("source %d: after %d datagrams: %v", k, len(got), err)
		}
		for _, f := range frames {
			got = append(got, append([]byte{}, f...))
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("source %d datagram %d: %d bytes %q, want %d bytes %q", k, i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

// TestEchoKeepsOrderAroundRuns: datagrams queued before the echo peer
// reads them (so one receive takes them all) come back to each source in
// order when single datagrams stand before, between and after runs.
func TestEchoKeepsOrderAroundRuns(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var echoed atomic.Uint64
	server, err := newEchoServer(c, 2048, &echoed, true)
	if err != nil {
		t.Fatal(err)
	}
	conns := []*udpConn{
		dialTestConn(t, c.LocalAddr().(*net.UDPAddr).AddrPort(), 16),
		dialTestConn(t, c.LocalAddr().(*net.UDPAddr).AddrPort(), 16),
	}
	sent := make([][][]byte, len(conns))
	for round := range 2 {
		for k, conn := range conns {
			single := []byte(fmt.Sprintf("single %d from %d", round, k))
			run := [][]byte{bytes.Repeat([]byte{byte(k)}, 300), bytes.Repeat([]byte{byte(round)}, 300)}
			for _, frames := range [][][]byte{{single}, run} {
				if err := conn.writeFrames(frames); err != nil {
					t.Fatal(err)
				}
				sent[k] = append(sent[k], frames...)
			}
		}
	}
	done := make(chan struct{})
	go func() { server.serve(); close(done) }()
	defer func() { c.Close(); <-done }()
	for k, conn := range conns {
		expectEchoes(t, k, conn, sent[k])
	}
}
