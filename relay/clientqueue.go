package relay

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Geometry of a clientQueue: how many datagrams one sendmmsg carries, and
// the largest datagram that waits in the queue (ChannelData or a Data
// indication of a full-MTU peer datagram, or any STUN response, fits).
const (
	clientQueueLen  = 32
	clientQueueSlot = 2048
)

// clientQueue holds the single datagrams a worker sends to UDP clients
// during one poll round and sends them with one sendmmsg per listener
// socket. Every client message of a worker leaves through one of its few
// listener sockets, while each arrives in an event of its own (one peer
// datagram on one relayed socket, one request), so a send per message would
// pay a system call for each; sendmmsg pays one for the lot
// (BenchmarkClientQueue). Runs of datagrams to one client still go out as
// one segmented send (outbox); this queue takes what is left, one at a time.
//
// Datagrams are copied in, so they outlive the receive batch they came
// from. Order per destination is kept: a direct send on a socket first
// sends what is queued for it. A clientQueue belongs to one worker.
type clientQueue struct {
	c       *counters
	sockets []socketQueue
	scratch netio.Scratch
}

// socketQueue is the datagrams queued for one listener socket.
type socketQueue struct {
	sock  netio.BatchSocket
	batch *netio.Batch
	n     int
}

// register gives sock a queue. Only registered sockets queue; for others
// add reports false.
func (q *clientQueue) register(sock netio.BatchSocket) error {
	b, err := netio.NewBatch(clientQueueLen, clientQueueSlot, 0)
	if err != nil {
		return err
	}
	q.sockets = append(q.sockets, socketQueue{sock: sock, batch: b})
	return nil
}

func (q *clientQueue) queueOf(sock netio.BatchSocket) *socketQueue {
	for i := range q.sockets {
		if q.sockets[i].sock == sock {
			return &q.sockets[i]
		}
	}
	return nil
}

// add queues a copy of data for to on sock. It reports false when the
// datagram cannot wait (too large, or sock has no queue); the caller then
// sends it itself, after flushSocket.
func (q *clientQueue) add(sock netio.BatchSocket, to netip.AddrPort, data []byte) bool {
	if len(data) > clientQueueSlot {
		return false
	}
	sq := q.queueOf(sock)
	if sq == nil {
		return false
	}
	if sq.n == clientQueueLen {
		q.send(sq)
	}
	i := sq.n
	copy(sq.batch.Buffer(i), data)
	// The slot holds clientQueueSlot bytes, so the range is always valid.
	_ = sq.batch.SetData(i, 0, len(data))
	sq.batch.SetAddr(i, to)
	sq.n++
	return true
}

// flushSocket sends what is queued on sock, before a direct send on it.
func (q *clientQueue) flushSocket(sock netio.BatchSocket) {
	if sq := q.queueOf(sock); sq != nil && sq.n > 0 {
		q.send(sq)
	}
}

// flush sends everything queued: at the end of a poll round.
func (q *clientQueue) flush() {
	for i := range q.sockets {
		if q.sockets[i].n > 0 {
			q.send(&q.sockets[i])
		}
	}
}

// send empties one socket's queue. A datagram the kernel refuses on its own
// account (an unencodable address, EMSGSIZE) is counted and the ones after
// it go one by one; a full send buffer or a closed socket drops the rest.
func (q *clientQueue) send(sq *socketQueue) {
	n := sq.n
	sq.n = 0
	sent, err := sq.sock.SendBatch(sq.batch, n)
	if err == nil {
		return
	}
	if errors.Is(err, netio.ErrWouldBlock) || errors.Is(err, netio.ErrClosed) {
		q.c.drops[DropSendFailed].Add(uint64(n - sent))
		return
	}
	q.c.drop(DropSendFailed)
	for i := sent + 1; i < n; i++ {
		if sq.sock.SendTo(sq.batch.Data(i), sq.batch.Addr(i), &q.scratch) != nil {
			q.c.drop(DropSendFailed)
		}
	}
}
