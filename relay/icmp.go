package relay

import (
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"golang.org/x/sys/unix"
)

// ICMP forwarding limits per allocation: a token bucket of icmpBurst errors
// refilled at icmpRate per second. An allocation sending to many closed
// ports must not turn the relay into an amplifier of error messages.
const (
	icmpBurst = 20
	icmpRate  = 10
	// maxICMPPerEvent bounds the error-queue entries handled per wakeup.
	maxICMPPerEvent = 64
)

// drainICMP reads the relayed socket's error queue (IP_RECVERR /
// IPV6_RECVERR) and forwards what RFC 8656 §11.5 allows to the client. It
// runs on the worker that polls rs; netio.BatchSocket makes a concurrent
// Close safe (ReadErrQueue then reports ErrClosed), so no lock is held.
func (w *worker) drainICMP(rs *relaySocket, sess *session) {
	for i := 0; i < maxICMPPerEvent; i++ {
		ok, err := rs.sock.ReadErrQueue(&w.icmp)
		if err != nil || !ok {
			return
		}
		w.forwardICMP(sess, &w.icmp, w.s.clock.Now())
	}
}

// forwardable reports whether an error-queue entry is an ICMP error RFC 8656
// §11.5 forwards: ICMPv4 Destination Unreachable (3) or Time Exceeded (11);
// ICMPv6 Destination Unreachable (1), Packet Too Big (2) or Time Exceeded (3).
// It returns the attribute's Error Data: the next-hop MTU for
// fragmentation-needed (type 3 code 4) and Packet Too Big, zero otherwise.
func forwardable(e *netio.ErrQueueEntry) (data uint32, ok bool) {
	switch e.Origin {
	case unix.SO_EE_ORIGIN_ICMP:
		switch e.Type {
		case 3:
			if e.Code == 4 {
				return e.Info, true
			}
			return 0, true
		case 11:
			return 0, true
		}
	case unix.SO_EE_ORIGIN_ICMP6:
		switch e.Type {
		case 1, 3:
			return 0, true
		case 2:
			return e.Info, true
		}
	}
	return 0, false
}

// forwardICMP sends one ICMP error to the allocation's client as a Data
// indication with XOR-PEER-ADDRESS and ICMP and no DATA (RFC 8656 §11.5).
// The permission check uses the quoted destination — the peer the relay
// sent to — not the ICMP sender, which may be any router on the path. A
// channel bound to the peer does not matter: ChannelData cannot carry ICMP.
func (w *worker) forwardICMP(sess *session, e *netio.ErrQueueEntry, now mono.Time) {
	data, ok := forwardable(e)
	if !ok {
		w.c.drop(DropICMPIgnored)
		return
	}
	peer := peerAddr(e.Destination)
	// Extension hook: the extension judges the error by the datagram it
	// quotes and may show it from another peer address, or drop it.
	if sess.ext != nil {
		switch v := sess.ext.InboundICMP(peer, ICMP{Type: e.Type, Code: e.Code, Data: data}, now, w.c.lane); v.Action {
		case InboundDeliver:
			peer = v.As
		case InboundDrop:
			return
		}
	}
	if !sess.alloc.Permitted(peer.Addr(), now) {
		w.c.drop(DropICMPNoPermission)
		return
	}
	if !sess.allowICMP(now) {
		w.c.drop(DropICMPRateLimited)
		return
	}
	var txid [12]byte
	w.fillTxID(&txid)
	var b stunmsg.Builder
	b.Reset(w.icmpBuf[:0], stunmsg.MessageType(stunmsg.Data, stunmsg.Indication), txid)
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.AddICMP(e.Type, e.Code, data)
	msg, err := b.Bytes()
	if err != nil {
		return
	}
	if sess.client.send(msg, &w.h.sender, &w.c) {
		w.c.icmp[icmpFamilyIndex(e)][icmpKindOf(e)].Add(1)
	}
}

// ICMP error kinds counted per family: the three RFC 8656 §11.5 forwards.
type icmpKind uint8

const (
	icmpDestUnreachable icmpKind = iota
	icmpTimeExceeded
	icmpPacketTooBig
	numICMPKinds
)

var icmpKindLabels = [numICMPKinds]string{"dest_unreachable", "time_exceeded", "packet_too_big"}

// icmpKindOf classifies a forwardable entry. ICMPv4 "fragmentation needed"
// (3/4) is counted as packet_too_big, like its ICMPv6 counterpart.
func icmpKindOf(e *netio.ErrQueueEntry) icmpKind {
	v6 := e.Origin == unix.SO_EE_ORIGIN_ICMP6
	switch {
	case !v6 && e.Type == 3 && e.Code == 4, v6 && e.Type == 2:
		return icmpPacketTooBig
	case !v6 && e.Type == 11, v6 && e.Type == 3:
		return icmpTimeExceeded
	}
	return icmpDestUnreachable
}

func icmpFamilyIndex(e *netio.ErrQueueEntry) int {
	if e.Origin == unix.SO_EE_ORIGIN_ICMP6 {
		return 1
	}
	return 0
}

// allowICMP takes one token from the session's ICMP bucket, refilling it
// from the time elapsed since the last refill.
func (s *session) allowICMP(now mono.Time) bool {
	last := mono.Time(s.icmpRefill.Load())
	if elapsed := now.Sub(last); elapsed > 0 {
		add := int64(elapsed * icmpRate / time.Second)
		if add > 0 && s.icmpRefill.CompareAndSwap(int64(last), int64(now)) {
			if b := s.icmpBudget.Add(add); b > icmpBurst {
				s.icmpBudget.Store(icmpBurst)
			}
		}
	}
	if s.icmpBudget.Add(-1) >= 0 {
		return true
	}
	s.icmpBudget.Add(1)
	return false
}
