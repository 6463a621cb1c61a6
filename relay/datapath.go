package relay

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// maxBatchesPerEvent bounds how long one busy socket keeps the loop before
// the others get a turn (the poller is level-triggered, so whatever is left
// is reported again).
const maxBatchesPerEvent = 8

// serveListener reads client datagrams from a UDP listener socket and
// dispatches them: ChannelData to the hot path, STUN to the handler, the
// rest dropped (RFC 8656 §12 demultiplexing, RFC 7983).
func (w *worker) serveListener(sock netio.BatchSocket) {
	local := sock.LocalAddr()
	b := w.batch
	// Client messages of the events before this one leave now rather than
	// after this socket's up to maxBatchesPerEvent batches.
	w.out.clients.flush()
	for round := 0; round < maxBatchesPerEvent; round++ {
		n, err := sock.RecvBatch(b)
		if err != nil {
			var pending netio.PendingError
			if errors.As(err, &pending) {
				// An ICMP error about a response we sent: nothing to forward
				// (listener sockets do not set IP_RECVERR); receive again.
				continue
			}
			return
		}
		now := w.s.clock.Now()
		for i := 0; i < n; i++ {
			if b.Truncated(i) {
				w.c.drop(DropTruncated)
				continue
			}
			data, from := b.Data(i), b.Addr(i)
			// Datagrams coalesced by UDP GRO lie back to back, each
			// SegmentSize bytes but the last; each is its own message.
			if seg := b.SegmentSize(i); seg > 0 && len(data) > seg {
				w.c.coalesced[groListener].Add(uint64((len(data) + seg - 1) / seg))
				for len(data) > seg {
					w.dispatch(sock, local, from, data[:seg:seg], now)
					data = data[seg:]
				}
			}
			w.dispatch(sock, local, from, data, now)
		}
		w.out.flush()
		if n < b.Len() {
			return
		}
	}
}

// dispatch handles one datagram from a client on a UDP listener socket.
func (w *worker) dispatch(sock netio.BatchSocket, local, from netip.AddrPort, data []byte, now mono.Time) {
	if from.Port() == 0 {
		w.c.drop(DropSourcePortZero)
		return
	}
	ft := allocation.FiveTuple{Client: from, Server: local, Transport: allocation.TransportUDP}
	switch w.s.channels.Classify(data) {
	case stunmsg.KindChannelData:
		w.s.relayChannelData(ft, data, now, &w.h.sender, &w.c, transportUDP)
	case stunmsg.KindSTUN:
		path := clientPath{ft: ft, udp: sock}
		w.h.handleSTUN(&path, data, now)
	default:
		w.c.drop(DropNotTURN)
	}
}

// relayChannelData is the client → peer hot path (RFC 8656 §12.6): the core
// finds the 5-tuple's allocation and the channel's peer, and the payload leaves from the
// relayed address. It allocates nothing and takes no global lock.
func (s *Server) relayChannelData(ft allocation.FiveTuple, data []byte, now mono.Time, sd *sender, c *counters, t transportIndex) {
	to, drop, ok := s.core.ChannelDataToPeer(ft, data, now)
	if !ok {
		c.drop(drop)
		return
	}
	sess := to.Alloc.Ext.(*session)
	// Extension hook: a datagram for an address the extension claims is
	// translated, refused with ICMP or answered by it.
	if sess.ext != nil && s.extOutbound(sess, to.Peer, to.Payload, now, sd, c, t) {
		return
	}
	rs := sess.relayFor(to.Peer.Addr())
	if rs == nil {
		c.drop(DropPeerFamily)
		return
	}
	sd.toPeer(rs, to.Payload, to.Peer, c, t)
}

// serveRelay reads peer datagrams from a relayed socket and delivers them to
// the allocation's client (RFC 8656 §11.3, §12.7): ChannelData when a
// channel is bound to the peer, a Data indication otherwise, both written in
// place into the headroom in front of the payload. Datagrams from peers
// without a permission are dropped (§9). ICMP errors queued on the socket
// are forwarded first (§11.5).
func (w *worker) serveRelay(rs *relaySocket, hasError bool) {
	sess := rs.sess
	if hasError {
		w.drainICMP(rs, sess)
	}
	a := sess.alloc
	b := w.batch
	for round := 0; round < maxBatchesPerEvent; round++ {
		n, err := rs.sock.RecvBatch(b)
		if err != nil {
			var pending netio.PendingError
			if errors.As(err, &pending) {
				// With IP_RECVERR an ICMP error surfaces once in place of
				// data; the error queue holds it. Forward it, read on.
				w.drainICMP(rs, sess)
				continue
			}
			return
		}
		now := w.s.clock.Now()
		for i := 0; i < n; i++ {
			if b.Truncated(i) {
				w.c.drop(DropTruncated)
				continue
			}
			buf, off, size := b.Buffer(i), b.Headroom(), len(b.Data(i))
			if seg := b.SegmentSize(i); seg > 0 {
				w.toClientCoalesced(sess, a, buf, off, size, seg, b.Addr(i), now)
				continue
			}
			w.toClient(sess, a, buf, off, size, b.Addr(i), now)
		}
		w.out.flush()
		if n < b.Len() {
			return
		}
	}
}

// segmentGap is the room spread between datagrams that UDP GRO delivered
// back to back, so each gets the headroom for its header and the bytes
// for its padding, as a lone datagram has.
const segmentGap = batchHeadroom + 4

// maxGROSegments is the most datagrams the kernel coalesces into one
// receive (UDP_GRO_CNT_MAX); the batch reserves room to spread them.
const maxGROSegments = 64

// toClientCoalesced delivers size bytes at buf[off:] holding datagrams of
// seg bytes (the last may be shorter) that GRO coalesced: it moves them
// apart by segmentGap, last first so none is overwritten, and delivers each
// as if it had arrived alone.
func (w *worker) toClientCoalesced(sess *session, a *allocation.Allocation, buf []byte, off, size, seg int, peer netip.AddrPort, now mono.Time) {
	count := (size + seg - 1) / seg
	if count > 1 {
		w.c.coalesced[groRelayed].Add(uint64(count))
	}
	last := size - (count-1)*seg
	stride := seg + segmentGap
	if count > maxGROSegments || off+(count-1)*stride+last+netio.PadRoom > len(buf) {
		w.c.drops[DropTruncated].Add(uint64(count))
		return
	}
	for j := count - 1; j > 0; j-- {
		n := seg
		if j == count-1 {
			n = last
		}
		copy(buf[off+j*stride:off+j*stride+n], buf[off+j*seg:off+j*seg+n])
	}
	for j := 0; j < count; j++ {
		n := seg
		if j == count-1 {
			n = last
		}
		at := off + j*stride
		// Each datagram sees only its own headroom, bytes and padding room.
		w.toClient(sess, a, buf[at-off:at+n+netio.PadRoom], off, n, peer, now)
	}
}

// toClient frames the peer datagram of size bytes at buf[off:] for the
// client in place (a header in the headroom before it, padding after it)
// and queues or sends it. It drops what must not reach the client.
func (w *worker) toClient(sess *session, a *allocation.Allocation, buf []byte, off, size int, peer netip.AddrPort, now mono.Time) {
	// Extension hook: the extension may show the datagram from another
	// peer address, whose permission and channel then apply, or drop it.
	if sess.ext != nil {
		switch v := sess.ext.Inbound(peer, now, w.c.lane); v.Action {
		case InboundDeliver:
			peer = v.As
		case InboundDrop:
			return
		}
	}
	// The core's lookup: a permission for the peer's IP (RFC 8656 §9),
	// then the channel bound to it, if any (§12.7).
	ch, hasChannel, drop, ok := w.s.core.PeerToClient(a, peer, now)
	if !ok {
		w.c.drop(drop)
		return
	}
	var start, end int
	if hasChannel {
		start = off - stunmsg.ChannelDataHeaderSize
		w.s.channels.PutChannelDataHeader(buf[start:], ch, size)
		end = off + size
		if sess.client.stream != nil {
			// RFC 8656 §12.5: over streams ChannelData is padded to a
			// multiple of four bytes.
			end = start + stunmsg.ChannelDataPaddedLen(size)
			clear(buf[off+size : end])
		}
	} else {
		var txid [12]byte
		w.fillTxID(&txid)
		var ok bool
		if start, end, ok = stunmsg.PutDataIndication(buf, off, size, peer, txid); !ok {
			w.c.drop(DropSendFailed)
			return
		}
	}
	w.c.relayed(ToClient, sess.client.transport(), size)
	// A UDP client's messages go through the outbox, so a run of them
	// leaves in one segmented send.
	if client := &sess.client; client.udp != nil {
		w.out.add(client.udp, client.ft.Client, buf[start:end], false)
	} else {
		client.send(buf[start:end], &w.h.sender, &w.c)
	}
}

// fillTxID draws a transaction ID for an indication (RFC 8489 §6: random;
// indications are matched to nothing, so a fast PRNG suffices).
func (w *worker) fillTxID(t *[12]byte) {
	w.rng.Read(t[:])
}

// transport names the client transport for counters.
func (p *clientPath) transport() transportIndex {
	switch p.ft.Transport {
	case allocation.TransportTCP:
		return transportTCP
	case allocation.TransportTLS:
		return transportTLS
	}
	return transportUDP
}

// peerAddr canonicalizes an address for lookups and for the wire.
func peerAddr(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
