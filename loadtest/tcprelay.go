package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v3"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// MaxTCPConnections bounds ModeTCP's Allocations: each is a control
// connection, a data connection and a peer connection with a goroutine per
// direction in this process.
const MaxTCPConnections = 256

// tcpChunk is the size of one write of bulk data, on the client and on the
// echo peer alike.
const tcpChunk = 16 << 10

// TCPResult describes TCP relaying (RFC 6062) in the measured window. Bytes
// are counted where they arrive: at the echo peer (client to peer through
// the relay) and back at the client (peer to client), so bytes still in a
// socket buffer when the window ends are not counted as relayed.
type TCPResult struct {
	// Connections is how many relayed connections streamed data.
	Connections int `json:"connections"`
	// ToPeerBytes is what the echo peers read, FromPeerBytes what the
	// clients read back; RelayedBytes is their sum, what the server carried
	// both ways.
	ToPeerBytes   uint64 `json:"to_peer_bytes"`
	FromPeerBytes uint64 `json:"from_peer_bytes"`
	RelayedBytes  uint64 `json:"relayed_bytes"`
	// PerConnectionMBps is each connection's relayed bytes (both ways) per
	// second, in MB/s (10^6 bytes); MedianMBps, MinMBps and MaxMBps
	// summarise them.
	PerConnectionMBps []float64 `json:"per_connection_mbps"`
	MedianMBps        float64   `json:"median_mbps"`
	MinMBps           float64   `json:"min_mbps"`
	MaxMBps           float64   `json:"max_mbps"`
}

// tcpCounts is one connection's byte counts at an instant.
type tcpCounts struct {
	toPeer, fromPeer uint64
}

// tcpAccount turns the connections' counts at the start and the end of a
// window of seconds into a TCPResult.
func tcpAccount(start, end []tcpCounts, seconds float64) *TCPResult {
	r := &TCPResult{Connections: len(end)}
	for i := range end {
		to, from := end[i].toPeer-start[i].toPeer, end[i].fromPeer-start[i].fromPeer
		r.ToPeerBytes += to
		r.FromPeerBytes += from
		if seconds > 0 {
			r.PerConnectionMBps = append(r.PerConnectionMBps, float64(to+from)/seconds/1e6)
		}
	}
	r.RelayedBytes = r.ToPeerBytes + r.FromPeerBytes
	if n := len(r.PerConnectionMBps); n > 0 {
		sorted := slices.Sorted(slices.Values(r.PerConnectionMBps))
		r.MinMBps, r.MaxMBps = sorted[0], sorted[n-1]
		r.MedianMBps = sorted[n/2]
		if n%2 == 0 {
			r.MedianMBps = (sorted[n/2-1] + sorted[n/2]) / 2
		}
	}
	return r
}

// perMB is d in microseconds per 10^6 of bytes (0 without bytes).
func perMB(d time.Duration, bytes uint64) float64 {
	if bytes == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1e3 / (float64(bytes) / 1e6)
}

// tcpStream is one relayed TCP connection: the TURN client with its TCP
// allocation, the data connection bound to it, and the echo peer at the
// other end.
type tcpStream struct {
	control net.Conn
	client  *turn.Client
	alloc   interface{ Close() error }
	data    net.Conn
	peerL   net.Listener

	mu   sync.Mutex
	peer net.Conn // the relay's connection as the echo peer accepted it

	toPeer, fromPeer atomic.Uint64
}

func (s *tcpStream) counts() tcpCounts {
	return tcpCounts{toPeer: s.toPeer.Load(), fromPeer: s.fromPeer.Load()}
}

// close ends every connection of the stream; blocked reads and writes
// return.
func (s *tcpStream) close() {
	if s.data != nil {
		s.data.Close()
	}
	s.mu.Lock()
	if s.peer != nil {
		s.peer.Close()
	}
	s.mu.Unlock()
	s.peerL.Close()
	if s.alloc != nil {
		s.alloc.Close() // a Refresh with lifetime 0 (RFC 8656 §7)
	}
	if s.client != nil {
		s.client.Close()
	}
	s.control.Close()
}

// openTCPStream makes allocation i's relayed TCP connection: a loopback echo
// peer listening, a TCP allocation over a TCP control connection, Connect to
// the peer (RFC 6062 §5.2) and ConnectionBind on a data connection (§5.4).
func openTCPStream(cfg *Config, t target, i int) (*tcpStream, error) {
	peerL, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(cfg.PeerIP, 0)))
	if err != nil {
		return nil, &opError{"peer", err}
	}
	control, err := net.DialTimeout("tcp", t.addr.String(), cfg.RequestTimeout)
	if err != nil {
		peerL.Close()
		return nil, &opError{"dial", err}
	}
	s := &tcpStream{control: control, peerL: peerL}
	go s.acceptPeer()
	fail := func(op string, err error) (*tcpStream, error) {
		s.close()
		return nil, &opError{op, err}
	}
	user, pass := credentials(cfg, i, time.Now())
	s.client, err = turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: t.addr.String(),
		Conn:           turn.NewSTUNConn(control),
		Username:       user,
		Password:       pass,
		LoggerFactory:  quietLoggers{},
	})
	if err != nil {
		return fail("allocate", err)
	}
	if err := s.client.Listen(); err != nil {
		return fail("allocate", err)
	}
	alloc, err := s.client.AllocateTCP()
	if err != nil {
		return fail("allocate", err)
	}
	s.alloc = alloc
	dataConn, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(t.addr))
	if err != nil {
		return fail("dial", err)
	}
	dataConn.SetDeadline(time.Now().Add(cfg.RequestTimeout))
	peer := peerL.Addr().(*net.TCPAddr)
	bound, err := alloc.DialTCPWithConn(dataConn, "tcp", peer)
	if err != nil {
		dataConn.Close()
		return fail("connect", err)
	}
	dataConn.SetDeadline(time.Time{})
	s.data = bound
	return s, nil
}

// acceptPeer accepts the relay's connection to the echo peer and echoes
// what it reads, counting it.
func (s *tcpStream) acceptPeer() {
	c, err := s.peerL.Accept()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.peer = c
	s.mu.Unlock()
	buf := make([]byte, tcpChunk)
	for {
		n, err := c.Read(buf)
		s.toPeer.Add(uint64(n))
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stream writes bulk data to the data connection and reads the echo back
// until the connection closes.
func (s *tcpStream) stream(wg *sync.WaitGroup) {
	wg.Go(func() {
		buf := make([]byte, tcpChunk)
		for i := range buf {
			buf[i] = byte(i)
		}
		for {
			if _, err := s.data.Write(buf); err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		buf := make([]byte, tcpChunk)
		for {
			n, err := s.data.Read(buf)
			s.fromPeer.Add(uint64(n))
			if err != nil {
				return
			}
		}
	})
}

// runTCP is ModeTCP: set up the streams, stream for Warmup + Duration,
// count the bytes relayed in the measured window and the server's CPU
// over them.
func runTCP(ctx context.Context, cfg *Config, t target, res *Result) error {
	meter := newServerMeter(cfg)
	setupStart := time.Now()
	streams, setup, firstErr := openTCPStreams(ctx, cfg, t)
	setup.Seconds = time.Since(setupStart).Seconds()
	if setup.Seconds > 0 {
		setup.AllocationsPerSecond = float64(setup.Allocated) / setup.Seconds
	}
	res.Setup = setup
	if len(streams) == 0 {
		return fmt.Errorf("loadtest: no TCP allocation succeeded; first failure: %w", firstErr)
	}
	var wg sync.WaitGroup
	defer func() {
		for _, s := range streams {
			s.close()
		}
		wg.Wait()
	}()
	for _, s := range streams {
		s.stream(&wg)
	}
	snapshot := func() []tcpCounts {
		out := make([]tcpCounts, len(streams))
		for i, s := range streams {
			out[i] = s.counts()
		}
		return out
	}
	from := mono.Now().Add(cfg.Warmup)
	until := from.Add(cfg.Duration)
	if err := sleepUntil(ctx, from, nil); err != nil {
		return err
	}
	span := meter.begin(0)
	start := snapshot()
	began := mono.Now()
	err := sleepUntil(ctx, until, nil)
	end := snapshot()
	seconds := mono.Now().Sub(began).Seconds()
	res.TCP = tcpAccount(start, end, seconds)
	meter.endBytes(span, res.TCP.RelayedBytes)
	meter.checkStart(span, from, until)
	res.Seconds = seconds
	res.ServerUsage = meter.result()
	return err
}

// openTCPStreams opens cfg.Allocations streams, SetupConcurrency at a time,
// within SetupTimeout, counting failures by "<op>:<kind>".
func openTCPStreams(ctx context.Context, cfg *Config, t target) ([]*tcpStream, *SetupResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	streams := make([]*tcpStream, cfg.Allocations)
	errs := make([]error, cfg.Allocations)
	sem := make(chan struct{}, cfg.SetupConcurrency)
	var wg sync.WaitGroup
	for i := range streams {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &opError{"allocate", errTimeout}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			streams[i], errs[i] = openTCPStream(cfg, t, i)
		})
	}
	wg.Wait()
	setup := &SetupResult{}
	var ok []*tcpStream
	var firstErr error
	for i, s := range streams {
		if s != nil {
			ok = append(ok, s)
			continue
		}
		if firstErr == nil {
			firstErr = errs[i]
		}
		mergeCounts(&setup.Failures, map[string]uint64{failureKey(errs[i]): 1})
	}
	setup.Allocated = len(ok)
	if ctx.Err() != nil && firstErr == nil {
		firstErr = ctx.Err()
	}
	return ok, setup, firstErr
}

// quietLoggers silences pion's client: its warnings (e.g. a read loop
// ending when a stream closes) are expected at teardown, and the run's
// failures are counted in the result instead.
type quietLoggers struct{}

func (quietLoggers) NewLogger(string) logging.LeveledLogger { return quietLogger{} }

type quietLogger struct{}

func (quietLogger) Trace(string)          {}
func (quietLogger) Tracef(string, ...any) {}
func (quietLogger) Debug(string)          {}
func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Info(string)           {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warn(string)           {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Error(string)          {}
func (quietLogger) Errorf(string, ...any) {}
