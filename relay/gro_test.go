package relay

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// sendSegmented sends msgs from conn to the server as one UDP GSO send, so
// the kernel delivers them to the relay's GRO listener as one coalesced
// message (loopback has no NIC to cut them earlier). msgs must all be as
// long as the first but the last, which may be shorter.
func sendSegmented(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, msgs [][]byte) {
	t.Helper()
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(len(msgs[0])))
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: to.Port, Addr: [4]byte(to.IP.To4())}
	var sendErr error
	if err := rc.Write(func(fd uintptr) bool {
		_, sendErr = unix.SendmsgBuffers(int(fd), msgs, oob, sa, 0)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if sendErr != nil {
		t.Fatalf("segmented send: %v", sendErr)
	}
}

// TestCoalescedChannelDataIsRelayedInOrder: ChannelData messages that
// arrive coalesced by UDP GRO are each relayed, in order, including a
// shorter last one.
func TestCoalescedChannelDataIsRelayedInOrder(t *testing.T) {
	ts := newTestServer(t)
	c := newRawClient(t, ts.udp, "udp4")
	c.allocate()
	peer := newUDPPeer(t, "udp4")
	c.permit(peer.addr())
	c.bind(0x4000, peer.addr())
	var msgs [][]byte
	for i := range 7 {
		payload := []byte(fmt.Sprintf("probe %02d %s", i, make([]byte, 90)))
		if i == 6 {
			payload = payload[:20]
		}
		msgs = append(msgs, channelData(0x4000, payload))
	}
	sendSegmented(t, c.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(ts.udp), msgs)
	for i, m := range msgs {
		got, from, ok := peer.recv(2 * time.Second)
		if !ok {
			t.Fatalf("peer received %d of %d payloads", i, len(msgs))
		}
		if string(got) != string(m[4:]) || from != c.relayed {
			t.Fatalf("payload %d: %q from %v, want %q from %v", i, got[:8], from, m[4:12], c.relayed)
		}
	}
	if _, _, ok := peer.recv(100 * time.Millisecond); ok {
		t.Fatal("peer received more payloads than were sent")
	}
	// They came in one receive, not because the kernel split the send.
	requireCoalesced(t, ts, "listener", len(msgs))
}

// TestCoalescedBindingRequestsEachAnswered: STUN requests coalesced into
// one receive are answered one by one.
func TestCoalescedBindingRequestsEachAnswered(t *testing.T) {
	ts := newTestServer(t)
	c := newRawClient(t, ts.udp, "udp4")
	want := map[[12]byte]bool{}
	var msgs [][]byte
	for range 3 {
		txid := newTxID()
		want[txid] = true
		msgs = append(msgs, c.build(stunmsg.Binding, stunmsg.Request, txid, false, nil))
	}
	sendSegmented(t, c.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(ts.udp), msgs)
	for range msgs {
		raw := c.recvRaw(2 * time.Second)
		if raw == nil {
			t.Fatal("a coalesced Binding request went unanswered")
		}
		var m stunmsg.Message
		if err := m.Parse(raw); err != nil {
			t.Fatal(err)
		}
		if !want[m.TransactionID] || m.Class != stunmsg.Success {
			t.Fatalf("unexpected answer %v %x", m.Class, m.TransactionID)
		}
		delete(want, m.TransactionID)
	}
	requireCoalesced(t, ts, "listener", len(msgs))
}

// peerBurst is a run of datagrams a peer sends as one GSO send: five of 101
// bytes (odd, so Data indications and stream ChannelData need padding) and
// a shorter last one.
func peerBurst() [][]byte {
	var msgs [][]byte
	for i := range 6 {
		p := []byte(fmt.Sprintf("peer datagram %d %s", i, make([]byte, 84)))
		if i == 5 {
			p = p[:23]
		}
		msgs = append(msgs, p)
	}
	return msgs
}

// TestCoalescedPeerDataReachesTheClient: datagrams a peer sent in a burst,
// which the relayed socket receives coalesced by GRO, each reach the client
// framed on its own, in order: as ChannelData and as Data indications to a
// UDP client, as padded ChannelData to a stream client.
func TestCoalescedPeerDataReachesTheClient(t *testing.T) {
	ts := newTestServer(t)
	coalesced := 0 // datagrams the relayed sockets took coalesced so far
	for _, bound := range []bool{true, false} {
		t.Run(fmt.Sprintf("udp/channel=%v", bound), func(t *testing.T) {
			c := newRawClient(t, ts.udp, "udp4")
			relayed := c.allocate()
			peer := newUDPPeer(t, "udp4")
			c.permit(peer.addr())
			if bound {
				c.bind(0x4001, peer.addr())
			}
			burst := peerBurst()
			sendSegmented(t, peer.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(relayed), burst)
			for i, want := range burst {
				raw := c.recvRaw(2 * time.Second)
				if raw == nil {
					t.Fatalf("client received %d of %d messages", i, len(burst))
				}
				var got []byte
				if bound {
					var ch uint16
					if ch, got = parseChannelDataUDP(t, raw); ch != 0x4001 {
						t.Fatalf("message %d on channel %#x, want 0x4001", i, ch)
					}
				} else {
					var from netip.AddrPort
					if from, got = parseDataIndication(t, raw); from != peer.addr() {
						t.Fatalf("indication %d from %v, want %v", i, from, peer.addr())
					}
				}
				if string(got) != string(want) {
					t.Fatalf("message %d: %d bytes, want %d bytes %q", i, len(got), len(want), want[:16])
				}
			}
			coalesced += len(burst)
			requireCoalesced(t, ts, "relayed", coalesced)
		})
	}
	for _, transport := range streamTransports {
		t.Run(transport+"/channel", func(t *testing.T) {
			c := dialStream(t, ts, transport)
			relayed := c.allocate()
			peer := newUDPPeer(t, "udp4")
			requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x4000, peer.addr())), 0)
			burst := peerBurst()
			sendSegmented(t, peer.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(relayed), burst)
			for i, p := range burst {
				if f, want := c.mustReadFrame(), paddedChannelData(0x4000, p); string(f) != string(want) {
					t.Fatalf("frame %d: %d bytes, want %d (zero-padded ChannelData)", i, len(f), len(want))
				}
			}
			coalesced += len(burst)
			requireCoalesced(t, ts, "relayed", coalesced)
		})
	}
}

// TestCoalescedPeerDataHonoursPermissions: in a coalesced burst from a peer
// without a permission, nothing reaches the client.
func TestCoalescedPeerDataHonoursPermissions(t *testing.T) {
	ts := newTestServer(t)
	c := newRawClient(t, ts.udp, "udp4")
	relayed := c.allocate()
	// A permission for another IP only (permissions are per IP, §9).
	stranger := newUDPPeer(t, "udp4")
	c.permit(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 9))
	sendSegmented(t, stranger.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(relayed), peerBurst())
	c.expectSilence()
	requireCoalesced(t, ts, "relayed", len(peerBurst()))
}

// TestBurstsWithAndWithoutUDPOffload: with UDP offload the kernel hands a
// client's burst to the listener and a peer's burst to the relayed socket
// coalesced by GRO, one receive each; with NoUDPOffload the sockets do not
// ask for GRO and take every datagram on its own. Either way everything
// arrives in order.
func TestBurstsWithAndWithoutUDPOffload(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.NoUDPOffload = !offload })
			c := newRawClient(t, ts.udp, "udp4")
			relayed := c.allocate()
			peer := newUDPPeer(t, "udp4")
			c.permit(peer.addr())
			c.bind(0x4002, peer.addr())
			burst := peerBurst()
			want := 0
			if offload {
				want = len(burst)
			}
			var frames [][]byte
			for _, p := range burst {
				frames = append(frames, channelData(0x4002, p))
			}
			sendSegmented(t, c.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(ts.udp), frames)
			for i, want := range burst {
				got, _, ok := peer.recv(2 * time.Second)
				if !ok || string(got) != string(want) {
					t.Fatalf("peer datagram %d: %d bytes (ok %v), want %d", i, len(got), ok, len(want))
				}
			}
			requireCoalesced(t, ts, "listener", want)
			sendSegmented(t, peer.conn.(*net.UDPConn), net.UDPAddrFromAddrPort(relayed), burst)
			for i, want := range burst {
				raw := c.recvRaw(2 * time.Second)
				if raw == nil {
					t.Fatalf("client received %d of %d messages", i, len(burst))
				}
				if _, got := parseChannelDataUDP(t, raw); string(got) != string(want) {
					t.Fatalf("client message %d: %d bytes, want %d", i, len(got), len(want))
				}
			}
			requireCoalesced(t, ts, "relayed", want)
		})
	}
}

// requireCoalesced fails unless ts's sockets of kind received exactly want
// datagrams coalesced by GRO so far.
func requireCoalesced(t *testing.T, ts *testServer, kind string, want int) {
	t.Helper()
	if got := ts.Stats().Coalesced[kind]; got != uint64(want) {
		t.Fatalf("%s sockets received %d datagrams coalesced by GRO, want %d", kind, got, want)
	}
}
