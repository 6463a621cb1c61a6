package relay

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/relay/stunmsg"
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
	sendSegmented(t, c.conn, net.UDPAddrFromAddrPort(ts.udp), msgs)
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
	sendSegmented(t, c.conn, net.UDPAddrFromAddrPort(ts.udp), msgs)
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
}
