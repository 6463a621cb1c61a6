package relay

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// outbox holds the datagrams that one receive batch of a worker produces
// and sends them once the batch has been handled. Datagrams from one socket
// to one destination leave together in one segmented send
// (netio.SendSegments, UDP GSO) when their sizes allow: the kernel then
// routes and builds them once, and the per-datagram cost of a send falls by
// more than half from four datagrams on (BenchmarkSendSegments). A
// closed-loop load sends a run of ChannelData messages of one allocation to
// its peer, and the peer's answers come back to the client as a run, so
// most datagrams travel in runs.
//
// Entries alias the worker's receive batch: flush before that batch is
// received into again. Order is kept between datagrams of the same socket
// and destination (a run is only ever appended to at its end, and runs are
// sent in the order they began); datagrams of different flows may leave in
// another order than they were queued, as they could on the network.
//
// An outbox belongs to one worker; only UDP clients' traffic goes through
// it (a stream client's handler has none), so what it sends to peers is
// counted as relayed from UDP clients.
type outbox struct {
	c *counters
	// segments allows segmented sends; without it every datagram is a run
	// of its own (Config.NoUDPOffload).
	segments bool
	packets  [batchSize]outPacket
	n        int
	runs     [batchSize]outRun
	nruns    int
	segs     [netio.MaxSegments][]byte
	seg      netio.SegmentScratch
	single   netio.Scratch
	// clients takes the single datagrams to clients, which leave in one
	// sendmmsg per listener socket at the end of the poll round.
	clients clientQueue
}

// outPacket is one queued datagram, linked to the next one of its run.
type outPacket struct {
	data []byte
	next int // index of the run's next packet; -1 at the end
}

// outRun is the datagrams of one send call: one socket, one destination,
// every datagram as long as the first except a shorter last one.
type outRun struct {
	sock        netio.BatchSocket
	to          netip.AddrPort
	first, last int // packet indexes
	count       int
	size        int // the first datagram's length: the segment size
	bytes       int
	closed      bool // ended by a shorter (or empty) datagram
	toPeer      bool // count as relayed to a peer once sent
}

func newOutbox(c *counters) *outbox {
	return &outbox{c: c, segments: true, clients: clientQueue{c: c}}
}

// add queues data for to from sock. toPeer says the datagram is relayed
// from a UDP client to a peer (counted when sent); messages to clients are
// counted by the caller when they are framed.
func (o *outbox) add(sock netio.BatchSocket, to netip.AddrPort, data []byte, toPeer bool) {
	if o.n == len(o.packets) {
		o.flush()
	}
	i := o.n
	o.n++
	o.packets[i] = outPacket{data: data, next: -1}
	if r := o.runFor(sock, to); o.segments && r != nil && r.accepts(len(data)) {
		o.packets[r.last].next = i
		r.last = i
		r.count++
		r.bytes += len(data)
		r.closed = len(data) < r.size
		return
	}
	o.runs[o.nruns] = outRun{
		sock: sock, to: to, first: i, last: i, count: 1,
		size: len(data), bytes: len(data), closed: len(data) == 0, toPeer: toPeer,
	}
	o.nruns++
}

// runFor returns the newest run from sock to to, or nil.
func (o *outbox) runFor(sock netio.BatchSocket, to netip.AddrPort) *outRun {
	for k := o.nruns - 1; k >= 0; k-- {
		if r := &o.runs[k]; r.sock == sock && r.to == to {
			return r
		}
	}
	return nil
}

// accepts reports whether a datagram of n bytes may end the run: the
// kernel cuts a segmented send into equal segments and a shorter last one.
func (r *outRun) accepts(n int) bool {
	return !r.closed && n > 0 && n <= r.size && r.count < netio.MaxSegments &&
		r.bytes+n <= netio.MaxSegmentsBytes
}

// flush sends every queued run and empties the outbox.
func (o *outbox) flush() {
	for k := 0; k < o.nruns; k++ {
		o.send(&o.runs[k])
		o.runs[k].sock = nil
	}
	for i := 0; i < o.n; i++ {
		o.packets[i].data = nil
	}
	o.n, o.nruns = 0, 0
}

// send sends one run: a single datagram with sendto, several with one
// segmented send, or one by one where the kernel refuses to segment them.
func (o *outbox) send(r *outRun) {
	if !r.toPeer {
		if r.count == 1 && o.clients.add(r.sock, r.to, o.packets[r.first].data) {
			return
		}
		// What waits for this socket leaves first: per-client order.
		o.clients.flushSocket(r.sock)
	}
	if r.count == 1 {
		o.sendOne(r, o.packets[r.first].data)
		return
	}
	segs := o.segs[:0]
	for i := r.first; i >= 0; i = o.packets[i].next {
		segs = append(segs, o.packets[i].data)
	}
	err := r.sock.SendSegments(segs, r.to, &o.seg)
	clear(segs)
	switch {
	case err == nil:
		if r.toPeer {
			for i := r.first; i >= 0; i = o.packets[i].next {
				o.c.relayed(ToPeer, transportUDP, len(o.packets[i].data))
			}
		}
	case errors.Is(err, netio.ErrSegmentsRefused):
		for i := r.first; i >= 0; i = o.packets[i].next {
			o.sendOne(r, o.packets[i].data)
		}
	default:
		o.c.drops[DropSendFailed].Add(uint64(r.count))
	}
}

func (o *outbox) sendOne(r *outRun, data []byte) {
	if err := r.sock.SendTo(data, r.to, &o.single); err != nil {
		o.c.drop(DropSendFailed)
		return
	}
	if r.toPeer {
		o.c.relayed(ToPeer, transportUDP, len(data))
	}
}
