package turnclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/relay"
)

// TestRelaysBothWaysOverEveryTransport allocates over UDP, TCP and TLS,
// relays to an echo peer with Send indications (answers come as Data
// indications) and then over a bound channel (ChannelData both ways).
func TestRelaysBothWaysOverEveryTransport(t *testing.T) {
	tr := startRelay(t)
	for _, transport := range []Transport{UDP, TCP, TLS} {
		t.Run(transport.String(), func(t *testing.T) {
			c := tr.dialRelay(t, transport)
			a, err := c.Allocate(AllocateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Relayed) != 1 || !a.Relayed[0].Addr().Is4() || a.Lifetime != 600*time.Second {
				t.Fatalf("allocation %+v, want one IPv4 relayed address for 600 s", a)
			}
			if a.Mapped != c.LocalAddr() {
				t.Fatalf("XOR-MAPPED-ADDRESS %v, want %v", a.Mapped, c.LocalAddr())
			}
			peer := echoPeer(t, "udp4", "127.0.0.1:0")
			if err := c.CreatePermission(peer.Addr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			for i, ch := range []uint16{0, 0x4000} {
				if ch != 0 {
					if err := c.BindChannel(ch, peer); err != nil {
						t.Fatal(err)
					}
				}
				msg := fmt.Appendf(nil, "%s message %d", transport, i)
				if err := c.Send(peer, msg); err != nil {
					t.Fatal(err)
				}
				ev := receive(t, c, buf)
				if ev.Kind != EventData || ev.Data.Peer != peer || ev.Data.Channel != ch || !bytes.Equal(ev.Data.Payload, msg) {
					t.Fatalf("got %+v, want data %q from %v on channel %#x", ev, msg, peer, ch)
				}
			}
		})
	}
}

// TestTruncatedPayload: a datagram longer than Receive's buffer is cut and
// marked.
func TestTruncatedPayload(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP)
	if _, err := c.Allocate(AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	peer := echoPeer(t, "udp4", "127.0.0.1:0")
	if err := c.CreatePermission(peer.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(peer, bytes.Repeat([]byte{7}, 100)); err != nil {
		t.Fatal(err)
	}
	ev := receive(t, c, make([]byte, 10))
	if ev.Kind != EventData || len(ev.Data.Payload) != 10 || !ev.Data.Truncated {
		t.Fatalf("got %+v, want 10 of 100 bytes, truncated", ev.Data)
	}
}

// TestAllocateFamilies decodes the family options' answers: an IPv6 relayed
// address, a dual allocation (IPv4 first), and the 440 error.
func TestAllocateFamilies(t *testing.T) {
	dual := startRelay(t)
	only4 := startRelay(t, func(c *relay.Config) { c.RelayIPs = c.RelayIPs[:1] })
	for _, tc := range []struct {
		name     string
		tr       *testRelay
		opts     AllocateOptions
		code     int
		families []Family
		famErr   *FamilyError
	}{
		{"IPv6", dual, AllocateOptions{RequestedFamily: FamilyIPv6}, 0, []Family{FamilyIPv6}, nil},
		{"dual", dual, AllocateOptions{AdditionalFamily: FamilyIPv6}, 0, []Family{FamilyIPv4, FamilyIPv6}, nil},
		{"dual on an IPv4-only relay", only4, AllocateOptions{AdditionalFamily: FamilyIPv6}, 0, []Family{FamilyIPv4},
			&FamilyError{Family: FamilyIPv6, Code: 440, Reason: "Address Family not Supported"}},
		{"IPv6 on an IPv4-only relay", only4, AllocateOptions{RequestedFamily: FamilyIPv6}, 440, nil, nil},
		{"both family attributes", dual, AllocateOptions{RequestedFamily: FamilyIPv6, AdditionalFamily: FamilyIPv6}, 400, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tr.dialRelay(t, UDP)
			a, err := c.Allocate(tc.opts)
			if Code(err) != tc.code {
				t.Fatalf("error %v, want code %d", err, tc.code)
			}
			if tc.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Method != "allocate" {
					t.Fatalf("error %#v is not an allocate *Error", err)
				}
				return
			}
			if len(a.Relayed) != len(tc.families) {
				t.Fatalf("relayed %v, want families %v", a.Relayed, tc.families)
			}
			for i, f := range tc.families {
				if FamilyOf(a.Relayed[i].Addr()) != f {
					t.Fatalf("relayed[%d] = %v, want %v", i, a.Relayed[i], f)
				}
				if r, ok := a.RelayedFor(f); !ok || r != a.Relayed[i] {
					t.Fatalf("RelayedFor(%v) = %v, %v", f, r, ok)
				}
			}
			if tc.famErr == nil && a.FamilyError != nil || tc.famErr != nil && (a.FamilyError == nil || *a.FamilyError != *tc.famErr) {
				t.Fatalf("ADDRESS-ERROR-CODE %+v, want %+v", a.FamilyError, tc.famErr)
			}
		})
	}
}

// TestRefreshAndDelete: Refresh grants the requested lifetime, lifetime 0
// deletes, and the next request learns 437 (RFC 8656 §8.3).
func TestRefreshAndDelete(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP)
	if _, err := c.Allocate(AllocateOptions{Lifetime: 1200 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Refresh(1800*time.Second, 0); err != nil || got != 1800*time.Second {
		t.Fatalf("refresh: %v, %v; want 1800 s", got, err)
	}
	if got, err := c.Refresh(0, 0); err != nil || got != 0 {
		t.Fatalf("delete: %v, %v", got, err)
	}
	if _, err := c.Refresh(0, 0); Code(err) != 437 {
		t.Fatalf("second delete: %v, want 437", err)
	}
}

// TestWrongPasswordIs401: a bad password ends in the relay's 401, not in a
// loop of challenges.
func TestWrongPasswordIs401(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP, func(cfg *Config) { cfg.Password = "wrong" })
	if _, err := c.Allocate(AllocateOptions{}); Code(err) != 401 {
		t.Fatalf("got %v, want 401", err)
	}
}

// TestStaleNonceIsRenewed: when the relay's nonce expires (its wall clock
// moves past the nonce lifetime) the next request gets 438 and the client
// retries with the new nonce by itself (RFC 8489 §9.2.5).
func TestStaleNonceIsRenewed(t *testing.T) {
	var tr *testRelay
	tr = startRelay(t, func(cfg *relay.Config) {
		key := make([]byte, 32)
		rand.Read(key)
		n, err := auth.NewNonces(key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Nonces = n
	})
	c := tr.dialRelay(t, UDP)
	if _, err := c.Allocate(AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := c.nonce
	tr.clock.SetWall(tr.clock.Wall().Add(2 * time.Minute))
	if _, err := c.Refresh(600*time.Second, 0); err != nil {
		t.Fatalf("refresh after the nonce expired: %v", err)
	}
	if c.nonce == first {
		t.Fatal("the client kept the stale nonce")
	}
}

// TestRetransmitsOverUDP: an unanswered request is sent again with the same
// bytes after RTO (RFC 8489 §6.2.1); a relay that never answers yields
// ErrTimeout.
func TestRetransmitsOverUDP(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	rto := 50 * time.Millisecond
	c, err := Dial(context.Background(), Config{
		Server:   silent.LocalAddr().(*net.UDPAddr).AddrPort(),
		Username: "u", Password: "p",
		RTO: rto, Timeout: 400 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { _, err := c.Allocate(AllocateOptions{}); done <- err }()
	var copies [][]byte
	var times []time.Time
	buf := make([]byte, 2048)
	for len(copies) < 3 {
		silent.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := silent.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d copies: %v", len(copies), err)
		}
		copies = append(copies, append([]byte(nil), buf[:n]...))
		times = append(times, time.Now())
	}
	for i := 1; i < len(copies); i++ {
		if !bytes.Equal(copies[i], copies[0]) {
			t.Fatalf("retransmission %d differs from the request", i)
		}
	}
	// Intervals RTO then 2·RTO, with generous slack for a loaded machine.
	if d := times[1].Sub(times[0]); d < rto*8/10 {
		t.Fatalf("first retransmission after %v, want about %v", d, rto)
	}
	if d := times[2].Sub(times[1]); d < 2*rto*8/10 {
		t.Fatalf("second retransmission after %v, want about %v", d, 2*rto)
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

// TestCloseEndsReceiveAndRequests: Close wakes a blocked Receive and later
// calls fail with ErrClosed.
func TestCloseEndsReceiveAndRequests(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, TCP)
	errs := make(chan error, 1)
	go func() {
		_, err := c.Receive(context.Background(), make([]byte, 100))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("receive: %v, want ErrClosed", err)
	}
	if _, err := c.Allocate(AllocateOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("allocate: %v, want ErrClosed", err)
	}
}

// TestAcceptableResponses applies RFC 8489 §9.2.5 to responses of an
// authenticated request.
func TestAcceptableResponses(t *testing.T) {
	key := [16]byte{1, 2, 3}
	other := [16]byte{9}
	build := func(class stunmsg.Class, code int, miKey *[16]byte) *stunmsg.Message {
		var b stunmsg.Builder
		b.Reset(make([]byte, 0, 256), stunmsg.MessageType(stunmsg.Refresh, class), [12]byte{1})
		if code != 0 {
			b.AddErrorCode(code, "")
		}
		if miKey != nil {
			b.AddIntegrity(miKey[:])
		}
		raw, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m := new(stunmsg.Message)
		if err := m.Parse(raw); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		m    *stunmsg.Message
		key  *[16]byte
		want bool
	}{
		{"success, right key", build(stunmsg.Success, 0, &key), &key, true},
		{"success, wrong key", build(stunmsg.Success, 0, &other), &key, false},
		{"success without integrity", build(stunmsg.Success, 0, nil), &key, false},
		{"403 without integrity", build(stunmsg.Error, 403, nil), &key, false},
		{"438 without integrity", build(stunmsg.Error, 438, nil), &key, true},
		{"401 without integrity", build(stunmsg.Error, 401, nil), &key, true},
		{"400 without integrity", build(stunmsg.Error, 400, nil), &key, true},
		{"unauthenticated request", build(stunmsg.Success, 0, nil), nil, true},
	} {
		if got := acceptable(tc.m, tc.key); got != tc.want {
			t.Errorf("%s: acceptable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestQueueOverflowDrops: events beyond the queue are dropped and counted,
// and the queued ones still come out in order.
func TestQueueOverflowDrops(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP, func(cfg *Config) { cfg.QueueLength = 4 })
	peer := netip.MustParseAddrPort("127.0.0.1:4000")
	var m stunmsg.Message
	for i := 0; i < 6; i++ {
		c.handle(&m, dataIndication(t, peer, []byte{byte(i)}))
	}
	if c.Dropped() != 2 {
		t.Fatalf("dropped %d, want 2", c.Dropped())
	}
	buf := make([]byte, 10)
	for i := 0; i < 4; i++ {
		if ev := receive(t, c, buf); ev.Kind != EventData || ev.Data.Payload[0] != byte(i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

// dataIndication encodes a Data indication from peer carrying payload.
func dataIndication(t testing.TB, peer netip.AddrPort, payload []byte) []byte {
	t.Helper()
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 128+len(payload)), stunmsg.MessageType(stunmsg.Data, stunmsg.Indication), [12]byte{5})
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.Add(stunmsg.AttrData, payload)
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestConcurrentRequestsAndReceive: requests run while another goroutine
// receives a steady stream of data (run with -race); the responses reach
// their requests and the data reaches Receive.
func TestConcurrentRequestsAndReceive(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP)
	if _, err := c.Allocate(AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	peer := echoPeer(t, "udp4", "127.0.0.1:0")
	if err := c.CreatePermission(peer.Addr()); err != nil {
		t.Fatal(err)
	}
	const messages = 200
	received := make(chan int, 1)
	go func() {
		buf := make([]byte, 100)
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for n < messages {
			if _, err := c.Receive(ctx, buf); err != nil {
				break
			}
			n++
		}
		received <- n
	}()
	go func() {
		for i := 0; i < messages; i++ {
			c.Send(peer, []byte{byte(i)})
			if i%20 == 0 {
				time.Sleep(time.Millisecond) // stay below the queue's length
			}
		}
	}()
	for i := 0; i < 10; i++ {
		if err := c.CreatePermission(peer.Addr()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Refresh(600*time.Second, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-received; n+int(c.Dropped()) < messages {
		t.Fatalf("received %d and dropped %d of %d datagrams", n, c.Dropped(), messages)
	}
}

// TestCloseLeavesNoGoroutine: every client's reader ends with Close.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	tr := startRelay(t)
	before := settledGoroutines()
	var clients []*Client
	for i := 0; i < 10; i++ {
		c := tr.dialRelay(t, UDP)
		if _, err := c.Allocate(AllocateOptions{}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if n := runtime.NumGoroutine(); n < before+10 {
		t.Fatalf("%d goroutines with 10 clients, want at least %d", n, before+10)
	}
	for _, c := range clients {
		c.Close()
	}
	if n := settledGoroutines(); n != before {
		t.Fatalf("%d goroutines after Close, want %d", n, before)
	}
}

// settledGoroutines counts goroutines once goroutines of earlier tests (echo
// peers on their way out) have finished: the count must hold still for
// 30 ms, within a second.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for deadline, still := time.Now().Add(time.Second), 0; still < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			still++
		} else {
			n, still = m, 0
		}
	}
	return n
}

// TestStopReadingBacksUpTheRelay: a TCP client that stops reading lets the
// relay's write queue to it fill, so peer data beyond the relay's write
// budget is dropped there (stream_write_budget); a client that kept reading
// (and dropped in its own ring instead) would never make the relay drop.
// Close still ends the stopped client at once.
func TestStopReadingBacksUpTheRelay(t *testing.T) {
	tr := startRelay(t)
	c := tr.dialRelay(t, TCP)
	a, err := c.Allocate(AllocateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := c.CreatePermission(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	relayed := net.UDPAddrFromAddrPort(a.Relayed[0])
	// 10 kB a millisecond: a reader keeps up (the kernel's socket buffers
	// absorb its pauses), so only a reader that stopped lets the relay's
	// queue fill, once the kernel's buffers (a few MB) are full.
	datagram := make([]byte, 10_000)
	buf := make([]byte, len(datagram))
	if _, err := peer.WriteToUDP(datagram[:10], relayed); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, c, buf); ev.Kind != EventData {
		t.Fatalf("before StopReading: got %+v, want data", ev)
	}
	c.StopReading()
	budgetDrops := func() uint64 { return tr.srv.Stats().Drops["stream_write_budget"] }
	before := budgetDrops()
	for i := 0; budgetDrops() == before; i++ {
		if i == 5000 {
			t.Fatal("50 MB sent and the relay never dropped data for the stopped client: it is still reading")
		}
		if _, err := peer.WriteToUDP(datagram, relayed); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of a client that stopped reading did not return")
	}
}
