package relay

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

func newClientQueue(t testing.TB, c *counters, socks ...*netio.Socket) *clientQueue {
	t.Helper()
	q := &clientQueue{c: c}
	for _, s := range socks {
		if err := q.register(s); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

// TestClientQueueAgainstModel queues random datagrams from two registered
// sockets to three receivers, past the queue length so add sends by itself,
// and checks against the model of one sendto each in queue order: every
// flow gets exactly its datagrams, in order, and nothing is dropped.
func TestClientQueueAgainstModel(t *testing.T) {
	rig := newOutboxRig(t, 2, 3)
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 11))
		var c counters
		q := newClientQueue(t, &c, rig.senders...)
		want := map[[2]int][]string{}
		perReceiver := make([]int, len(rig.receivers))
		for i := range 1 + rng.IntN(3*clientQueueLen) {
			s, r := rng.IntN(len(rig.senders)), rng.IntN(len(rig.receivers))
			data := fmt.Appendf(nil, "%03d-%d-%d-", i, s, r)
			data = append(data, bytes.Repeat([]byte{'x'}, rng.IntN(clientQueueSlot-len(data)+1))...)
			if !q.add(rig.senders[s], rig.receivers[r].LocalAddr(), data) {
				t.Fatalf("seed %d: add refused a %d-byte datagram", seed, len(data))
			}
			// The queue copies: the caller's buffer is reused at once.
			clear(data)
			want[[2]int{s, r}] = append(want[[2]int{s, r}], fmt.Sprintf("%03d-%d-%d-", i, s, r))
			perReceiver[r]++
		}
		q.flush()
		for r := range rig.receivers {
			got := rig.drain(t, r, perReceiver[r])
			for s, sock := range rig.senders {
				var prefixes []string
				for _, d := range got[sock.LocalAddr()] {
					prefixes = append(prefixes, d[:len(fmt.Sprintf("%03d-%d-%d-", 0, s, r))])
				}
				if fmt.Sprint(prefixes) != fmt.Sprint(want[[2]int{s, r}]) {
					t.Fatalf("seed %d: flow %d->%d got %q, want %q", seed, s, r, prefixes, want[[2]int{s, r}])
				}
			}
		}
		if d := c.drops[DropSendFailed].Load(); d != 0 {
			t.Fatalf("seed %d: %d send failures", seed, d)
		}
	}
}

// TestClientQueueRefuses: a datagram larger than a slot, or for a socket
// without a queue, is left to the caller.
func TestClientQueueRefuses(t *testing.T) {
	rig := newOutboxRig(t, 2, 1)
	var c counters
	q := newClientQueue(t, &c, rig.senders[0])
	to := rig.receivers[0].LocalAddr()
	if q.add(rig.senders[0], to, make([]byte, clientQueueSlot+1)) {
		t.Error("add queued a datagram larger than a slot")
	}
	if q.add(rig.senders[1], to, []byte("x")) {
		t.Error("add queued a datagram for an unregistered socket")
	}
	if !q.add(rig.senders[0], to, make([]byte, clientQueueSlot)) {
		t.Error("add refused a datagram of exactly a slot")
	}
	q.flush()
	rig.drain(t, 0, 1)
}

// TestClientQueueBadDatagram: a datagram the kernel refuses is counted and
// the ones after it are still sent; a closed socket drops its queue.
func TestClientQueueBadDatagram(t *testing.T) {
	rig := newOutboxRig(t, 1, 1)
	var c counters
	q := newClientQueue(t, &c, rig.senders[0])
	to := rig.receivers[0].LocalAddr()
	for i := range 6 {
		dest := to
		if i == 2 {
			// An IPv6 destination from an IPv4 socket: refused locally.
			dest = netip.MustParseAddrPort("[2001:db8::1]:9")
		}
		q.add(rig.senders[0], dest, fmt.Appendf(nil, "m%d", i))
	}
	q.flush()
	got := rig.drain(t, 0, 5)[rig.senders[0].LocalAddr()]
	if fmt.Sprint(got) != "[m0 m1 m3 m4 m5]" {
		t.Errorf("receiver got %q, want m0 m1 m3 m4 m5", got)
	}
	if d := c.drops[DropSendFailed].Load(); d != 1 {
		t.Errorf("%d send failures counted, want 1", d)
	}

	q.add(rig.senders[0], to, []byte("late"))
	q.add(rig.senders[0], to, []byte("later"))
	rig.senders[0].Close()
	q.flush()
	if d := c.drops[DropSendFailed].Load(); d != 3 {
		t.Errorf("%d send failures counted after closing, want 3", d)
	}
}

// TestClientQueueOrderWithRuns: a single datagram queued for a client
// leaves before a later run to the same client that the outbox sends
// directly, so per-client order holds across the two paths.
func TestClientQueueOrderWithRuns(t *testing.T) {
	rig := newOutboxRig(t, 1, 1)
	var c counters
	o := newOutbox(&c)
	if err := o.clients.register(rig.senders[0]); err != nil {
		t.Fatal(err)
	}
	sock, to := rig.senders[0], rig.receivers[0].LocalAddr()
	// Event 1: one datagram to the client (queued).
	o.add(sock, to, []byte("first"), false)
	o.flush()
	if o.clients.sockets[0].n != 1 {
		t.Fatalf("a single datagram to a client was not queued (%d queued)", o.clients.sockets[0].n)
	}
	// Event 2: a run of three to the same client (sent at once).
	for _, p := range []string{"run-1", "run-2", "run-3"} {
		o.add(sock, to, []byte(p), false)
	}
	o.flush()
	o.clients.flush()
	got := rig.drain(t, 0, 4)[sock.LocalAddr()]
	if fmt.Sprint(got) != "[first run-1 run-2 run-3]" {
		t.Fatalf("client got %q, want first then the run", got)
	}
}

// TestClientQueueZeroAllocs: queueing and sending allocate nothing.
func TestClientQueueZeroAllocs(t *testing.T) {
	rig := newOutboxRig(t, 1, 4)
	var c counters
	q := newClientQueue(t, &c, rig.senders[0])
	payload := make([]byte, 120)
	b, err := netio.NewBatch(64, 2048, 0)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range 8 {
			q.add(rig.senders[0], rig.receivers[i%4].LocalAddr(), payload)
		}
		q.flush()
		for _, r := range rig.receivers {
			for {
				if _, err := r.RecvBatch(b); err != nil {
					break
				}
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("clientQueue: %v allocations per round", allocs)
	}
}

// BenchmarkClientQueue compares sending 32 datagrams from one socket to 32
// destinations with one sendmmsg (the queue) and with a sendto each; the
// time is per datagram and includes the receivers' reads, which loopback
// delivery makes part of every send.
func BenchmarkClientQueue(b *testing.B) {
	const fanout = clientQueueLen
	for _, mode := range []string{"sendmmsg", "sendto"} {
		b.Run(mode, func(b *testing.B) {
			rig := newOutboxRig(b, 1, fanout)
			var c counters
			q := newClientQueue(b, &c, rig.senders[0])
			in, err := netio.NewBatch(8, 2048, 0)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 104)
			var scratch netio.Scratch
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, r := range rig.receivers {
					if mode == "sendmmsg" {
						q.add(rig.senders[0], r.LocalAddr(), payload)
					} else if err := rig.senders[0].SendTo(payload, r.LocalAddr(), &scratch); err != nil {
						b.Fatal(err)
					}
				}
				q.flush()
				for _, r := range rig.receivers {
					if _, err := r.RecvBatch(in); err != nil && !errors.Is(err, netio.ErrWouldBlock) {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fanout), "ns/datagram")
			if d := c.drops[DropSendFailed].Load(); d != 0 {
				b.Fatalf("%d send failures", d)
			}
		})
	}
}
