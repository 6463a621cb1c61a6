package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// TCP relaying (RFC 6062) over real loopback sockets: the relay's
// listening relayed address, its outbound connections, ConnectionBind and
// the raw bytes after it.

func withTCPRelay(c *Config) { c.TCPRelay.Enabled = true }

// tcpAllocate makes a TCP allocation on c and returns its relayed address.
func (c *streamClient) tcpAllocate() netip.AddrPort {
	c.t.Helper()
	m := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoTCP) })
	requireCode(c.t, m, 0)
	return xorAddr(c.t, m, stunmsg.AttrXORRelayedAddress)
}

// connectPeer sends Connect for peer and returns the response's code and
// CONNECTION-ID.
func (c *streamClient) connectPeer(peer netip.AddrPort) (int, uint32) {
	c.t.Helper()
	m := c.request(stunmsg.Connect, func(b *stunmsg.Builder) { b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer) })
	code := errorCode(m)
	if code != 0 {
		return code, 0
	}
	v, ok := m.Get(stunmsg.AttrConnectionID)
	if !ok {
		c.t.Fatal("Connect success without CONNECTION-ID")
	}
	id, _ := stunmsg.DecodeUint32(v)
	return 0, id
}

// dataConnection opens a second connection of ctl's transport with ctl's
// credentials (RFC 6062 §5.4: the same user) and binds id on it.
func dataConnection(t *testing.T, srv *testServer, transport string, ctl *streamClient, id uint32) *streamClient {
	t.Helper()
	dc := dialStream(t, srv, transport)
	dc.creds = &rawClient{t: t, username: ctl.creds.username, key: ctl.creds.key}
	m := dc.request(stunmsg.ConnectionBind, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrConnectionID, id) })
	requireCode(t, m, 0)
	return dc
}

// tcpPeer listens on loopback for the relay's outbound connections.
func tcpPeer(t *testing.T) *net.TCPListener {
	t.Helper()
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func addrOf(l *net.TCPListener) netip.AddrPort { return l.Addr().(*net.TCPAddr).AddrPort() }

func acceptWithin(t *testing.T, l *net.TCPListener) *net.TCPConn {
	t.Helper()
	l.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatalf("the relay did not connect to the peer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readExactly reads len(want) bytes from r and compares.
func readExactly(t *testing.T, conn net.Conn, r io.Reader, want string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %q: %v", want, err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// requireEOF waits for the orderly end of r's stream.
func requireEOF(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != 0 {
		t.Fatalf("want EOF, got %d more bytes and %v", n, err)
	}
}

// requireGone waits until conn is closed or reset by the relay.
func requireGone(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open")
	}
}

// RFC 6062 §5.2 and §5.4 end to end: Connect from the relayed address,
// ConnectionBind on a second connection, bytes both ways as they are, and
// a half-close that travels (the client stops sending, the peer still
// answers).
func TestTCPRelayConnectBindAndRelay(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			srv := newTestServer(t, withTCPRelay)
			peerL := tcpPeer(t)
			ctl := dialStream(t, srv, transport)
			relayed := ctl.tcpAllocate()
			code, id := ctl.connectPeer(addrOf(peerL))
			if code != 0 {
				t.Fatalf("Connect: %d", code)
			}
			peer := acceptWithin(t, peerL)
			if from := peerAddrOf(peer); from != relayed {
				t.Fatalf("the peer sees %s, want the relayed address %s", from, relayed)
			}
			if code, _ := ctl.connectPeer(addrOf(peerL)); code != 446 {
				t.Fatalf("second Connect to the peer: %d, want 446", code)
			}
			dc := dataConnection(t, srv, transport, ctl, id)
			dc.write([]byte("hello peer"))
			readExactly(t, peer, peer, "hello peer")
			peer.Write([]byte("hello client"))
			readExactly(t, dc.conn, dc.r, "hello client")

			// Half-close: the client's FIN reaches the peer, whose
			// answer still reaches the client.
			if hc, ok := dc.conn.(halfCloser); ok {
				hc.CloseWrite()
			}
			requireEOF(t, peer, peer)
			peer.Write([]byte("late answer"))
			readExactly(t, dc.conn, dc.r, "late answer")
			peer.CloseWrite()
			requireEOF(t, dc.conn, dc.r)

			st := srv.TCPRelayStats()
			if st.BytesToPeer != 10 || st.BytesToClient != 23 || st.Outcomes["connected"] != 1 || st.Outcomes["bound"] != 1 {
				t.Fatalf("stats %+v", st)
			}
			req := srv.Stats().Requests
			if req["connect"]["success"] != 1 || req["connect"]["446"] != 1 || req["connection_bind"]["success"] != 1 {
				t.Fatalf("request counters: connect %v, connection_bind %v", req["connect"], req["connection_bind"])
			}
			// Both ends closed: the connection leaves the core.
			deadline := time.Now().Add(5 * time.Second)
			for srv.core.TCPStats().Connections != 0 || srv.TCPRelayStats().Relaying != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("connection still counted: %+v %+v", srv.core.TCPStats(), srv.TCPRelayStats())
				}
				runtime.Gosched()
			}
		})
	}
}

// RFC 6062 §5.2: a peer that refuses the connection is 447.
func TestTCPRelayConnectRefused(t *testing.T) {
	srv := newTestServer(t, withTCPRelay)
	closed := tcpPeer(t)
	port := addrOf(closed)
	closed.Close()
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	if code, _ := ctl.connectPeer(port); code != 447 {
		t.Fatalf("Connect to a closed port: %d, want 447", code)
	}
	if got := srv.TCPRelayStats().Outcomes["failed"]; got != 1 {
		t.Fatalf("failed outcomes %d, want 1", got)
	}
	if got := srv.Stats().Requests["connect"]["447"]; got != 1 {
		t.Fatalf("connect 447 counted %d times, want 1", got)
	}
}

// readIndication reads frames until a ConnectionAttempt and returns its
// peer and CONNECTION-ID.
func (c *streamClient) readConnectionAttempt() (netip.AddrPort, uint32) {
	c.t.Helper()
	for {
		f := c.mustReadFrame()
		var m stunmsg.Message
		if m.Parse(f) != nil || m.Method != stunmsg.ConnectionAttempt || m.Class != stunmsg.Indication {
			continue
		}
		v, ok := m.Get(stunmsg.AttrConnectionID)
		if !ok {
			c.t.Fatal("ConnectionAttempt without CONNECTION-ID")
		}
		id, _ := stunmsg.DecodeUint32(v)
		return xorAddr(c.t, &m, stunmsg.AttrXORPeerAddress), id
	}
}

// RFC 6062 §5.3: a permitted peer connects to the relayed address, the
// client hears of it and binds it; a peer without permission is refused.
func TestTCPRelayIncomingConnection(t *testing.T) {
	srv := newTestServer(t, withTCPRelay)
	ctl := dialStream(t, srv, "tcp")
	relayed := ctl.tcpAllocate()

	// No permission yet: the relay closes the connection.
	stranger, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(relayed))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	requireGone(t, stranger)

	m := ctl.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("127.0.0.1:0"))
	})
	requireCode(t, m, 0)
	peer, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(relayed))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// Sent before the bind: it waits in the kernel until the bind.
	peer.Write([]byte("early"))
	from, id := ctl.readConnectionAttempt()
	if from != peer.LocalAddr().(*net.TCPAddr).AddrPort() {
		t.Fatalf("ConnectionAttempt names %s, want %s", from, peer.LocalAddr())
	}
	// The client sends its first bytes right behind the ConnectionBind, in
	// one write: they belong to the peer (RFC 6062 §5.4), though the relay
	// read them together with the request.
	dc := dialStream(t, srv, "tcp")
	dc.creds = &rawClient{t: t, username: ctl.creds.username, key: ctl.creds.key}
	// An unknown ID is 400 and teaches the connection a nonce.
	requireCode(t, dc.request(stunmsg.ConnectionBind, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrConnectionID, id+1) }), 400)
	bind := dc.creds.build(stunmsg.ConnectionBind, stunmsg.Request, newTxID(), true, func(b *stunmsg.Builder) {
		b.AddUint32(stunmsg.AttrConnectionID, id)
	})
	dc.write(append(bind, "welcome"...))
	f := dc.mustReadFrame()
	var resp stunmsg.Message
	if err := resp.Parse(f); err != nil || resp.Method != stunmsg.ConnectionBind || resp.Class != stunmsg.Success {
		t.Fatalf("ConnectionBind answered % x", f)
	}
	readExactly(t, peer, peer, "welcome")
	readExactly(t, dc.conn, dc.r, "early")
}

// Deleting the allocation (RFC 8656 §7, Refresh to 0) or closing its
// control connection closes its connections.
func TestTCPRelayConnectionsEndWithTheAllocation(t *testing.T) {
	for _, how := range []string{"refresh", "close"} {
		t.Run(how, func(t *testing.T) {
			srv := newTestServer(t, withTCPRelay)
			peerL := tcpPeer(t)
			ctl := dialStream(t, srv, "tcp")
			ctl.tcpAllocate()
			_, id := ctl.connectPeer(addrOf(peerL))
			peer := acceptWithin(t, peerL)
			dc := dataConnection(t, srv, "tcp", ctl, id)
			dc.write([]byte("x"))
			readExactly(t, peer, peer, "x")
			if how == "refresh" {
				m := ctl.request(stunmsg.Refresh, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrLifetime, 0) })
				requireCode(t, m, 0)
			} else {
				ctl.conn.Close()
			}
			requireGone(t, peer)
			requireGone(t, dc.conn)
		})
	}
}

// Backpressure, not buffering: a peer sends 100 MB to a client that reads
// slowly. The relay copies through one 16 KiB buffer per direction and
// stops reading while the client does not read, so the bytes between the
// peer's writes and the client's reads stay within the kernel's socket
// buffers, and neither the heap nor the process's RSS (relay, peer and
// client in one process) grows with the 100 MB: the bound is 8 MiB of heap
// and 32 MiB of RSS.
func TestTCPRelayBackpressure(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MB")
	}
	const total = 100 << 20
	srv := newTestServer(t, withTCPRelay)
	peerL := tcpPeer(t)
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	_, id := ctl.connectPeer(addrOf(peerL))
	peer := acceptWithin(t, peerL)
	dc := dataConnection(t, srv, "tcp", ctl, id)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	baseRSS, err := procstat.RSS(os.Getpid())
	if err != nil {
		t.Fatalf("reading this process's RSS: %v", err)
	}
	peakRSS := baseRSS

	var written atomic.Int64
	go func() {
		chunk := bytes.Repeat([]byte{'p'}, 64<<10)
		for sent := 0; sent < total; sent += len(chunk) {
			peer.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := peer.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	}()
	r := bufio.NewReaderSize(dc.r, 16<<10)
	buf := make([]byte, 16<<10)
	var read, maxAhead int
	var peakHeap uint64
	for i := 0; read < total; i++ {
		dc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", read, err)
		}
		read += n
		maxAhead = max(maxAhead, int(written.Load())-read)
		if i%16 == 0 {
			// A slow reader: it pauses between reads, so the relay
			// finds the client's window shut again and again.
			time.Sleep(time.Millisecond)
		}
		if i%256 == 0 {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			if rss, err := procstat.RSS(os.Getpid()); err == nil {
				peakRSS = max(peakRSS, rss)
			}
		}
	}
	growth := int64(peakHeap) - int64(baseHeap)
	rssGrowth := int64(peakRSS) - int64(baseRSS)
	t.Logf("100 MB relayed; peer ahead of the client by at most %.1f MiB; heap in use grew by at most %.1f MiB, RSS by %.1f MiB",
		float64(maxAhead)/(1<<20), float64(growth)/(1<<20), float64(rssGrowth)/(1<<20))
	// Loopback socket buffers autotune to a few MiB each and four of them
	// lie on the path: 32 MiB is far below the 100 MB a buffering relay
	// would hold.
	if maxAhead > 32<<20 {
		t.Fatalf("the peer ran %d bytes ahead of the client", maxAhead)
	}
	if growth > 8<<20 {
		t.Fatalf("heap in use grew by %d bytes while relaying", growth)
	}
	if rssGrowth > 32<<20 {
		t.Fatalf("RSS grew by %d bytes while relaying", rssGrowth)
	}
}

// The memory one relayed TCP connection costs, bound and idle: heap and
// goroutine stacks over 64 connections, the test's own client and peer
// ends included, so it bounds the relay's share from above
// (docs/architecture.md quotes it).
func TestTCPRelayMemoryPerConnection(t *testing.T) {
	const n = 64
	srv := newTestServer(t, withTCPRelay, func(c *Config) { c.TCPRelay.MaxPerAllocation = n + 1 })
	ctl := dialStream(t, srv, "tcp")
	relayed := ctl.tcpAllocate()
	requireCode(t, ctl.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("127.0.0.1:0"))
	}), 0)
	open := func() {
		peer, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(relayed))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { peer.Close() })
		_, id := ctl.readConnectionAttempt()
		dc := dataConnection(t, srv, "tcp", ctl, id)
		dc.write([]byte("x"))
		readExactly(t, peer, peer, "x")
	}
	measure := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	open() // pools and lazily built state are not counted
	before := measure()
	for range n {
		open()
	}
	per := (int64(measure()) - int64(before)) / n
	t.Logf("%d bound TCP connections: %.1f KiB each (heap and stacks, both test ends included)", n, float64(per)/1024)
	if per > 256<<10 {
		t.Fatalf("%d bytes per relayed TCP connection", per)
	}
}

// An extension decides on a Connect's peer (AllocationExtension.Connect):
// the relay connects to its translation while the client keeps the address
// it named, a forbidden peer is 403 and one with nothing to connect to 447,
// a translation to the relay's own listener is 403 all the same, and an
// incoming connection the extension refuses is closed whatever permission
// the client installed (RFC 6062 §5.2, §5.3).
func TestTCPRelayExtensionTranslatesConnect(t *testing.T) {
	x := newStubExtension()
	srv := newTestServer(t, withTCPRelay, withExtension(x))
	peerL := tcpPeer(t)
	proxy := netip.MustParseAddrPort("198.51.100.7:22")
	denied := netip.MustParseAddrPort("198.51.100.7:23")
	empty := netip.MustParseAddrPort("198.51.100.8:22")
	selfie := netip.MustParseAddrPort("198.51.100.9:22")
	x.connects[proxy] = ConnectVerdict{Decision: ConnectTo, To: addrOf(peerL)}
	x.connects[denied] = ConnectVerdict{Decision: ConnectForbid, Reason: "stub"}
	x.connects[empty] = ConnectVerdict{Decision: ConnectUnreachable, Reason: "stub"}
	x.connects[selfie] = ConnectVerdict{Decision: ConnectTo, To: srv.tcp}
	x.accepts[netip.MustParseAddr("127.0.0.1")] = PeerVerdict{Decision: PermitForbid, Reason: "stub"}

	ctl := dialStream(t, srv, "tcp")
	relayed := ctl.tcpAllocate()
	code, id := ctl.connectPeer(proxy)
	if code != 0 {
		t.Fatalf("Connect to the translated peer: %d", code)
	}
	peer := acceptWithin(t, peerL)
	if from := peerAddrOf(peer); from != relayed {
		t.Fatalf("the peer sees %s, want the relayed address %s", from, relayed)
	}
	dc := dataConnection(t, srv, "tcp", ctl, id)
	dc.write([]byte("ssh-2.0"))
	readExactly(t, peer, peer, "ssh-2.0")
	peer.Write([]byte("banner"))
	readExactly(t, dc.conn, dc.r, "banner")
	for _, c := range []struct {
		peer netip.AddrPort
		want int
	}{{denied, 403}, {empty, 447}, {selfie, 403}} {
		if code, _ := ctl.connectPeer(c.peer); code != c.want {
			t.Fatalf("Connect to %s: %d, want %d", c.peer, code, c.want)
		}
	}

	// The extension refuses loopback sources: a permitted one is closed.
	requireCode(t, ctl.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("127.0.0.1:0"))
	}), 0)
	incoming, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(relayed))
	if err != nil {
		t.Fatal(err)
	}
	defer incoming.Close()
	requireGone(t, incoming)
	if got := srv.TCPRelayStats().Outcomes["refused"]; got != 1 {
		t.Fatalf("refused outcomes %d, want 1", got)
	}
}

// A Connect to one of the relay's own listeners is refused like a
// ChannelBind to it (403): the relay never connects to itself.
func TestTCPRelayConnectToItselfRefused(t *testing.T) {
	srv := newTestServer(t, withTCPRelay)
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	for _, own := range []netip.AddrPort{srv.tcp, srv.tls} {
		if code, _ := ctl.connectPeer(own); code != 403 {
			t.Fatalf("Connect to the relay's own %s: %d, want 403", own, code)
		}
	}
}

// RFC 6062 §5.3 and §5.2 in the shell, on the injected clock: a connection
// nobody binds is closed 30 s after it opened (the housekeeping timer, not
// a timer per connection), and the client's later bind is 400.
func TestTCPRelayUnboundConnectionClosedAfter30s(t *testing.T) {
	srv, clock := newClockedServer(t, withTCPRelay)
	peerL := tcpPeer(t)
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	code, id := ctl.connectPeer(addrOf(peerL))
	if code != 0 {
		t.Fatalf("Connect: %d", code)
	}
	peer := acceptWithin(t, peerL)
	clock.Advance(29 * time.Second)
	if got := srv.core.TCPStats(); got.Unbound != 1 {
		t.Fatalf("before 30 s: %+v", got)
	}
	clock.Advance(time.Second)
	requireGone(t, peer)
	if got := srv.TCPRelayStats().Outcomes["bind_timeout"]; got != 1 {
		t.Fatalf("bind_timeout outcomes %d, want 1", got)
	}
	dc := dialStream(t, srv, "tcp")
	dc.creds = &rawClient{t: t, username: ctl.creds.username, key: ctl.creds.key}
	requireCode(t, dc.request(stunmsg.ConnectionBind, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrConnectionID, id) }), 400)
}

// A draining relay refuses new Connects (403) and keeps relaying a bound
// connection.
func TestTCPRelayDrainKeepsBoundConnections(t *testing.T) {
	srv := newTestServer(t, withTCPRelay)
	peerL := tcpPeer(t)
	other := tcpPeer(t)
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	_, id := ctl.connectPeer(addrOf(peerL))
	peer := acceptWithin(t, peerL)
	dc := dataConnection(t, srv, "tcp", ctl, id)
	srv.Drain()
	if code, _ := ctl.connectPeer(addrOf(other)); code != 403 {
		t.Fatalf("Connect while draining: %d, want 403", code)
	}
	dc.write([]byte("still relaying"))
	readExactly(t, peer, peer, "still relaying")
	peer.Write([]byte("both ways"))
	readExactly(t, dc.conn, dc.r, "both ways")
}

// A bound connection idle both ways for TCPRelay.IdleTimeout is closed;
// one direction's traffic keeps the other open (the pair is not idle). The
// idle timeout is a socket read deadline, kernel time rather than the
// injected clock, so this test runs on real time with wide margins: the
// peer writes every 200 ms against a 1 s timeout.
func TestTCPRelayIdleTimeout(t *testing.T) {
	const idle = time.Second
	srv := newTestServer(t, withTCPRelay, func(c *Config) { c.TCPRelay.IdleTimeout = idle })
	peerL := tcpPeer(t)
	ctl := dialStream(t, srv, "tcp")
	ctl.tcpAllocate()
	_, id := ctl.connectPeer(addrOf(peerL))
	peer := acceptWithin(t, peerL)
	dc := dataConnection(t, srv, "tcp", ctl, id)
	// The peer talks for two idle periods while the client only reads:
	// the client-to-peer direction must not time out meanwhile.
	for i := range 10 {
		peer.Write([]byte{'a' + byte(i)})
		readExactly(t, dc.conn, dc.r, string(rune('a'+i)))
		time.Sleep(idle / 5)
	}
	dc.write([]byte("z"))
	readExactly(t, peer, peer, "z")
	// Now silence both ways: the relay closes both ends.
	requireGone(t, peer)
	requireGone(t, dc.conn)
}
