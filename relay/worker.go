package relay

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Batch geometry. A relayed datagram is read at batchHeadroom so that a
// ChannelData header (4 bytes) or a Data indication header (up to 48 bytes,
// stunmsg.DataIndicationMaxHead) can be written in front of it in place
// (style: reserve headroom instead of copying); netio leaves PadRoom bytes
// after each buffer for the 0–3 padding bytes that may follow.
const (
	batchSize     = 32
	batchHeadroom = 64
	// maxDatagram is the receive size: the largest UDP payload over IPv6
	// (65535 - 8), which also holds any datagrams the kernel coalesced
	// (UDP GRO never builds a packet beyond 64 KiB).
	maxDatagram = netio.MaxDatagram
)

// worker is one packet loop: an epoll instance polling a share of the UDP
// listener sockets (one SO_REUSEPORT socket per listen address per worker)
// and a share of the relayed sockets. All datagram I/O happens here; there
// is no goroutine per allocation or per socket.
type worker struct {
	s       *Server
	id      int
	poller  netio.EventPoller
	events  []netio.Event
	batch   *netio.Batch
	h       *handler
	out     *outbox // the UDP sends of the batch being handled
	c       counters
	rng     *rand.ChaCha8
	icmp    netio.ErrQueueEntry
	icmpBuf [256]byte

	mu      sync.Mutex // guards entries and free: sockets are registered from request paths
	entries []pollEntry
	free    []uint32
}

// pollEntry is what a poller token refers to. gen makes tokens of reused
// slots distinct, so an event for a socket closed in the meantime is ignored.
type pollEntry struct {
	gen      uint32
	listener netio.BatchSocket
	relay    *relaySocket
}

func newWorker(s *Server, id int) (*worker, error) {
	p, err := s.cfg.Network.NewPoller()
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	seed[0] = byte(id)
	for i := 1; i < len(seed); i++ {
		seed[i] = byte(rand.Uint32())
	}
	// Room to spread the datagrams of a coalesced receive (serveRelay).
	batch, err := netio.NewBatchTailroom(batchSize, maxDatagram, batchHeadroom, maxGROSegments*segmentGap)
	if err != nil {
		p.Close()
		return nil, err
	}
	w := &worker{
		s:      s,
		id:     id,
		poller: p,
		events: make([]netio.Event, 128),
		batch:  batch,
		rng:    rand.NewChaCha8(seed),
	}
	w.c.lane = id + 1 // Extension lanes (Server.Start)
	w.h = newHandler(s, &w.c)
	w.out = newOutbox(&w.c)
	w.out.segments = !s.cfg.NoUDPOffload
	w.h.sender.out = w.out
	return w, nil
}

func token(index, gen uint32) uint64 { return uint64(gen)<<32 | uint64(index) }

// add reserves a poller token for e.
func (w *worker) add(e pollEntry) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var i uint32
	if n := len(w.free); n > 0 {
		i = w.free[n-1]
		w.free = w.free[:n-1]
		e.gen = w.entries[i].gen + 1
		w.entries[i] = e
	} else {
		i = uint32(len(w.entries))
		e.gen = 1
		w.entries = append(w.entries, e)
	}
	return token(i, e.gen)
}

// lookup returns the entry for tok, or false if its socket went away.
func (w *worker) lookup(tok uint64) (pollEntry, bool) {
	i, gen := uint32(tok), uint32(tok>>32)
	w.mu.Lock()
	defer w.mu.Unlock()
	if int(i) >= len(w.entries) || w.entries[i].gen != gen {
		return pollEntry{}, false
	}
	return w.entries[i], true
}

// addListener polls a UDP listener socket in this worker.
func (w *worker) addListener(sock netio.BatchSocket) error {
	if err := w.out.clients.register(sock); err != nil {
		return err
	}
	tok := w.add(pollEntry{listener: sock})
	return w.poller.Add(sock, tok)
}

// register polls a relayed socket in this worker. It runs before the
// socket is visible to anyone else, so setting owner and token needs no lock.
func (w *worker) register(rs *relaySocket) error {
	rs.owner = w
	rs.token = w.add(pollEntry{relay: rs})
	if err := w.poller.Add(rs.sock, rs.token); err != nil {
		w.forget(rs.token)
		rs.owner = nil
		return err
	}
	return nil
}

// forget frees a token after its socket was closed (closing a
// netio.BatchSocket removes it from the poller).
func (w *worker) forget(tok uint64) {
	i, gen := uint32(tok), uint32(tok>>32)
	w.mu.Lock()
	defer w.mu.Unlock()
	if int(i) < len(w.entries) && w.entries[i].gen == gen {
		w.entries[i] = pollEntry{gen: gen}
		w.free = append(w.free, i)
	}
}

// wake interrupts the worker's wait (used at shutdown).
func (w *worker) wake() { w.poller.Wake() }

// close releases the worker's listener sockets and poller after run returned.
func (w *worker) close() {
	w.mu.Lock()
	for _, e := range w.entries {
		if e.listener != nil {
			e.listener.Close()
		}
	}
	w.entries = nil
	w.mu.Unlock()
	w.poller.Close()
}

// yieldInterval is how long a busy loop runs before it lets the scheduler
// in. Its system calls are invisible to the scheduler (netio makes them raw),
// so a loop that always finds work never reaches a scheduling point: the
// garbage collector's mark workers and timers would wait for the runtime's
// preemption, which sysmon stops doing once it went to sleep.
const yieldInterval = 2 * time.Millisecond

// run is the packet loop. It returns when the server closes.
func (w *worker) run() {
	yieldAt := w.s.clock.Now().Add(yieldInterval)
	for !w.s.closing.Load() {
		n, err := w.poller.Wait(w.events, -1)
		if err != nil {
			if w.s.closing.Load() || errors.Is(err, netio.ErrClosed) {
				return
			}
			w.s.log.Error("poller failed", "worker", w.id, "error", err.Error())
			return
		}
		for _, ev := range w.events[:n] {
			e, ok := w.lookup(ev.Token)
			if !ok {
				continue
			}
			if e.listener != nil {
				w.serveListener(e.listener)
			} else if e.relay != nil {
				w.serveRelay(e.relay, ev.Error)
			}
		}
		w.out.clients.flush()
		if now := w.s.clock.Now(); now.After(yieldAt) {
			runtime.Gosched()
			yieldAt = now.Add(yieldInterval)
		}
	}
}
