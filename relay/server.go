// Package relay is turnstile's I/O shell: listeners, STUN/TURN request
// handling, the data path between clients and peers, and relayed sockets.
//
// The decisions live in pure packages (allocation, auth, peerpolicy) that
// take time as an argument; this package reads the clock once per batch of
// packets, does the socket work and stays thin. The data path (ChannelData
// in, datagram out, and back) allocates nothing and takes no global lock.
package relay

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/txcache"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/sourcebudget"
	"github.com/turnstile-relay/turnstile/turncore"
)

// Config is everything the relay needs, already validated and typed (package
// config turns the environment into one).
type Config struct {
	UDPListen []netip.AddrPort // client-facing UDP addresses; port 0 picks one (tests)
	TCPListen []netip.AddrPort
	TLSListen []netip.AddrPort
	// TLS is the server configuration for TLSListen (certificates; the
	// daemon supplies GetCertificate for reloads).
	TLS *tls.Config

	Realm    string // REALM (RFC 8489 §14.9)
	Software string // SOFTWARE value; empty omits the attribute (RFC 8656 §21.1.6)

	// RelayIPs are the local addresses relayed sockets bind to;
	// ExternalIPs, when set, pairwise name the addresses advertised for
	// them in XOR-RELAYED-ADDRESS (a 1:1 NAT in front of the host).
	RelayIPs, ExternalIPs []netip.Addr
	PortMin, PortMax      uint16 // relayed port range, inclusive

	Allocation allocation.Config
	Policy     Policy       // who may allocate and reach which peers
	Nonces     *auth.Nonces // nil: the relay makes its own with a random key

	// AlternateServers are offered with 300 Try Alternate while draining.
	AlternateServers []netip.AddrPort

	// LegacyChannels accepts RFC 5766's channel numbers 0x5000–0x7FFF as
	// well as RFC 8656's 0x4000–0x4FFF. RFC 8656 §12 reserves them, so it is
	// off unless the operator opts in for old clients.
	LegacyChannels bool
	// LegacyDualAllocation also reads ADDITIONAL-ADDRESS-FAMILY at the
	// codepoint of the draft RFC 8656 came from (0x8032, answered with
	// ADDRESS-ERROR-CODE at 0x8033), as coturn 4.x clients send it. A strict
	// relay ignores that comprehension-optional attribute (RFC 8489 §14), so
	// it is off unless the operator opts in.
	LegacyDualAllocation bool
	// NoUDPOffload stops the relay asking the kernel to batch datagrams:
	// no UDP GSO on sends (each datagram its own send), no UDP GRO on the
	// listener and relayed sockets. The zero value keeps both on.
	NoUDPOffload bool

	TCPMaxConnections int           // concurrent TCP+TLS connections; further accepts are closed
	TCPIdleTimeout    time.Duration // a connection without a frame for this long is closed
	TCPMaxFrame       int           // largest STUN or ChannelData frame accepted on a stream, bytes
	// TCPMaxConnectionsPerSource bounds the concurrent TCP+TLS connections
	// of one source (an IPv4 address or an IPv6 /64); further accepts from
	// it are closed. 0 means DefaultTCPMaxConnectionsPerSource.
	TCPMaxConnectionsPerSource int
	// TCPWriteBudget bounds the bytes of frames one TCP/TLS connection
	// holds waiting to be written: beyond it peer data toward the client
	// is dropped and counted (streambudget.go). 0 means
	// DefaultTCPWriteBudget; otherwise at least MinTCPWriteBudget.
	TCPWriteBudget int

	// TCPRelay turns on TCP relaying (RFC 6062) and bounds it; off by
	// default (docs/protocol.md).
	TCPRelay TCPRelayConfig

	// UnauthRate and UnauthBurst size the per-source budget of
	// unauthenticated answers over UDP (package sourcebudget): Binding
	// answers, 401/400/420 refusals, retransmissions answered from the
	// cache. A source (an IPv4 address or an IPv6 /64) gets UnauthBurst at
	// once and UnauthRate a second after that; requests beyond are dropped
	// and counted as unauthenticated_budget. 0 means the sourcebudget
	// default (10 a second, 100 at once). docs/protocol.md explains the
	// defaults.
	UnauthRate, UnauthBurst int
	// NoUnauthBudget answers every unauthenticated request, which makes
	// the relay a reflector for spoofed sources (RFC 8489 §6.3.4); the
	// zero value keeps the budget.
	NoUnauthBudget bool

	Workers      int // packet loops; 0 means GOMAXPROCS
	SocketBuffer int // SO_RCVBUF/SO_SNDBUF for relay sockets in bytes; 0 keeps the kernel default
	// ListenerBuffer is SO_RCVBUF/SO_SNDBUF of the client-facing UDP
	// sockets in bytes; 0 means DefaultListenerBuffer. Every client of a
	// loop shares its listener socket, so the kernel default (about
	// 200 KiB) overflows under bursts from thousands of clients. The kernel
	// caps it at net.core.rmem_max / wmem_max.
	ListenerBuffer int

	// OwnServices are the other listening sockets of this process that no
	// peer may reach (the daemon's metrics listener); an unspecified
	// address stands for every local address. The relay's own listeners
	// are always refused as peers (ownsockets.go).
	OwnServices []netip.AddrPort

	// Extension, when set, joins the peer path (extension.go; the gateway
	// module plugs in through gateway/relayext). nil is a plain relay:
	// the data path pays a nil check and none of it runs.
	Extension Extension
	// Observer, when set, is told when channel bindings become usable and
	// stop being usable, and its own relayed counts join Stats
	// (extension.go; for a data path outside the relay, such as an
	// in-kernel fast path). nil: none of it runs.
	Observer Observer

	Logger *slog.Logger
	Events func(Event) // lifecycle events; must not block
	// Clock is the relay's only source of time: monotonic for lifetimes
	// and deadlines, wall-clock for REST credential expiries and nonces,
	// and the housekeeping timer. nil means mono.System; tests inject a
	// fake (internal/mono/monotest) and move time by hand.
	Clock mono.Clock
	// Network opens the UDP sockets (listeners and relayed addresses) and
	// their pollers. nil means netio.System, the kernel's; tests inject
	// netiotest's in-memory network to run the relay without sockets.
	Network netio.Network
}

// DefaultListenerBuffer is the UDP listener socket buffer size when
// Config.ListenerBuffer is zero: 4 MiB holds about 5000 in-flight
// 100-byte datagrams (measured: the kernel default dropped a quarter of
// them in the 5000-allocation bench).
const DefaultListenerBuffer = 4 << 20

// txCacheEntries bounds the retransmission cache: enough for the requests
// of about a minute at 250 requests a second; past that the oldest entries
// go first and a late retransmission is processed again, which every method
// tolerates (see package txcache).
const txCacheEntries = 16384

// authLogLimit is how many "authentication failed" lines per second and
// reason the relay writes; the rest are counted in the next line.
const authLogLimit = 5

// legacyChannelLogInterval is how often at most the relay says that a
// ChannelBind was refused for an RFC 5766 channel number: a configuration
// hint needs one line, not one per request.
const legacyChannelLogInterval = time.Minute

// Server is a running relay. Create it with New, start it with Start, and
// stop it with Shutdown (drain) or Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	table    *allocation.Table
	channels stunmsg.ChannelRange
	// core decides (package turncore); the server carries out.
	core *turncore.Core

	workers []*worker
	udp     []netip.AddrPort // bound UDP listener addresses
	streams []net.Listener
	// streamKinds is each stream listener's transport, by index.
	streamKinds []allocation.Transport
	streamMu    sync.Mutex
	conns       map[*streamConn]struct{}
	connCount   atomic.Int64
	sources     *streamSources // open connections per source

	closing    atomic.Bool
	done       chan struct{}
	wg         sync.WaitGroup
	workerNext atomic.Uint32
	// listenerOwner maps each UDP listener socket to the worker polling
	// it; filled before the workers start, read-only afterwards.
	listenerOwner  map[netio.BatchSocket]*worker
	authLog        *logging.Sampler
	requests       requestCounters
	authFailures   authCounters
	peerDenials    peerDenialCounters
	streamCounters counters
	// challenges counts 401s to requests without credentials.
	challenges atomic.Uint64
	// legacyChannelLog limits the hint about TURNSTILE_LEGACY_CHANNELS.
	legacyChannelLog *logging.Sampler
	// extCounters count what the extension's Client deliveries do; they
	// come from any goroutine.
	extCounters counters
	watch       *bindingWatch // nil without Config.Observer
	clock       mono.Clock

	// housekeepMu serialises expiry runs with Close; housekeepTimer is the
	// one pending expiry run, re-armed by each run.
	housekeepMu    sync.Mutex
	housekeepTimer mono.Timer
	// expiredScratch is housekeep's reused buffer.
	expiredScratch []turncore.Action

	// TCP relaying (tcprelay.go): the acceptor of every relayed TCP
	// address (nil when off), the dials in progress by CONNECTION-ID, the
	// counters.
	acceptor *tcpAcceptor
	tcpMu    sync.Mutex
	dialing  map[turncore.ConnID]*peerConn
	tcpStats tcpStats
}

// New validates cfg and prepares a server; nothing is bound until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("relay: Config.Policy is required")
	}
	if len(cfg.UDPListen)+len(cfg.TCPListen)+len(cfg.TLSListen) == 0 {
		return nil, errors.New("relay: no listener configured")
	}
	if len(cfg.TLSListen) > 0 && cfg.TLS == nil {
		return nil, errors.New("relay: TLS listeners need Config.TLS")
	}
	if cfg.PortMin == 0 || cfg.PortMax < cfg.PortMin {
		return nil, fmt.Errorf("relay: bad relayed port range %d-%d", cfg.PortMin, cfg.PortMax)
	}
	if len(cfg.ExternalIPs) != 0 && len(cfg.ExternalIPs) != len(cfg.RelayIPs) {
		return nil, errors.New("relay: ExternalIPs must pair with RelayIPs")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.ListenerBuffer <= 0 {
		cfg.ListenerBuffer = DefaultListenerBuffer
	}
	if cfg.TCPMaxFrame <= 0 {
		cfg.TCPMaxFrame = 0xFFFF + 4
	}
	if cfg.TCPIdleTimeout <= 0 {
		cfg.TCPIdleTimeout = 2 * time.Minute
	}
	if cfg.TCPMaxConnections <= 0 {
		cfg.TCPMaxConnections = 10000
	}
	if cfg.TCPMaxConnectionsPerSource <= 0 {
		cfg.TCPMaxConnectionsPerSource = DefaultTCPMaxConnectionsPerSource
	}
	if cfg.TCPWriteBudget == 0 {
		cfg.TCPWriteBudget = DefaultTCPWriteBudget
	}
	if cfg.TCPWriteBudget < MinTCPWriteBudget {
		return nil, fmt.Errorf("relay: TCPWriteBudget %d is below %d bytes", cfg.TCPWriteBudget, MinTCPWriteBudget)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = mono.System
	}
	if cfg.Network == nil {
		cfg.Network = netio.System
	}
	cfg.Allocation.LegacyChannels = cfg.LegacyChannels
	table, err := allocation.NewTable(cfg.Allocation)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	s := &Server{
		cfg:           cfg,
		listenerOwner: map[netio.BatchSocket]*worker{},
		log:           cfg.Logger,
		table:         table,
		conns:         make(map[*streamConn]struct{}),
		sources:       newStreamSources(cfg.TCPMaxConnectionsPerSource),
		channels:      stunmsg.StrictChannels,
		done:          make(chan struct{}),
		clock:         cfg.Clock,
	}
	if cfg.Observer != nil {
		s.watch = &bindingWatch{obs: cfg.Observer}
	}
	if cfg.LegacyChannels {
		s.channels = stunmsg.LegacyChannels
	}
	if s.authLog, err = logging.NewSampler(authLogLimit, time.Second); err != nil {
		return nil, err
	}
	if s.legacyChannelLog, err = logging.NewSampler(1, legacyChannelLogInterval); err != nil {
		return nil, err
	}
	nonces := cfg.Nonces
	if nonces == nil {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if nonces, err = auth.NewNonces(key, 10*time.Minute); err != nil {
			return nil, err
		}
	}
	core := turncore.Config{
		Realm:                cfg.Realm,
		Software:             cfg.Software,
		Table:                table,
		Nonces:               nonces,
		TxCache:              txcache.New(txCacheEntries, 16, txcache.DefaultTTL),
		Policy:               cfg.Policy,
		Channels:             s.channels,
		PortMin:              cfg.PortMin,
		PortMax:              cfg.PortMax,
		AlternateServers:     cfg.AlternateServers,
		LegacyDualAllocation: cfg.LegacyDualAllocation,
	}
	if !cfg.NoUnauthBudget {
		budget, err := sourcebudget.New(sourcebudget.Config{Rate: cfg.UnauthRate, Burst: cfg.UnauthBurst})
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		core.Budget = budget
	}
	if cfg.Extension != nil {
		core.Hooks = coreHooks{cfg.Extension}
	}
	for i, ip := range cfg.RelayIPs {
		r := turncore.RelayIP{Local: ip.Unmap(), Public: ip.Unmap()}
		if len(cfg.ExternalIPs) > 0 {
			r.Public = cfg.ExternalIPs[i].Unmap()
		}
		if r.Local.Is4() != r.Public.Is4() {
			return nil, fmt.Errorf("relay: relay IP %s and external IP %s differ in family", r.Local, r.Public)
		}
		if r.Local.Is4() {
			core.Relays4 = append(core.Relays4, r)
		} else {
			core.Relays6 = append(core.Relays6, r)
		}
	}
	if tc := cfg.TCPRelay; tc.Enabled {
		if err := s.cfg.TCPRelay.check(); err != nil {
			return nil, err
		}
		core.TCP = turncore.TCPConfig{
			Enabled:          true,
			ConnectTimeout:   s.cfg.TCPRelay.ConnectTimeout,
			MaxPerAllocation: tc.MaxPerAllocation,
			MaxPerUser:       tc.MaxPerUser,
			MaxPending:       tc.MaxPending,
		}
		s.dialing = map[turncore.ConnID]*peerConn{}
	}
	if s.core, err = turncore.New(core); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
}

// Table exposes the allocation table for metrics and embedders (read-only use).
func (s *Server) Table() *allocation.Table { return s.table }

// UDPAddrs returns the bound UDP listener addresses (ports resolved).
func (s *Server) UDPAddrs() []netip.AddrPort { return s.udp }

// StreamAddrs returns the bound TCP and TLS listener addresses, in the
// order TCPListen then TLSListen.
func (s *Server) StreamAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(s.streams))
	for _, l := range s.streams {
		out = append(out, l.Addr().(*net.TCPAddr).AddrPort())
	}
	return out
}

// Draining reports whether the relay refuses new allocations.
func (s *Server) Draining() bool { return s.core.Draining() }

// Drain stops admitting allocations (403, or 300 with ALTERNATE-SERVER) while
// existing ones keep relaying.
func (s *Server) Drain() { s.core.Drain() }

// ActiveAllocations reports how many allocations are live.
func (s *Server) ActiveAllocations() int { return s.table.Len() }

// Start binds every listener and starts the packet loops. On error nothing
// is left running.
func (s *Server) Start() error {
	for i := 0; i < s.cfg.Workers; i++ {
		w, err := newWorker(s, i)
		if err != nil {
			s.Close()
			return err
		}
		s.workers = append(s.workers, w)
	}
	if err := s.listenUDP(); err != nil {
		s.Close()
		return err
	}
	if err := s.listenStreams(); err != nil {
		s.Close()
		return err
	}
	if s.cfg.TCPRelay.Enabled {
		a, err := newTCPAcceptor(s)
		if err != nil {
			s.Close()
			return err
		}
		s.acceptor = a
		s.wg.Add(1)
		go func() { defer s.wg.Done(); a.run() }()
	}
	s.core.SetOwnSockets(s.ownSockets())
	s.acceptStreams()
	if s.cfg.Extension != nil {
		// Lane 0 is the stream connections' and handlers' outside the
		// loops; worker i has lane i+1 (newWorker).
		s.cfg.Extension.Start(len(s.workers) + 1)
	}
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); w.run() }()
	}
	s.housekeepMu.Lock()
	s.housekeepTimer = s.clock.AfterFunc(time.Second, s.housekeep)
	s.housekeepMu.Unlock()
	return nil
}

// Close stops everything at once: listeners, loops, allocations. It waits
// for the goroutines it started.
func (s *Server) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	close(s.done)
	for _, l := range s.streams {
		l.Close()
	}
	s.streamMu.Lock()
	for c := range s.conns {
		c.close()
	}
	s.streamMu.Unlock()
	for _, w := range s.workers {
		w.wake()
	}
	if s.acceptor != nil {
		s.acceptor.stop()
	}
	s.tcpMu.Lock()
	for _, pc := range s.dialing {
		pc.close()
	}
	s.tcpMu.Unlock()
	s.wg.Wait()
	s.housekeepMu.Lock() // waits for an expiry run in progress; none starts after
	if s.housekeepTimer != nil {
		s.housekeepTimer.Stop()
	}
	s.housekeepMu.Unlock()
	if s.cfg.Extension != nil {
		s.cfg.Extension.Close() // its goroutines (resolutions in flight)
	}
	now := s.clock.Now()
	// Expiring at the end of time hands over every allocation and
	// reservation still live.
	for _, act := range s.core.Expire(mono.Time(math.MaxInt64), nil) {
		s.endExpired(act, now, EventClosed)
	}
	for _, w := range s.workers {
		w.close()
	}
	return nil
}

// housekeep expires allocations, permissions, channels and reservations,
// lets the extension sweep, then re-arms its timer to the earliest
// deadline of either (at most a second away): one timer for the relay, not
// one per object.
func (s *Server) housekeep() {
	s.housekeepMu.Lock()
	defer s.housekeepMu.Unlock()
	if s.closing.Load() {
		return
	}
	now := s.clock.Now()
	s.expireDue(now)
	wait := time.Second
	earlier := func(next mono.Time) {
		if d := next.Sub(now); d < wait {
			wait = max(d, time.Millisecond)
		}
	}
	if next, ok := s.table.NextDeadline(); ok {
		earlier(next)
	}
	if next, ok := s.core.NextConnectionDeadline(); ok {
		earlier(next)
	}
	if x := s.cfg.Extension; x != nil {
		if next, ok := x.Sweep(now); ok {
			earlier(next)
		}
	}
	if s.watch != nil {
		if next, ok := s.watch.expire(now); ok {
			earlier(next)
		}
	}
	s.housekeepTimer = s.clock.AfterFunc(wait, s.housekeep)
}

// expireDue ends what is due at now. Only housekeep calls it, so the scratch
// slices are the server's own.
func (s *Server) expireDue(now mono.Time) {
	s.expiredScratch = s.core.Expire(now, s.expiredScratch[:0])
	for _, act := range s.expiredScratch {
		s.endExpired(act, now, EventExpired)
	}
	clear(s.expiredScratch)
}

// endExpired carries out one of the core's expiry actions: an allocation
// ends (published as kind), or a reserved socket nobody claimed closes.
func (s *Server) endExpired(act turncore.Action, now mono.Time, kind EventKind) {
	switch act.Kind {
	case turncore.ActDeleted:
		s.deleteAllocation(act.Alloc, now, kind)
	case turncore.ActCloseSocket:
		s.closeHandle(act.Handle)
	case turncore.ActCloseConnection:
		s.closeConnection(&act)
	}
}

// closeHandle closes a relayed socket the core gave up: UDP, or the
// listening socket of a TCP allocation.
func (s *Server) closeHandle(h any) {
	switch h := h.(type) {
	case *relaySocket:
		h.close()
	case *tcpListener:
		if s.acceptor != nil {
			s.acceptor.closeListener(h)
		} else {
			closeUnpolled(h)
		}
	}
}
