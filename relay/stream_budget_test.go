package relay

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// floodDatagram is the size of a flooding peer's datagrams: large frames
// are what made a queue bounded only in frames hold 16 MiB.
const floodDatagram = 60000

// dialNoRead connects a TCP client with a 4 KiB receive buffer that will
// never read: the kernel's buffers fill after a few frames, so the
// relay's write queue is what holds the rest.
func dialNoRead(t testing.TB, srv *testServer) *streamClient {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	return dialStreamWith(t, srv, "tcp", d)
}

// permitStream creates a permission for peer on c's allocation.
func permitStream(t testing.TB, c *streamClient, peer netip.AddrPort) {
	t.Helper()
	requireCode(t, c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	}), 0)
}

// streamConnOf finds the relay's side of client c.
func streamConnOf(t testing.TB, srv *testServer, c *streamClient) *streamConn {
	t.Helper()
	srv.streamMu.Lock()
	defer srv.streamMu.Unlock()
	for sc := range srv.conns {
		if sc.ft.Client == c.localAddr() {
			return sc
		}
	}
	t.Fatal("the relay does not know the connection")
	return nil
}

// dataShareFull reports whether c's write budget has no room left for
// another peer datagram of size bytes.
func dataShareFull(c *streamConn, size int) bool {
	return c.budget.held.Load()+frameCost(size+stunmsg.DataIndicationMaxHead) > c.budget.dataLimit
}

// toClientTCP is the number of peer datagrams the relay has handled for
// TCP clients, queued or dropped.
func toClientTCP(srv *testServer) uint64 { return srv.Stats().Packets["to_client"]["tcp"] }

// heapInUse is the heap the relay and the test hold after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// vmRSS is the process's resident set from /proc/self/status, in bytes (0
// if unreadable); logged beside the heap, which is what is asserted.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestStreamWriteBudgetBoundsNoReadClients: ten TCP clients that never
// read, each flooded by a peer with 60 000-byte datagrams, make the relay
// hold at most its write budget per connection: the heap grows by less
// than 10 × DefaultTCPWriteBudget + 1 MiB (3.5 MiB), the excess is
// dropped and counted as stream_write_budget, and a client that reads gets
// every one of its datagrams, round after round, meanwhile. Not parallel:
// the heap is measured for the whole process.
func TestStreamWriteBudgetBoundsNoReadClients(t *testing.T) {
	const (
		clients = 10
		// extraRounds keep flooding after every queue is full: another
		// 2.4 MB offered to each connection, which a queue bounded only
		// in frames would keep.
		extraRounds = 40
		bound       = clients*DefaultTCPWriteBudget + 1<<20
		// goodPerRound datagrams go to the reading client each round.
		goodPerRound = 4
	)
	srv := newTestServer(t)
	peer := newUDPPeer(t, "udp4")

	var stuck []*streamConn
	var floodTo []netip.AddrPort
	for range clients {
		c := dialNoRead(t, srv)
		floodTo = append(floodTo, c.allocate())
		permitStream(t, c, peer.addr())
		stuck = append(stuck, streamConnOf(t, srv, c))
	}
	good := dialStream(t, srv, "tcp")
	goodRelayed := good.allocate()
	permitStream(t, good, peer.addr())
	var goodGot atomic.Uint32 // the sequence number of the reading client's last datagram
	go func() {
		for {
			f, err := good.readFrame(time.Minute)
			if err != nil {
				return
			}
			var m stunmsg.Message
			if m.Parse(f) != nil || m.Method != stunmsg.Data {
				continue
			}
			if data, ok := m.Get(stunmsg.AttrData); ok && len(data) == 4 {
				goodGot.Store(binary.BigEndian.Uint32(data))
			}
		}
	}()

	big := bytes.Repeat([]byte{0xAB}, floodDatagram)
	var round uint32
	flood := func() {
		t.Helper()
		round++
		handled := toClientTCP(srv)
		for _, r := range floodTo {
			peer.sendTo(big, r)
		}
		// Several datagrams a round, so that the reading client's own
		// budget is spent many times over unless writing returns it.
		for i := range uint32(goodPerRound) {
			peer.sendTo(binary.BigEndian.AppendUint32(nil, round*goodPerRound+i), goodRelayed)
		}
		turnclienttest.WaitUntil(t, "the reading client's datagrams of round "+strconv.Itoa(int(round)), func() bool {
			return goodGot.Load() == round*goodPerRound+goodPerRound-1
		})
		// Pace the peer by the relay so the kernel does not drop the
		// flood before the relay sees it.
		for deadline := time.Now().Add(200 * time.Millisecond); toClientTCP(srv) < handled+clients+goodPerRound && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	base, baseRSS := heapInUse(), vmRSS()
	before := takeDrops(srv)
	full := func() bool {
		for _, sc := range stuck {
			if !dataShareFull(sc, floodDatagram) {
				return false
			}
		}
		return true
	}
	for !full() {
		if round > 200 {
			t.Fatal("the no-read connections' write queues never filled")
		}
		flood()
	}
	filledAfter := round
	for range extraRounds {
		flood()
	}
	grown := int64(heapInUse()) - int64(base)
	t.Logf("queues full after %d rounds; after %d rounds heap in use grew %d KiB (bound %d KiB), VmRSS %d KiB",
		filledAfter, round, grown>>10, bound>>10, (int64(vmRSS())-int64(baseRSS))>>10)
	if grown > bound {
		t.Errorf("heap in use grew by %d bytes with %d no-read clients, bound %d", grown, clients, bound)
	}
	for i, sc := range stuck {
		if held := sc.budget.held.Load(); held > sc.budget.dataLimit {
			t.Errorf("connection %d holds %d bytes of data, beyond its data share of %d", i, held, sc.budget.dataLimit)
		}
	}
	if dropped := dropTotal(srv, DropStreamWriteBudget) - before[DropStreamWriteBudget]; dropped < clients*extraRounds/2 {
		t.Errorf("%d datagrams counted as stream_write_budget, want at least %d", dropped, clients*extraRounds/2)
	}
}

// TestStreamWriteBudgetKeepsRoomForResponses: while peer data has filled
// its share of a slow client's write budget to the last byte (large
// datagrams, then small ones), the response to the client's request is
// still queued, behind that data, and reaches the client once it reads;
// more peer data is still refused.
func TestStreamWriteBudgetKeepsRoomForResponses(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	peer := newUDPPeer(t, "udp4")
	slow := dialNoRead(t, srv)
	relayed := slow.allocate()
	permitStream(t, slow, peer.addr())
	sc := streamConnOf(t, srv, slow)

	big := bytes.Repeat([]byte{0xCD}, floodDatagram)
	// Full once is not enough: while the kernel grows the connection's send
	// buffer the writer drains the queue again, and the small frames below
	// could never refill it. Full and not draining for 50 polls in a row
	// means the kernel's buffers are full too.
	stalled, last := 0, int64(-1)
	turnclienttest.WaitUntil(t, "the data share of the write budget to fill with large frames and stay full", func() bool {
		peer.sendTo(big, relayed)
		held := sc.budget.held.Load()
		if dataShareFull(sc, floodDatagram) && held >= last {
			stalled++
		} else {
			stalled = 0
		}
		last = held
		return stalled >= 50
	})
	turnclienttest.WaitUntil(t, "the rest of the data share to fill with small frames", func() bool {
		peer.sendTo([]byte("small"), relayed)
		return dataShareFull(sc, len("small"))
	})
	before := takeDrops(srv)
	held := sc.budget.held.Load()
	req := slow.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
	slow.write(req)
	turnclienttest.WaitUntil(t, "the response to be queued", func() bool { return sc.budget.held.Load() > held })
	peer.sendTo([]byte("small"), relayed)
	turnclienttest.WaitUntil(t, "more peer data to be refused", func() bool {
		return dropTotal(srv, DropStreamWriteBudget) > before[DropStreamWriteBudget]
	})
	if n := dropTotal(srv, DropStreamBackpressure) - before[DropStreamBackpressure]; n != 0 {
		t.Fatalf("%d responses dropped for want of room", n)
	}

	for {
		f := slow.mustReadFrame()
		if stunmsg.Classify(f) != stunmsg.KindSTUN || !bytes.Equal(f[8:20], req[8:20]) {
			continue
		}
		var m stunmsg.Message
		if err := m.Parse(f); err != nil {
			t.Fatal(err)
		}
		requireCode(t, &m, 0)
		return
	}
}
