package relay

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay/netio"
	"github.com/turnstile-relay/turnstile/relay/stunmsg"
)

// maxBatchesPerEvent bounds how long one busy socket keeps the loop before
// the others get a turn (the poller is level-triggered, so whatever is left
// is reported again).
const maxBatchesPerEvent = 8

// serveListener reads client datagrams from a UDP listener socket and
// dispatches them: ChannelData to the hot path, STUN to the handler, the
// rest dropped (RFC 8656 §12 demultiplexing, RFC 7983).
func (w *worker) serveListener(sock *netio.Socket) {
	local := sock.LocalAddr()
	b := w.batch
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
		now := mono.Now()
		for i := 0; i < n; i++ {
			if b.Truncated(i) {
				w.c.drop(DropTruncated)
				continue
			}
			data, from := b.Data(i), b.Addr(i)
			// Datagrams coalesced by UDP GRO lie back to back, each
			// SegmentSize bytes but the last; each is its own message.
			if seg := b.SegmentSize(i); seg > 0 {
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
func (w *worker) dispatch(sock *netio.Socket, local, from netip.AddrPort, data []byte, now mono.Time) {
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

// relayChannelData is the client → peer hot path (RFC 8656 §12.6): find the
// 5-tuple's allocation and the channel's peer, and send the payload from the
// relayed address. It allocates nothing and takes no global lock.
func (s *Server) relayChannelData(ft allocation.FiveTuple, data []byte, now mono.Time, sd *sender, c *counters, t transportIndex) {
	ch, payload, ok := s.channels.ParseChannelData(data)
	if !ok {
		c.drop(DropChannelDataMalformed)
		return
	}
	a := s.table.Lookup(ft, now)
	if a == nil {
		c.drop(DropNoAllocation)
		return
	}
	peer, ok := a.ChannelPeer(ch, now)
	if !ok {
		c.drop(DropChannelUnbound)
		return
	}
	// The binding installed a permission, but the two expire separately
	// (RFC 8656 §9, §12: 300 s and 600 s); data only flows to a peer with a
	// live permission, in this direction as in the other (§9, §21.2).
	if !a.Permitted(peer.Addr(), now) {
		c.drop(DropNoPermission)
		return
	}
	sess := a.Ext.(*session)
	// Gateway hook: a proxy IP, the DNS sentinel or a CIDR resource is
	// translated, refused with ICMP or answered by the gateway.
	if sess.gw != nil && s.gatewayOutbound(sess, peer, payload, now, sd, c, t) {
		return
	}
	rs := sess.relayFor(peer.Addr())
	if rs == nil {
		c.drop(DropPeerFamily)
		return
	}
	sd.toPeer(rs, payload, peer, c, t)
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
		now := mono.Now()
		kept := 0
		for i := 0; i < n; i++ {
			if w.frameForClient(sess, a, i, now) {
				kept++
			} else {
				b.SetData(i, 0, 0)
			}
		}
		if kept > 0 {
			w.deliver(sess, n)
			w.out.flush()
		}
		if n < b.Len() {
			return
		}
	}
}

// frameForClient turns received message i into the message for the client
// in place and points the batch entry at it. It reports false when the
// datagram must be dropped.
func (w *worker) frameForClient(sess *session, a *allocation.Allocation, i int, now mono.Time) bool {
	b := w.batch
	if b.Truncated(i) {
		w.c.drop(DropTruncated)
		return false
	}
	peer := b.Addr(i)
	// Gateway hook: a reply on a gateway flow is delivered from its proxy
	// IP:port, and the permission and channel below are the proxy's.
	if sess.gw != nil {
		var ok bool
		if peer, ok = w.s.gatewayInbound(sess, peer, now, &w.c); !ok {
			return false
		}
	}
	if !a.Permitted(peer.Addr(), now) {
		w.c.drop(DropNoPermission)
		return false
	}
	buf := b.Buffer(i)
	off, size := b.Headroom(), len(b.Data(i))
	var start, end int
	if ch, ok := a.PeerChannel(peer, now); ok {
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
			return false
		}
	}
	b.SetData(i, start, end-start)
	w.c.relayed(ToClient, sess.client.transport(), size)
	return true
}

// deliver sends the first n framed messages of the batch to the session's
// client, skipping the dropped (empty) ones. A UDP client's messages go
// through the outbox, so a run of them leaves in one segmented send.
func (w *worker) deliver(sess *session, n int) {
	b := w.batch
	client := &sess.client
	for i := 0; i < n; i++ {
		msg := b.Data(i)
		switch {
		case len(msg) == 0:
		case client.udp != nil:
			w.out.add(client.udp, client.ft.Client, msg, false)
		default:
			client.send(msg, &w.h.sender, &w.c)
		}
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
