package netiotest

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// readyTimeout bounds a wait for the kernel to deliver on loopback.
const readyTimeout = 5 * time.Second

// TestSocketContract checks network against the netio.BatchSocket and netio.EventPoller
// contract on loopback addresses (127.0.0.1 and ::1): the kernel's
// (netio.System) and the fake alike, so the fake cannot drift from what
// the relay relies on. It only uses behaviour that loopback shows
// deterministically; what needs injection (a full send buffer, a small
// MTU) is tested on the fake alone.
func TestSocketContract(t *testing.T, network netio.Network) {
	for _, fam := range []struct {
		name string
		ip   netip.Addr
	}{{"IPv4", netip.MustParseAddr("127.0.0.1")}, {"IPv6", netip.MustParseAddr("::1")}} {
		t.Run(fam.name, func(t *testing.T) {
			c := contract{t: t, network: network, ip: fam.ip}
			t.Run("Bind", c.bind)
			t.Run("SendAndReceive", c.sendAndReceive)
			t.Run("Truncation", c.truncation)
			t.Run("SendBatch", c.sendBatch)
			t.Run("Segments", c.segments)
			t.Run("ICMPError", c.icmpError)
			t.Run("Poller", c.poller)
			t.Run("Closed", c.closedSocket)
		})
	}
}

type contract struct {
	t       *testing.T
	network netio.Network
	ip      netip.Addr
}

func (c contract) listen(t *testing.T, opts netio.Options) netio.BatchSocket {
	t.Helper()
	conn, err := c.network.ListenUDP(netip.AddrPortFrom(c.ip, 0), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newBatch(t *testing.T, n, size, headroom int) *netio.Batch {
	t.Helper()
	b, err := netio.NewBatch(n, size, headroom)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recvAll receives until want messages arrived, waiting with a poller.
func (c contract) recvAll(t *testing.T, conn netio.BatchSocket, b *netio.Batch, want int) []message {
	t.Helper()
	p, err := c.network.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(conn, 1); err != nil {
		t.Fatal(err)
	}
	defer p.Remove(conn)
	var got []message
	deadline := time.Now().Add(readyTimeout)
	events := make([]netio.Event, 4)
	for len(got) < want {
		n, err := conn.RecvBatch(b)
		if errors.Is(err, netio.ErrWouldBlock) {
			if time.Now().After(deadline) {
				t.Fatalf("received %d messages, want %d", len(got), want)
			}
			p.Wait(events, time.Until(deadline))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			got = append(got, message{
				data: bytes.Clone(b.Data(i)), from: b.Addr(i), truncated: b.Truncated(i),
				segment: b.SegmentSize(i), offset: dataOffset(b, i),
			})
		}
	}
	return got
}

type message struct {
	data      []byte
	from      netip.AddrPort
	truncated bool
	segment   int
	offset    int
}

// dataOffset is where Data(i) starts in Buffer(i).
func dataOffset(b *netio.Batch, i int) int {
	buf, data := b.Buffer(i), b.Data(i)
	if len(data) == 0 {
		return -1
	}
	for off := range len(buf) - len(data) + 1 {
		if &buf[off] == &data[0] {
			return off
		}
	}
	return -1
}

// bind: port 0 picks a port; a taken port is EADDRINUSE; ReusePort shares.
func (c contract) bind(t *testing.T) {
	a := c.listen(t, netio.Options{})
	if a.LocalAddr().Port() == 0 || a.LocalAddr().Addr() != c.ip {
		t.Fatalf("LocalAddr %v: want %v with a port", a.LocalAddr(), c.ip)
	}
	if _, err := c.network.ListenUDP(a.LocalAddr(), netio.Options{}); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("second bind on %v: %v, want EADDRINUSE", a.LocalAddr(), err)
	}
	shared := c.listen(t, netio.Options{ReusePort: true})
	again, err := c.network.ListenUDP(shared.LocalAddr(), netio.Options{ReusePort: true})
	if err != nil {
		t.Fatalf("ReusePort bind: %v", err)
	}
	again.Close()
}

// sendAndReceive: a datagram arrives whole at Headroom() from the sender's
// address; an empty queue is ErrWouldBlock.
func (c contract) sendAndReceive(t *testing.T) {
	tx, rx := c.listen(t, netio.Options{}), c.listen(t, netio.Options{})
	b := newBatch(t, 4, 2048, 16)
	if _, err := rx.RecvBatch(b); !errors.Is(err, netio.ErrWouldBlock) {
		t.Fatalf("receive on an empty queue: %v, want ErrWouldBlock", err)
	}
	var scratch netio.Scratch
	if err := tx.SendTo([]byte("hello"), rx.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	if err := tx.SendTo(nil, rx.LocalAddr(), &scratch); err != nil {
		t.Fatalf("empty datagram: %v", err)
	}
	got := c.recvAll(t, rx, b, 2)
	if string(got[0].data) != "hello" || got[0].from != tx.LocalAddr() || got[0].offset != 16 || got[0].truncated || got[0].segment != 0 {
		t.Fatalf("got %q from %v at offset %d (truncated %v, segment %d); want \"hello\" from %v at 16",
			got[0].data, got[0].from, got[0].offset, got[0].truncated, got[0].segment, tx.LocalAddr())
	}
	if len(got[1].data) != 0 {
		t.Fatalf("empty datagram arrived as %d bytes", len(got[1].data))
	}
	other := netip.MustParseAddrPort("[2001:db8::1]:9")
	if c.ip.Is6() {
		other = netip.MustParseAddrPort("192.0.2.1:9")
	}
	if err := tx.SendTo([]byte("x"), other, &scratch); !errors.Is(err, netio.ErrAddressFamily) {
		t.Fatalf("send to %v: %v, want ErrAddressFamily", other, err)
	}
}

// truncation: a datagram longer than Size() is cut and flagged.
func (c contract) truncation(t *testing.T) {
	tx, rx := c.listen(t, netio.Options{}), c.listen(t, netio.Options{})
	var scratch netio.Scratch
	if err := tx.SendTo(bytes.Repeat([]byte("z"), 20), rx.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	got := c.recvAll(t, rx, newBatch(t, 2, 8, 0), 1)
	if !got[0].truncated || len(got[0].data) != 8 {
		t.Fatalf("20 bytes into an 8-byte slot: %d bytes, truncated %v; want 8, true", len(got[0].data), got[0].truncated)
	}
}

// sendBatch: messages leave in order; a bad destination stops the batch
// at its index; n outside the batch is ErrBounds.
func (c contract) sendBatch(t *testing.T) {
	tx, rx := c.listen(t, netio.Options{}), c.listen(t, netio.Options{})
	b := newBatch(t, 4, 64, 0)
	for i := range 4 {
		copy(b.Buffer(i), []byte{'m', byte('0' + i)})
		if err := b.SetData(i, 0, 2); err != nil {
			t.Fatal(err)
		}
		b.SetAddr(i, rx.LocalAddr())
	}
	if n, err := tx.SendBatch(b, 5); n != 0 || !errors.Is(err, netio.ErrBounds) {
		t.Fatalf("SendBatch n=5 of 4: %d, %v; want 0, ErrBounds", n, err)
	}
	if n, err := tx.SendBatch(b, 4); n != 4 || err != nil {
		t.Fatalf("SendBatch: %d, %v; want 4, nil", n, err)
	}
	got := c.recvAll(t, rx, newBatch(t, 8, 64, 0), 4)
	for i, m := range got {
		if string(m.data) != string([]byte{'m', byte('0' + i)}) {
			t.Fatalf("message %d is %q: order lost", i, m.data)
		}
	}
	wrong := netip.MustParseAddrPort("[2001:db8::1]:9")
	if c.ip.Is6() {
		wrong = netip.MustParseAddrPort("192.0.2.1:9")
	}
	b.SetAddr(2, wrong)
	if n, err := tx.SendBatch(b, 4); n != 2 || !errors.Is(err, netio.ErrAddressFamily) {
		t.Fatalf("SendBatch with message 2 of the wrong family: %d, %v; want 2, ErrAddressFamily", n, err)
	}
}

// segments: a segmented send reaches a GRO socket as one message cut by
// SegmentSize and a plain socket as separate datagrams; a bad shape is
// ErrBounds.
func (c contract) segments(t *testing.T) {
	tx := c.listen(t, netio.Options{})
	gro, plain := c.listen(t, netio.Options{GRO: true}), c.listen(t, netio.Options{})
	segs := [][]byte{bytes.Repeat([]byte("a"), 100), bytes.Repeat([]byte("b"), 100), []byte("ccc")}
	var sc netio.SegmentScratch
	if err := tx.SendSegments([][]byte{[]byte("a"), []byte("bb")}, plain.LocalAddr(), &sc); !errors.Is(err, netio.ErrBounds) {
		t.Fatalf("a longer last segment: %v, want ErrBounds", err)
	}
	for _, rx := range []netio.BatchSocket{gro, plain} {
		if err := tx.SendSegments(segs, rx.LocalAddr(), &sc); err != nil {
			t.Fatal(err)
		}
	}
	got := c.recvAll(t, gro, newBatch(t, 8, netio.MaxDatagram, 0), 1)
	if len(got[0].data) != 203 || got[0].segment != 100 {
		t.Fatalf("GRO socket: %d bytes in segments of %d; want 203 in segments of 100", len(got[0].data), got[0].segment)
	}
	got = c.recvAll(t, plain, newBatch(t, 8, netio.MaxDatagram, 0), 3)
	for i, m := range got {
		if !bytes.Equal(m.data, segs[i]) || m.segment != 0 {
			t.Fatalf("plain socket: datagram %d is %d bytes (segment %d)", i, len(m.data), m.segment)
		}
	}
}

// icmpError: a RecvErr socket that sends to a closed port gets an ICMP port
// unreachable: the poller reports Error, the next receive returns it once
// as PendingError, and the error queue holds its details until drained.
func (c contract) icmpError(t *testing.T) {
	closed := c.listen(t, netio.Options{})
	dst := closed.LocalAddr()
	closed.Close()
	tx := c.listen(t, netio.Options{RecvErr: true})
	p, err := c.network.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(tx, 7); err != nil {
		t.Fatal(err)
	}
	var scratch netio.Scratch
	if err := tx.SendTo([]byte("anyone?"), dst, &scratch); err != nil {
		t.Fatal(err)
	}
	events := make([]netio.Event, 4)
	n, err := p.Wait(events, readyTimeout)
	if err != nil || n != 1 || events[0].Token != 7 || !events[0].Error {
		t.Fatalf("Wait after the ICMP error: %d events %+v, %v; want token 7 with Error", n, events[:n], err)
	}
	b := newBatch(t, 2, 64, 0)
	var pending netio.PendingError
	if _, err := tx.RecvBatch(b); !errors.As(err, &pending) || pending.Errno != unix.ECONNREFUSED {
		t.Fatalf("receive: %v, want PendingError ECONNREFUSED", err)
	}
	if _, err := tx.RecvBatch(b); !errors.Is(err, netio.ErrWouldBlock) {
		t.Fatalf("second receive: %v, want ErrWouldBlock (the pending error is reported once)", err)
	}
	var e netio.ErrQueueEntry
	ok, err := tx.ReadErrQueue(&e)
	wantOrigin, wantType, wantCode := uint8(unix.SO_EE_ORIGIN_ICMP), uint8(3), uint8(3)
	if c.ip.Is6() {
		wantOrigin, wantType, wantCode = unix.SO_EE_ORIGIN_ICMP6, 1, 4
	}
	if !ok || err != nil || e.Origin != wantOrigin || e.Type != wantType || e.Code != wantCode ||
		e.Errno != unix.ECONNREFUSED || e.Destination != dst {
		t.Fatalf("error queue: %v, %v, %+v; want origin %d type %d code %d ECONNREFUSED for %v", ok, err, e, wantOrigin, wantType, wantCode, dst)
	}
	if ok, err := tx.ReadErrQueue(&e); ok || err != nil {
		t.Fatalf("drained error queue: %v, %v; want false, nil", ok, err)
	}
	if n, err := p.Wait(events, 0); n != 0 || err != nil {
		t.Fatalf("Wait after draining: %d events %+v, %v; want none", n, events[:n], err)
	}
}

// poller: level-triggered readiness by token, Wake, double registration,
// removal by Close, and Close of the poller itself.
func (c contract) poller(t *testing.T) {
	tx, rx := c.listen(t, netio.Options{}), c.listen(t, netio.Options{})
	p, err := c.network.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(rx, 42); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(rx, 43); !errors.Is(err, netio.ErrAlreadyRegistered) {
		t.Fatalf("second Add: %v, want ErrAlreadyRegistered", err)
	}
	events := make([]netio.Event, 4)
	if n, err := p.Wait(events, 0); n != 0 || err != nil {
		t.Fatalf("Wait on an idle socket: %d, %v", n, err)
	}
	var scratch netio.Scratch
	if err := tx.SendTo([]byte("ping"), rx.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	for range 2 { // level-triggered: reported until received
		n, err := p.Wait(events, readyTimeout)
		if err != nil || n != 1 || events[0].Token != 42 || !events[0].Readable || events[0].Socket != rx {
			t.Fatalf("Wait: %d events %+v, %v; want socket with token 42 readable", n, events[:n], err)
		}
	}
	if _, err := rx.RecvBatch(newBatch(t, 2, 64, 0)); err != nil {
		t.Fatal(err)
	}
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Wait(events, readyTimeout); n != 0 || err != nil {
		t.Fatalf("Wait after Wake: %d, %v; want 0, nil", n, err)
	}
	tx.SendTo([]byte("late"), rx.LocalAddr(), &scratch)
	rx.Close()
	if n, err := p.Wait(events, 0); n != 0 || err != nil {
		t.Fatalf("Wait after the socket closed: %d events, %v; want none", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(events, -1)
		done <- err
	}()
	time.AfterFunc(10*time.Millisecond, func() { p.Close() })
	select {
	case err := <-done:
		if !errors.Is(err, netio.ErrClosed) {
			t.Fatalf("Wait interrupted by Close: %v, want ErrClosed", err)
		}
	case <-time.After(readyTimeout):
		t.Fatal("Close did not interrupt Wait")
	}
}

// closedSocket: every call after Close returns ErrClosed.
func (c contract) closedSocket(t *testing.T) {
	conn := c.listen(t, netio.Options{RecvErr: true})
	to := conn.LocalAddr()
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	b := newBatch(t, 1, 64, 0)
	b.SetAddr(0, to)
	var e netio.ErrQueueEntry
	var scratch netio.Scratch
	for name, err := range map[string]error{
		"RecvBatch":    second(conn.RecvBatch(b)),
		"SendBatch":    second(conn.SendBatch(b, 1)),
		"SendTo":       conn.SendTo([]byte("x"), to, &scratch),
		"ReadErrQueue": second(conn.ReadErrQueue(&e)),
	} {
		if !errors.Is(err, netio.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	p, err := c.network.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(conn, 1); !errors.Is(err, netio.ErrClosed) {
		t.Fatalf("Add of a closed socket: %v, want ErrClosed", err)
	}
}

func second[T any](_ T, err error) error { return err }
