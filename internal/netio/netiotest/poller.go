package netiotest

import (
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Poller is a fake readiness poller over a Network's Sockets
// (netio.EventPoller), level-triggered like epoll: every Wait reports each
// registered socket that has datagrams queued or an error pending, in the
// order the Sockets were added.
type Poller struct {
	net     *Network
	ready   chan struct{} // a registered socket may have become ready
	wake    chan struct{} // Wake or Close was called
	waiting sync.Mutex

	// Guarded by net.mu.
	members []member
	closed  bool
}

type member struct {
	conn  *Socket
	token uint64
}

func newPoller(n *Network) *Poller {
	return &Poller{net: n, ready: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
}

// notify signals a waiting Wait; the caller holds net.mu.
func (p *Poller) notify() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// Add registers c under token.
func (p *Poller) Add(c netio.BatchSocket, token uint64) error {
	fc, ok := c.(*Socket)
	if !ok || fc.net != p.net {
		return netio.ErrForeignSocket
	}
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	if fc.closed || p.closed {
		return netio.ErrClosed
	}
	if fc.poller != nil {
		return netio.ErrAlreadyRegistered
	}
	fc.poller = p
	p.members = append(p.members, member{conn: fc, token: token})
	p.notify()
	return nil
}

// Remove unregisters c.
func (p *Poller) Remove(c netio.BatchSocket) error {
	fc, ok := c.(*Socket)
	if !ok {
		return netio.ErrNotRegistered
	}
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	if fc.poller != p {
		return netio.ErrNotRegistered
	}
	p.removeLocked(fc)
	return nil
}

func (p *Poller) removeLocked(c *Socket) {
	for i, m := range p.members {
		if m.conn == c {
			p.members = append(p.members[:i:i], p.members[i+1:]...)
			break
		}
	}
	c.poller = nil
}

// Wait reports the ready Sockets, waiting for one up to timeout (negative:
// no limit; zero: poll). Wake and the timeout return 0.
func (p *Poller) Wait(events []netio.Event, timeout time.Duration) (int, error) {
	if len(events) == 0 {
		return 0, netio.ErrBounds
	}
	if !p.waiting.TryLock() {
		return 0, netio.ErrConcurrentWait
	}
	defer p.waiting.Unlock()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		n, err := p.collect(events)
		if err != nil || n > 0 || timeout == 0 {
			return n, err
		}
		select {
		case <-p.ready:
		case <-p.wake:
			if p.isClosed() {
				return 0, netio.ErrClosed
			}
			return 0, nil
		case <-expired:
			return 0, nil
		}
	}
}

func (p *Poller) isClosed() bool {
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	return p.closed
}

// collect stores the events of the ready members.
func (p *Poller) collect(events []netio.Event) (int, error) {
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	if p.closed {
		return 0, netio.ErrClosed
	}
	n := 0
	for _, m := range p.members {
		if n == len(events) {
			// The rest stay ready and are reported by the next Wait.
			p.notify()
			break
		}
		readable, hasError := m.conn.readyLocked()
		if readable || hasError {
			events[n] = netio.Event{Token: m.token, Socket: m.conn, Readable: readable, Error: hasError}
			n++
		}
	}
	return n, nil
}

// Wake makes the current or next Wait return 0.
func (p *Poller) Wake() error {
	if p.isClosed() {
		return netio.ErrClosed
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close ends every registration and makes Wait return netio.ErrClosed.
func (p *Poller) Close() error {
	p.net.mu.Lock()
	if p.closed {
		p.net.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, m := range p.members {
		m.conn.poller = nil
	}
	p.members = nil
	p.net.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Interface checks.
var (
	_ netio.Network     = (*Network)(nil)
	_ netio.BatchSocket = (*Socket)(nil)
	_ netio.EventPoller = (*Poller)(nil)
)
