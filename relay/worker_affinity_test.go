package relay

import "testing"

// TestRelayedSocketsFollowTheListener: a UDP client's relayed socket is
// polled by the worker that polls the listener socket the client's
// datagrams arrive on, so both directions of an allocation run on one loop.
func TestRelayedSocketsFollowTheListener(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Workers = 4 })
	const clients = 24
	for range clients {
		c := newRawClient(t, ts.udp, "udp")
		c.allocate()
	}
	relays, perWorker := 0, map[*worker]int{}
	for _, w := range ts.workers {
		w.mu.Lock()
		for _, e := range w.entries {
			if e.relay == nil {
				continue
			}
			relays++
			perWorker[w]++
			listener := e.relay.sess.client.udp
			if owner := ts.listenerOwner[listener]; owner != w {
				t.Errorf("relayed socket polled by worker %d, its client's listener by worker %v", w.id, owner)
			}
		}
		w.mu.Unlock()
	}
	if relays != clients {
		t.Fatalf("%d relayed sockets polled, want %d", relays, clients)
	}
	// SO_REUSEPORT spreads 24 client ports over the 4 listener sockets;
	// all on one would mean the affinity collapsed the loops into one.
	if len(perWorker) < 2 {
		t.Fatalf("every relayed socket on one worker: %v", perWorker)
	}
}
