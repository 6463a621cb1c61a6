package soak

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/loadtest"
)

// echoPeer is one UDP socket on loopback that sends every datagram back
// to its source, until closed.
type echoPeer struct {
	conn *net.UDPConn
	addr netip.AddrPort
	done chan struct{}
}

func newEchoPeer() (*echoPeer, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return nil, err
	}
	e := &echoPeer{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				c.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	return e, nil
}

// close ends the peer: its port is closed, so datagrams to it draw ICMP
// port unreachable.
func (e *echoPeer) close() {
	e.conn.Close()
	<-e.done
}

// dialer makes the soak's turnclient sessions with credentials that the
// secret at the head of the secrets file mints.
type dialer struct {
	p     *relayProcess
	roots *x509.CertPool
	ttl   time.Duration
}

func newDialer(p *relayProcess, ttl time.Duration) (*dialer, error) {
	pem, err := os.ReadFile(p.certFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("soak: %s holds no certificate", p.certFile)
	}
	return &dialer{p: p, roots: roots, ttl: ttl}, nil
}

func (d *dialer) dial(ctx context.Context, transport loadtest.Transport, user string) (*turnclient.Client, error) {
	name, pass := auth.MintREST([]byte(d.p.secret), user, d.ttl, time.Now())
	cfg := turnclient.Config{Username: name, Password: pass, Timeout: 10 * time.Second}
	switch transport {
	case loadtest.TransportUDP:
		cfg.Server, cfg.Transport = d.p.udp, turnclient.UDP
	case loadtest.TransportTCP:
		cfg.Server, cfg.Transport = d.p.tcp, turnclient.TCP
	case loadtest.TransportTLS:
		cfg.Server, cfg.Transport = d.p.tls, turnclient.TLS
		cfg.TLS = &tls.Config{RootCAs: d.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return turnclient.Dial(ctx, cfg)
}

// Vanished counts what was sent to peers after they vanished: expected
// loss, which the soak does not judge, and the ICMP errors the relay
// forwarded about them (RFC 8656 §11.5).
type Vanished struct {
	SentToVanished uint64 `json:"sent_to_vanished"`
	ICMPReceived   uint64 `json:"icmp_received"`
}

// peerRefreshEvery is how often a long-lived session refreshes its
// allocation and permission, well inside the permission's 300 s
// (RFC 8656 §9) and the allocation's 600 s.
const peerRefreshEvery = time.Minute

// vanishingPeers keeps one allocation over transport until ctx ends and
// every l.VanishEvery closes its echo peer, sends to the closed port
// anyway, and replaces the peer with a new one on another port. A cycle
// succeeds when a probe to the new peer comes back. Permissions are per
// IP address (RFC 8656 §9), so the one for 127.0.0.1 covers every peer.
func vanishingPeers(ctx context.Context, d *dialer, transport loadtest.Transport, l Load) (Cycles, Vanished) {
	var c Cycles
	var v Vanished
	cl, err := d.dial(ctx, transport, "soak-peers-"+string(transport))
	if err != nil {
		c.fail("dial")
		return c, v
	}
	defer cl.Close()
	if _, err := cl.Allocate(turnclient.AllocateOptions{}); err != nil {
		c.fail(fmt.Sprintf("allocate:%d", turnclient.Code(err)))
		return c, v
	}
	defer cl.Refresh(0, 0) // delete, so the allocation gauge returns to its start
	loopback := netip.MustParseAddr("127.0.0.1")
	if err := cl.CreatePermission(loopback); err != nil {
		c.fail(fmt.Sprintf("permission:%d", turnclient.Code(err)))
		return c, v
	}
	peer, err := newEchoPeer()
	if err != nil {
		c.fail("peer")
		return c, v
	}
	defer func() { peer.close() }()
	tick := time.NewTicker(l.VanishEvery)
	defer tick.Stop()
	lastRefresh := time.Now()
	buf := make([]byte, 2048)
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return c, v
		case <-tick.C:
		}
		if time.Since(lastRefresh) >= peerRefreshEvery {
			lastRefresh = time.Now()
			if _, err := cl.Refresh(10*time.Minute, 0); err != nil {
				c.fail(fmt.Sprintf("refresh:%d", turnclient.Code(err)))
				continue
			}
			if err := cl.CreatePermission(loopback); err != nil {
				c.fail(fmt.Sprintf("permission:%d", turnclient.Code(err)))
				continue
			}
		}
		gone := peer.addr
		peer.close()
		for range 5 {
			seq++
			if cl.Send(gone, probePayload(seq)) == nil {
				v.SentToVanished++
			}
		}
		if peer, err = newEchoPeer(); err != nil {
			c.fail("peer")
			return c, v
		}
		seq++
		ok, icmp := reachPeer(ctx, cl, peer.addr, seq, buf)
		v.ICMPReceived += icmp
		if ok {
			c.Attempted++
		} else if ctx.Err() == nil {
			c.fail("new peer unreachable")
		}
	}
}

// probePayload is a probe's bytes: a marker and its sequence number.
func probePayload(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("soak"), seq)
}

// reachPeer sends probe seq to peer, again every half second, until it
// comes back (within 10 s) and counts the ICMP errors seen meanwhile.
func reachPeer(ctx context.Context, cl *turnclient.Client, peer netip.AddrPort, seq uint64, buf []byte) (bool, uint64) {
	want := probePayload(seq)
	var icmp uint64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := cl.Send(peer, want); err != nil {
			return false, icmp
		}
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		for {
			ev, err := cl.Receive(wait, buf)
			if err != nil {
				break
			}
			if ev.Kind == turnclient.EventICMP {
				icmp++
			}
			if ev.Kind == turnclient.EventData && ev.Data.Peer == peer && bytes.Equal(ev.Data.Payload, want) {
				cancel()
				return true, icmp
			}
		}
		cancel()
	}
	return false, icmp
}

// cutShort is stall's outcome when the soak ended before the cycle got
// anywhere.
const cutShort = "cut short"

// stalledClients runs n clients, TCP and TLS in turn, until ctx ends; see
// stall.
func stalledClients(ctx context.Context, d *dialer, l Load) Cycles {
	results := make([]Cycles, l.Stalled)
	var wg sync.WaitGroup
	for i := range l.Stalled {
		transport := loadtest.TransportTCP
		if i%2 == 1 {
			transport = loadtest.TransportTLS
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				switch err := stall(ctx, d, transport, i, l); err {
				case "":
					results[i].Attempted++
				case cutShort:
				default:
					results[i].fail(err)
					// Not a busy loop when the relay refuses.
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		})
	}
	wg.Wait()
	var all Cycles
	for _, r := range results {
		all.merge(r)
	}
	return all
}

// stall is one cycle of a client that stops reading: connect, allocate,
// permit loopback, see one datagram from a peer arrive, then stop reading
// while the peer keeps sending l.StallRate bytes a second for l.StallHold
// (the relay must drop what does not fit its write budget, not hold it),
// and hang up; the allocation ends with the connection (RFC 8656 §3.1).
// It returns what failed, "" for success, or cutShort when ctx ended
// before the client had its first datagram (not counted); a cycle cut
// short by ctx's end after that counts as a success.
func stall(ctx context.Context, d *dialer, transport loadtest.Transport, i int, l Load) string {
	cl, err := d.dial(ctx, transport, fmt.Sprintf("soak-stalled-%d", i))
	if err != nil {
		if ctx.Err() != nil {
			return cutShort
		}
		return "dial"
	}
	defer cl.Close()
	a, err := cl.Allocate(turnclient.AllocateOptions{})
	if err != nil {
		return fmt.Sprintf("allocate:%d", turnclient.Code(err))
	}
	if err := cl.CreatePermission(netip.MustParseAddr("127.0.0.1")); err != nil {
		return fmt.Sprintf("permission:%d", turnclient.Code(err))
	}
	sender, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return "peer"
	}
	defer sender.Close()
	relayed := net.UDPAddrFromAddrPort(a.Relayed[0])
	// The first datagram must arrive: the client works before it hangs.
	hello := []byte("soak: before the stall")
	buf := make([]byte, 2048)
	arrived := false
	for try := 0; try < 20 && !arrived && ctx.Err() == nil; try++ {
		sender.WriteToUDP(hello, relayed)
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		ev, err := cl.Receive(wait, buf)
		cancel()
		arrived = err == nil && ev.Kind == turnclient.EventData && bytes.Equal(ev.Data.Payload, hello)
	}
	if !arrived {
		if ctx.Err() != nil {
			return cutShort
		}
		return "no data before the stall"
	}
	cl.StopReading()
	const datagram, every = 1000, 10 * time.Millisecond
	perTick := max(1, l.StallRate*int(every/time.Millisecond)/1000/datagram)
	data := make([]byte, datagram)
	tick := time.NewTicker(every)
	defer tick.Stop()
	until := time.Now().Add(l.StallHold)
	for time.Now().Before(until) {
		select {
		case <-ctx.Done():
			return ""
		case <-tick.C:
		}
		for range perTick {
			sender.WriteToUDP(data, relayed)
		}
	}
	return ""
}
