package turnclient

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Transport is the client-to-relay transport (RFC 8656 §3.1).
type Transport uint8

// Transports.
const (
	UDP Transport = iota
	TCP
	TLS // TLS over TCP (RFC 8656 §3.1)
)

func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	}
	return "unknown"
}

// Family is an address family as carried in REQUESTED-ADDRESS-FAMILY,
// ADDITIONAL-ADDRESS-FAMILY and ADDRESS-ERROR-CODE (RFC 8656 §18.6, §18.11,
// §18.12). The zero Family means "not given".
type Family uint8

// Address families (RFC 8489 §14.1).
const (
	FamilyIPv4 Family = 0x01
	FamilyIPv6 Family = 0x02
)

func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "IPv4"
	case FamilyIPv6:
		return "IPv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// FamilyOf returns the family of addr (IPv4-mapped IPv6 addresses count as
// IPv4).
func FamilyOf(addr netip.Addr) Family {
	if addr.Unmap().Is4() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// Defaults of Config.
const (
	// DefaultRTO is RFC 8489 §6.2.1's initial retransmission timeout.
	DefaultRTO = 500 * time.Millisecond
	// DefaultReadBufferSize holds the largest UDP datagram and the largest
	// stream frame (stunmsg.MaxFrameLength).
	DefaultReadBufferSize = 65556
	// DefaultQueueLength is the number of received events held for Receive.
	DefaultQueueLength = 64
)

// RFC 8489 §6.2.1 and §6.2.2 transaction timing: Rc requests over UDP, then
// Rm initial RTOs of waiting; 39.5 s (Ti) over streams.
const (
	requestCount     = 7
	lastWaitRTOs     = 16
	streamTxnTimeout = 39500 * time.Millisecond
)

// Config describes one TURN session. Server, Username and Password are
// required.
type Config struct {
	Server    netip.AddrPort // the relay's address
	Transport Transport
	// TLS configures the TLS handshake (server name, roots) for Transport
	// TLS; nil is an error for TLS and ignored otherwise.
	TLS *tls.Config
	// Local is the local address to bind; the zero value lets the kernel
	// choose.
	Local netip.AddrPort

	// Username and Password are the long-term credentials (RFC 8489 §9.2);
	// a TURN REST credential is used as is. The realm is learned from the
	// relay's 401 challenge.
	Username, Password string
	// Software, when set, is sent in every request (RFC 8489 §14.14).
	Software string

	// RTO is the initial retransmission timeout over UDP, doubled after
	// every retransmission (RFC 8489 §6.2.1); 0 means DefaultRTO.
	RTO time.Duration
	// Timeout bounds one request from first send to its answer; 0 means
	// RFC 8489's own bound (Rc = 7 sends then 16 RTOs over UDP, 39.5 s
	// over streams).
	Timeout time.Duration
	// ReadBufferSize is the receive buffer in bytes: larger datagrams are
	// truncated by the kernel, larger stream frames end the session.
	// 0 means DefaultReadBufferSize; load generators with thousands of
	// clients may pick their largest message size instead.
	ReadBufferSize int
	// QueueLength is the number of data and ICMP events buffered for
	// Receive; 0 means DefaultQueueLength.
	QueueLength int
}

// Client is one TURN session. Create it with Dial and release it with
// Close. All methods are safe for concurrent use.
type Client struct {
	cfg    Config
	conn   net.Conn
	stream bool
	local  netip.AddrPort

	// mu guards the credential state, the pending transactions and the
	// channel maps.
	mu             sync.RWMutex
	realm, nonce   string
	key            [16]byte
	pending        map[[12]byte]*transaction
	channelsByPeer map[netip.AddrPort]uint16
	peersByChannel map[uint16]netip.AddrPort

	// writeMu serializes writes (a stream must not interleave frames) and
	// guards wbuf and rng.
	writeMu sync.Mutex
	wbuf    []byte
	rng     *rand.ChaCha8

	ring    []slot
	free    chan int
	ready   chan int
	dropped atomic.Uint64

	closeOnce sync.Once
	closing   atomic.Bool
	closed    chan struct{} // closed by Close, wakes a reader held by StopReading
	stopRead  atomic.Bool   // StopReading was called
	dead      chan struct{} // closed when the reader has stopped
	readErr   error         // why the reader stopped; set before dead closes
}

// Dial connects to the relay (for TLS, including the handshake, bounded by
// ctx) and starts the client's reader. It sends nothing else: the first
// request learns the realm and nonce.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if !cfg.Server.IsValid() {
		return nil, errors.New("turnclient: Config.Server is required")
	}
	if cfg.Username == "" {
		return nil, errors.New("turnclient: Config.Username is required")
	}
	if cfg.Transport == TLS && cfg.TLS == nil {
		return nil, errors.New("turnclient: Config.TLS is required for TLS")
	}
	if cfg.Transport > TLS {
		return nil, fmt.Errorf("turnclient: unknown transport %d", cfg.Transport)
	}
	if cfg.RTO <= 0 {
		cfg.RTO = DefaultRTO
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.QueueLength <= 0 {
		cfg.QueueLength = DefaultQueueLength
	}
	conn, err := dial(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	crand.Read(seed[:])
	c := &Client{
		cfg:            cfg,
		conn:           conn,
		stream:         cfg.Transport != UDP,
		pending:        make(map[[12]byte]*transaction),
		channelsByPeer: make(map[netip.AddrPort]uint16),
		peersByChannel: make(map[uint16]netip.AddrPort),
		rng:            rand.NewChaCha8(seed),
		ring:           make([]slot, cfg.QueueLength),
		free:           make(chan int, cfg.QueueLength),
		ready:          make(chan int, cfg.QueueLength),
		closed:         make(chan struct{}),
		dead:           make(chan struct{}),
	}
	c.local = addrPortOf(conn.LocalAddr())
	for i := range c.ring {
		c.free <- i
	}
	go c.readLoop()
	return c, nil
}

// dial opens the transport connection of cfg.
func dial(ctx context.Context, cfg *Config) (net.Conn, error) {
	d := net.Dialer{}
	network := "udp"
	if cfg.Transport != UDP {
		network = "tcp"
	}
	if cfg.Local.IsValid() {
		if cfg.Transport == UDP {
			d.LocalAddr = net.UDPAddrFromAddrPort(cfg.Local)
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(cfg.Local)
		}
	}
	conn, err := d.DialContext(ctx, network, cfg.Server.String())
	if err != nil {
		return nil, fmt.Errorf("turnclient: %w", err)
	}
	if cfg.Transport != TLS {
		return conn, nil
	}
	tc := tls.Client(conn, cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("turnclient: TLS handshake: %w", err)
	}
	return tc, nil
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// LocalAddr is the client's side of the 5-tuple.
func (c *Client) LocalAddr() netip.AddrPort { return c.local }

// Dropped counts the data and ICMP events discarded because Receive did not
// keep up, plus ChannelData received on a channel this client never bound
// (RFC 8656 §12.7 discards those).
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close closes the connection and stops the reader. It does not delete the
// allocation (Refresh with lifetime 0 does); over UDP the relay lets it
// expire, over TCP and TLS closing the connection ends it (RFC 8656 §3.1).
// Requests in flight and Receive calls return ErrClosed.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.closed)
		err = c.conn.Close()
		<-c.dead
	})
	return err
}

// StopReading makes the client behave as an application that hangs: its
// reader takes no more bytes from the connection (after the frame it may be
// reading now), so over TCP and TLS the relay's writes to it back up, and
// responses and data stop arriving. Requests then time out. Only Close
// ends such a client; tests use it to hold a relay's write queue full.
func (c *Client) StopReading() { c.stopRead.Store(true) }

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("turnclient: client closed")

// failure returns why the reader stopped, for calls that found it dead.
func (c *Client) failure() error {
	if c.closing.Load() || c.readErr == nil {
		return ErrClosed
	}
	return c.readErr
}

// readLoop is the client's only reader. It runs until the connection fails
// or is closed.
func (c *Client) readLoop() {
	var err error
	defer func() {
		if !c.closing.Load() {
			c.readErr = fmt.Errorf("turnclient: connection lost: %w", err)
		}
		close(c.dead)
	}()
	buf := make([]byte, c.cfg.ReadBufferSize)
	var br *bufio.Reader
	if c.stream {
		br = bufio.NewReaderSize(c.conn, 32*1024)
	}
	var m stunmsg.Message
	for {
		if c.stopRead.Load() {
			<-c.closed
			return
		}
		var msg []byte
		if c.stream {
			msg, err = readFrame(br, buf)
		} else {
			var n int
			n, err = c.conn.Read(buf)
			// A connected UDP socket reports an ICMP error about an earlier
			// send (the relay's port closed) once, as ECONNREFUSED; the
			// socket stays usable.
			if errors.Is(err, syscall.ECONNREFUSED) && !c.closing.Load() {
				continue
			}
			msg = buf[:n]
		}
		if err != nil {
			return
		}
		c.handle(&m, msg)
	}
}

// readFrame reads one STUN message or ChannelData frame from a stream
// (RFC 8656 §12.5: ChannelData padded to a multiple of 4) into buf.
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	total, ok := stunmsg.LegacyChannels.FrameLength(buf[:4])
	if !ok {
		return nil, errors.New("stream out of sync: neither STUN nor ChannelData")
	}
	if total > len(buf) {
		return nil, fmt.Errorf("frame of %d bytes exceeds the %d-byte read buffer", total, len(buf))
	}
	if _, err := io.ReadFull(r, buf[4:total]); err != nil {
		return nil, err
	}
	return buf[:total], nil
}

// handle dispatches one received message: responses to their transaction,
// data and ICMP to the receive queue. msg is only read during the call.
func (c *Client) handle(m *stunmsg.Message, msg []byte) {
	in, kind := decodeInbound(m, msg, c.channelPeer)
	switch kind {
	case inboundResponse:
		c.deliverResponse(m.TransactionID, msg)
	case inboundEvent:
		c.enqueue(&in)
	case inboundUnboundChannel:
		c.dropped.Add(1)
	}
}

// write sends one complete message, serialized with every other write.
func (c *Client) write(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeLocked(b)
}

func (c *Client) writeLocked(b []byte) error {
	_, err := c.conn.Write(b)
	if err != nil && !c.stream && errors.Is(err, syscall.ECONNREFUSED) {
		// An ICMP error about an earlier datagram surfaces once on the
		// next call of a connected UDP socket; this datagram was not sent.
		_, err = c.conn.Write(b)
	}
	if err != nil {
		if c.closing.Load() {
			return ErrClosed
		}
		return fmt.Errorf("turnclient: %w", err)
	}
	return nil
}
