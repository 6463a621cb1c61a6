package turncore

import (
	"container/heap"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// ConnID is a CONNECTION-ID (RFC 6062 §6.2.1): the name of one peer data
// connection between its Connect or ConnectionAttempt and its
// ConnectionBind. It is drawn at random, never counted up, so that one
// client cannot guess (and bind) another's connection.
type ConnID uint32

// Defaults of TCPConfig.
const (
	// DefaultConnectTimeout is RFC 6062 §5.2's lower bound for the time
	// the relay waits for a peer to accept a connection (coturn waits as
	// long).
	DefaultConnectTimeout = 30 * time.Second
	// ConnectionBindTimeout is how long a peer data connection waits for
	// its ConnectionBind (RFC 6062 §5.3: 30 s, then it is closed).
	ConnectionBindTimeout = 30 * time.Second
	// DefaultMaxConnectionsPerAllocation bounds peer data connections per
	// TCP allocation.
	DefaultMaxConnectionsPerAllocation = 64
	// DefaultMaxConnectionsPerUser bounds peer data connections per user
	// over all of the user's allocations.
	DefaultMaxConnectionsPerUser = 256
	// DefaultMaxPendingConnections bounds the relay's connections that are
	// being opened or wait for their ConnectionBind.
	DefaultMaxPendingConnections = 4096
)

// TCPConfig turns on TCP relaying (RFC 6062) and bounds it. With Enabled
// false an Allocate for TCP gets 442 (RFC 8656 §7.2 step 3) and Connect and
// ConnectionBind are unknown methods.
type TCPConfig struct {
	Enabled bool
	// ConnectTimeout bounds a Connect's outbound connection (RFC 6062
	// §5.2, 447 after it); 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxPerAllocation, MaxPerUser and MaxPending bound peer data
	// connections per allocation, per user and (being opened or waiting
	// for ConnectionBind) in the whole relay; 0 means the default.
	MaxPerAllocation, MaxPerUser, MaxPending int
	// ConnIDRand fills b with unpredictable bytes for CONNECTION-IDs;
	// nil means crypto/rand. Must be safe for concurrent use.
	ConnIDRand func(b []byte)
}

func (tc *TCPConfig) withDefaults() {
	if tc.ConnectTimeout <= 0 {
		tc.ConnectTimeout = DefaultConnectTimeout
	}
	if tc.MaxPerAllocation <= 0 {
		tc.MaxPerAllocation = DefaultMaxConnectionsPerAllocation
	}
	if tc.MaxPerUser <= 0 {
		tc.MaxPerUser = DefaultMaxConnectionsPerUser
	}
	if tc.MaxPending <= 0 {
		tc.MaxPending = DefaultMaxPendingConnections
	}
	if tc.ConnIDRand == nil {
		tc.ConnIDRand = func(b []byte) { crand.Read(b) }
	}
}

// Refusals of AcceptPeer (RFC 6062 §5.3: the relay rejects an incoming
// connection without permission or beyond its capacity).
var (
	ErrNotTCPAllocation = errors.New("turncore: not a TCP allocation")
	ErrNoPermission     = errors.New("turncore: no permission for the peer")
	ErrConnectionLimit  = errors.New("turncore: peer connection limit reached")
	ErrDraining         = errors.New("turncore: draining")
	ErrExtensionRefused = errors.New("turncore: the extension refused the peer")
)

// connState is where a peer data connection stands.
type connState uint8

const (
	// connConnecting: a Connect's outbound connection is being opened.
	connConnecting connState = iota + 1
	// connPending: open, waiting for its ConnectionBind (RFC 6062 §5.3,
	// §5.4).
	connPending
	// connBound: a client data connection is bound to it; bytes flow.
	connBound
)

// deferredAnswer is what a Connect's final answer, built after the shell's
// connection attempt, needs of the request (RFC 8489 §9.2.4: the response
// is integrity-protected with the request's key and algorithm).
type deferredAnswer struct {
	txID        [12]byte
	key         auth.Key
	sha256      bool
	fingerprint bool
}

// tcpConn is one peer data connection of a TCP allocation.
type tcpConn struct {
	id       ConnID
	alloc    *allocation.Allocation
	peer     netip.AddrPort
	state    connState
	deadline mono.Time
	handle   any // the shell's peer connection; nil while connecting
	answer   deferredAnswer
	index    int // position in the deadline heap; -1 when not in it
}

type peerKey struct {
	alloc *allocation.Allocation
	peer  netip.AddrPort
}

// tcpConns is the core's record of peer data connections. Its mutex is
// taken by control messages only (Connect, ConnectionBind, accepts, closes,
// expiry), never by the bytes a bound connection carries.
type tcpConns struct {
	mu      sync.Mutex
	byID    map[ConnID]*tcpConn
	byPeer  map[peerKey]*tcpConn
	byAlloc map[*allocation.Allocation][]*tcpConn
	perUser map[string]int
	// unbound counts connections being opened or waiting for their bind.
	unbound int
	due     connHeap
}

func newTCPConns() *tcpConns {
	return &tcpConns{
		byID:    map[ConnID]*tcpConn{},
		byPeer:  map[peerKey]*tcpConn{},
		byAlloc: map[*allocation.Allocation][]*tcpConn{},
		perUser: map[string]int{},
	}
}

// connHeap orders the unbound connections by deadline: one queue swept by
// the shell's housekeeping timer, no timer per connection.
type connHeap []*tcpConn

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h connHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *connHeap) Push(x any) {
	c := x.(*tcpConn)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *connHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.index = -1
	return c
}

// roomLocked reports whether a's user may have one more connection.
func (t *tcpConns) roomLocked(cfg *TCPConfig, a *allocation.Allocation) bool {
	return len(t.byAlloc[a]) < cfg.MaxPerAllocation &&
		t.perUser[a.User] < cfg.MaxPerUser &&
		t.unbound < cfg.MaxPending
}

// addLocked records a new unbound connection with a fresh random ID.
func (t *tcpConns) addLocked(cfg *TCPConfig, c *tcpConn) {
	var b [4]byte
	for {
		cfg.ConnIDRand(b[:])
		id := ConnID(binary.BigEndian.Uint32(b[:]))
		if _, taken := t.byID[id]; !taken && id != 0 {
			c.id = id
			break
		}
	}
	t.byID[c.id] = c
	t.byPeer[peerKey{c.alloc, c.peer}] = c
	t.byAlloc[c.alloc] = append(t.byAlloc[c.alloc], c)
	t.perUser[c.alloc.User]++
	t.unbound++
	heap.Push(&t.due, c)
}

// removeLocked forgets c and gives its slots back.
func (t *tcpConns) removeLocked(c *tcpConn) {
	delete(t.byID, c.id)
	if k := (peerKey{c.alloc, c.peer}); t.byPeer[k] == c {
		delete(t.byPeer, k)
	}
	list := t.byAlloc[c.alloc]
	for i, o := range list {
		if o == c {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(t.byAlloc, c.alloc)
	} else {
		t.byAlloc[c.alloc] = list
	}
	if t.perUser[c.alloc.User]--; t.perUser[c.alloc.User] <= 0 {
		delete(t.perUser, c.alloc.User)
	}
	t.unboundDoneLocked(c)
}

// unboundDoneLocked takes c off the deadline queue and the unbound count.
func (t *tcpConns) unboundDoneLocked(c *tcpConn) {
	if c.index >= 0 {
		heap.Remove(&t.due, c.index)
		t.unbound--
	}
}

// TCPStats is a snapshot of the peer data connections.
type TCPStats struct {
	Connections int // every connection the core knows, bound or not
	Unbound     int // being opened or waiting for ConnectionBind
}

// TCPStats counts the peer data connections.
func (c *Core) TCPStats() TCPStats {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	return TCPStats{Connections: len(t.byID), Unbound: t.unbound}
}

// ConnectAnswer is the core's decision on a Connect's connection attempt.
type ConnectAnswer struct {
	// Alloc is the allocation whose control connection gets Response;
	// nil when the Connect was answered already (it timed out, or the
	// allocation ended).
	Alloc *allocation.Allocation
	// Response is the Connect's success (with CONNECTION-ID) or its 447
	// (RFC 6062 §5.2); nil with Alloc.
	Response []byte
	// Close: the shell closes the connection it reported, which no
	// Connect waits for any more.
	Close bool
}

// ConnectDone is the shell's report on the outbound connection an
// ActConnect asked for: handle is the open connection when ok. The answer
// says what goes to the client and whether to close handle.
func (c *Core) ConnectDone(id ConnID, handle any, ok bool, now mono.Time) ConnectAnswer {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	conn := t.byID[id]
	if conn == nil || conn.state != connConnecting {
		return ConnectAnswer{Close: ok}
	}
	if !ok {
		t.removeLocked(conn)
		return ConnectAnswer{Alloc: conn.alloc, Response: c.connectAnswer(conn, 447)}
	}
	// RFC 6062 §5.2: the connection now waits for its ConnectionBind, as
	// long as an accepted one (§5.3).
	conn.state, conn.handle = connPending, handle
	conn.deadline = now.Add(ConnectionBindTimeout)
	heap.Fix(&t.due, conn.index)
	return ConnectAnswer{Alloc: conn.alloc, Response: c.connectAnswer(conn, 0)}
}

// connectAnswer builds a Connect's final response: success with
// CONNECTION-ID (RFC 6062 §5.2) when code is 0, the error otherwise.
func (c *Core) connectAnswer(conn *tcpConn, code int) []byte {
	var b stunmsg.Builder
	class := stunmsg.Success
	if code != 0 {
		class = stunmsg.Error
	}
	b.Reset(make([]byte, 0, 256), stunmsg.MessageType(stunmsg.Connect, class), conn.answer.txID)
	if code != 0 {
		b.AddErrorCode(code, "")
	} else {
		b.AddUint32(stunmsg.AttrConnectionID, uint32(conn.id))
	}
	if sw := c.cfg.Software; sw != "" {
		b.Add(stunmsg.AttrSoftware, []byte(sw))
	}
	if conn.answer.sha256 {
		b.AddIntegritySHA256(conn.answer.key[:])
	} else {
		b.AddIntegrity(conn.answer.key[:])
	}
	if conn.answer.fingerprint {
		b.AddFingerprint()
	}
	out, err := b.Bytes()
	if err != nil {
		// Bounded far below the buffer; a failure here is a bug, and
		// silence is the answer that does not mislead.
		return nil
	}
	return out
}

// AcceptPeer decides on a TCP connection a peer opened to a's relayed
// address (RFC 6062 §5.3): accepted only from a peer with a permission and
// within the limits, and then named by a CONNECTION-ID. handle is the
// shell's connection. The returned indication is the ConnectionAttempt for
// a's control connection. On an error the shell closes the connection.
func (c *Core) AcceptPeer(a *allocation.Allocation, peer netip.AddrPort, handle any, now mono.Time) (ConnID, []byte, error) {
	if !c.cfg.TCP.Enabled || !stateOf(a).tcp {
		return 0, nil, ErrNotTCPAllocation
	}
	if c.draining.Load() {
		// A draining relay starts nothing new; open connections go on.
		return 0, nil, ErrDraining
	}
	peer = peerAddr(peer)
	if h := stateOf(a).hook; h != nil {
		if err := h.AcceptPeer(peer, now); err != nil {
			return 0, nil, ErrExtensionRefused
		}
	}
	if !a.Permitted(peer.Addr(), now) {
		return 0, nil, ErrNoPermission
	}
	t := c.tcp
	t.mu.Lock()
	if _, exists := t.byPeer[peerKey{a, peer}]; exists || !t.roomLocked(&c.cfg.TCP, a) {
		t.mu.Unlock()
		return 0, nil, ErrConnectionLimit
	}
	conn := &tcpConn{alloc: a, peer: peer, state: connPending, handle: handle, deadline: now.Add(ConnectionBindTimeout), index: -1}
	t.addLocked(&c.cfg.TCP, conn)
	t.mu.Unlock()

	var txID [12]byte
	c.cfg.TCP.ConnIDRand(txID[:])
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 96), stunmsg.MessageType(stunmsg.ConnectionAttempt, stunmsg.Indication), txID)
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.AddUint32(stunmsg.AttrConnectionID, uint32(conn.id))
	ind, _ := b.Bytes()
	return conn.id, ind, nil
}

// ConnectionClosed tells the core that the shell closed connection id (its
// peer or its client hung up, or it idled out); its slots are free again.
// It reports whether the core still knew the connection.
func (c *Core) ConnectionClosed(id ConnID) bool {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	conn := t.byID[id]
	if conn == nil {
		return false
	}
	t.removeLocked(conn)
	return true
}

// CloseConnectionsOf ends every peer data connection of a, which is being
// deleted (RFC 8656 §7: an allocation's resources go with it), and appends
// an ActCloseConnection for each. The core calls it for the deletions it
// decides; a shell that deletes an allocation itself (its control
// connection closed) calls it too.
func (c *Core) CloseConnectionsOf(a *allocation.Allocation, dst []Action) []Action {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.byAlloc[a]) > 0 {
		conn := t.byAlloc[a][0]
		dst = append(dst, Action{Kind: ActCloseConnection, Alloc: a, Conn: conn.id, Handle: conn.handle})
		t.removeLocked(conn)
	}
	return dst
}

// expireConnections ends the unbound connections due at now: a Connect
// still waiting is answered 447 (RFC 6062 §5.2), a connection nobody bound
// in 30 s is closed (§5.3).
func (c *Core) expireConnections(now mono.Time, dst []Action) []Action {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.due) > 0 && t.due[0].deadline <= now {
		conn := t.due[0]
		act := Action{Kind: ActCloseConnection, Alloc: conn.alloc, Conn: conn.id, Handle: conn.handle, Expired: true}
		if conn.state == connConnecting {
			act.Data = c.connectAnswer(conn, 447)
		}
		t.removeLocked(conn)
		dst = append(dst, act)
	}
	return dst
}

// NextConnectionDeadline is the earliest deadline of an unbound
// connection, for the shell's timer.
func (c *Core) NextConnectionDeadline() (mono.Time, bool) {
	t := c.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.due) == 0 {
		return 0, false
	}
	return t.due[0].deadline, true
}
