package xdp

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netnslab"
	"github.com/turnstile-relay/turnstile/relay"
)

// localHops is the TTL and hop limit the relay namespace's own stack
// sends with (the kernel's default, which the test never changes): a
// datagram arriving from the relay with less came from elsewhere and was
// transmitted by the program, which decrements it. (Senders pick their
// own: the Linux clients 64, turnutils_peer 47, one less at the router.)
const localHops = 64

// capturedFrame is one frame the router's veth received from the relay.
type capturedFrame struct {
	data []byte
	// partial: the kernel marked its checksum as not yet computed
	// (TP_STATUS_CSUMNOTREADY), as for datagrams the relay's own stack
	// sent with transmit checksum offload on; no XDP_TX frame may be.
	partial bool
}

// frameCapture reads every frame arriving on one interface through an
// AF_PACKET socket (no tcpdump needed).
type frameCapture struct {
	fd     int
	mu     sync.Mutex
	frames []capturedFrame
	err    error
	stop   chan struct{}
	done   chan struct{}
}

// maxCapturedFrames bounds the capture's memory; the test sends far fewer.
const maxCapturedFrames = 20000

// startCapture opens the socket in namespace ns, bound to ifname, with
// packet auxiliary data (the checksum status) on.
func startCapture(t *testing.T, ns, ifname string) *frameCapture {
	t.Helper()
	c := &frameCapture{stop: make(chan struct{}), done: make(chan struct{})}
	if err := netnslab.InNamespace(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		c.fd = fd
		for _, o := range []struct{ level, name, value int }{
			{unix.SOL_PACKET, unix.PACKET_AUXDATA, 1},
			{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8 << 20}, // no drop while the test's goroutines run
		} {
			if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
				unix.Close(fd)
				return err
			}
		}
		// A read timeout lets the reader notice the end of the capture.
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	}); err != nil {
		t.Fatalf("capturing on %s: %v", ifname, err)
	}
	go c.read()
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *frameCapture) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	for {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			// Idle for a read timeout: once told to stop, nothing the
			// relay sent is still queued, so every frame was read.
			select {
			case <-c.stop:
				return
			default:
				continue
			}
		}
		if err != nil {
			c.fail(err)
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // what the router sends towards the relay
		}
		partial, err := checksumNotReady(oob[:oobn])
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		if len(c.frames) == maxCapturedFrames {
			c.mu.Unlock()
			c.fail(fmt.Errorf("more than %d frames", maxCapturedFrames))
			return
		}
		c.frames = append(c.frames, capturedFrame{data: append([]byte(nil), buf[:n]...), partial: partial})
		c.mu.Unlock()
	}
}

func (c *frameCapture) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// checksumNotReady reads TP_STATUS_CSUMNOTREADY from a frame's auxiliary
// data; a frame without it is an error (the option was set).
func checksumNotReady(oob []byte) (bool, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			status := binary.NativeEndian.Uint32(m.Data[:4]) // tp_status comes first
			return status&unix.TP_STATUS_CSUMNOTREADY != 0, nil
		}
	}
	return false, fmt.Errorf("a frame without PACKET_AUXDATA")
}

// finish ends the capture and returns its frames; frames the kernel
// dropped before the socket read them fail the test (they went unchecked).
func (c *frameCapture) finish(t *testing.T) []capturedFrame {
	t.Helper()
	close(c.stop)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the capture's reader did not stop")
	}
	stats, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	unix.Close(c.fd)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Fatalf("capture: %v", c.err)
	}
	if stats.Drops != 0 {
		t.Fatalf("the capture socket dropped %d frames", stats.Drops)
	}
	return c.frames
}

// frameChecksums is what checkFrameChecksums found in one frame.
type frameChecksums struct {
	udp       bool // an unfragmented UDP datagram, its checksums checked
	forwarded bool // TTL or hop limit below localHops: the program sent it
}

// checkFrameChecksums recomputes, from scratch, the IPv4 header checksum
// and the UDP checksum over the pseudo-header (RFC 768; RFC 8200 §8.1) of
// an Ethernet frame and compares them with the frame's; a UDP checksum of
// 0 is an error in both families (every sender in the test computes one,
// and IPv6 forbids 0). Frames other than IP and UDP are left alone.
func checkFrameChecksums(f capturedFrame) (frameChecksums, error) {
	var r frameChecksums
	b := f.data
	if len(b) < 14 {
		return r, fmt.Errorf("a %d-byte frame", len(b))
	}
	var src, dst, udp []byte
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		ip := b[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return r, fmt.Errorf("a truncated IPv4 header: % x", b)
		}
		hl, total := int(ip[0]&0x0f)*4, int(binary.BigEndian.Uint16(ip[2:]))
		if hl < 20 || total < hl || total != len(ip) {
			return r, fmt.Errorf("IPv4 header length %d and total length %d in %d bytes", hl, total, len(ip))
		}
		if fold(sum16(ip[:hl], 0)) != 0xffff {
			return r, fmt.Errorf("bad IPv4 header checksum %#04x: % x", binary.BigEndian.Uint16(ip[10:]), ip[:hl])
		}
		if ip[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return r, nil // not UDP, or a fragment
		}
		r.forwarded = ip[8] < localHops
		src, dst, udp = ip[12:16], ip[16:20], ip[hl:total]
	case 0x86dd:
		ip := b[14:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return r, fmt.Errorf("a truncated IPv6 header: % x", b)
		}
		if payload := int(binary.BigEndian.Uint16(ip[4:])); payload != len(ip)-40 {
			return r, fmt.Errorf("IPv6 payload length %d in %d bytes", payload, len(ip)-40)
		}
		if ip[6] != unix.IPPROTO_UDP {
			return r, nil
		}
		r.forwarded = ip[7] < localHops
		src, dst, udp = ip[8:24], ip[24:40], ip[40:]
	default:
		return r, nil
	}
	r.udp = true
	if len(udp) < 8 || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		return r, fmt.Errorf("UDP length disagrees with the IP length %d: % x", len(udp), udp)
	}
	if f.partial {
		if r.forwarded {
			return r, fmt.Errorf("a frame the program sent is marked as checksum not ready: % x", b)
		}
		return r, nil // the relay's own stack sent it; the checksum is completed on the wire
	}
	if binary.BigEndian.Uint16(udp[6:]) == 0 {
		return r, fmt.Errorf("no UDP checksum (0): % x", b)
	}
	if fold(sum16(udp, pseudoSum(src, dst, len(udp)))) != 0xffff {
		return r, fmt.Errorf("bad UDP checksum %#04x: % x", binary.BigEndian.Uint16(udp[6:]), b)
	}
	return r, nil
}

// offloadedTotal sums the packets the program relayed, both ways.
func offloadedTotal(s relay.Stats) uint64 {
	var n uint64
	for _, byProto := range s.OffloadedPackets {
		for _, v := range byProto {
			n += v
		}
	}
	return n
}

// checkCapturedChecksums fails on any frame with a bad checksum and unless
// the frames the program sent are exactly the ones it counted.
func checkCapturedChecksums(t *testing.T, frames []capturedFrame, offloaded uint64) {
	t.Helper()
	var udp, forwarded, partial, bad int
	for _, f := range frames {
		r, err := checkFrameChecksums(f)
		if err != nil {
			if bad++; bad <= 10 { // the first few say enough
				t.Error(err)
			}
			continue
		}
		if r.udp {
			udp++
		}
		if r.forwarded {
			forwarded++
		}
		if f.partial {
			partial++
		}

	}
	if bad > 0 {
		t.Errorf("%d of %d frames were wrong", bad, len(frames))
	}
	if offloaded == 0 || uint64(forwarded) != offloaded {
		t.Errorf("captured %d datagrams the program sent, it counted %d", forwarded, offloaded)
	}
	t.Logf("%d frames captured, %d UDP (%d sent by the program, %d by the relay's stack with checksums left to offload): checksums correct",
		len(frames), udp, forwarded, partial)
}
