// Package pionserver runs pion/turn v3's TURN server on loopback, configured
// for benchmarks: TURN REST credentials (draft-uberti-behave-turn-rest-00)
// under one shared secret, UDP relays on the loopback address, and a
// permission handler that admits loopback peers (the load generator's echo
// peers) and nothing else.
//
// It exists to measure turnstile against pion side by side (issue 6). pion's
// server is an anchor for comparison, not a model: it is not RFC-strict
// (it answers a wrong MESSAGE-INTEGRITY with 400 instead of RFC 8489
// §9.2.4's 401, for one) and must never face untrusted traffic, which is why
// Start refuses non-loopback listen addresses.
package pionserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/pion/logging"
	"github.com/pion/turn/v3"
)

// DefaultRealm is the realm used when Config.Realm is empty.
const DefaultRealm = "pion.turnstile.test"

// Config selects the listeners and credentials. Every listen address must be
// an IP literal on loopback ("127.0.0.1:0" picks a free port); an empty
// address disables that listener; at least one must be enabled.
type Config struct {
	UDPAddr string
	// UDPSockets is the number of UDP sockets bound to UDPAddr with
	// SO_REUSEPORT (Linux only above 1), each read by its own goroutine in
	// pion: the benchmark gives pion as many as turnstile and coturn get
	// relay threads. 0 means 1.
	UDPSockets int
	TCPAddr    string
	TLSAddr    string
	// TLSCertificate is required when TLSAddr is set.
	TLSCertificate *tls.Certificate
	// Secret is the TURN REST shared secret; required.
	Secret string
	// Realm is sent in 401 responses; DefaultRealm when empty.
	Realm string
	// LoggerFactory receives pion's logs; nil discards them (pion logs an
	// error line per failed relay write, which would flood a benchmark).
	LoggerFactory logging.LoggerFactory
}

// Server is a running pion/turn server. Its methods are safe for concurrent
// use.
type Server struct {
	turn              *turn.Server
	udp, tcp, tlsAddr netip.AddrPort
	closers           []io.Closer
}

// Start validates cfg, opens the listeners and starts pion's server.
func Start(cfg Config) (*Server, error) {
	if cfg.Secret == "" {
		return nil, errors.New("pionserver: Config.Secret is required")
	}
	if cfg.UDPAddr == "" && cfg.TCPAddr == "" && cfg.TLSAddr == "" {
		return nil, errors.New("pionserver: no listener: set Config.UDPAddr, TCPAddr or TLSAddr")
	}
	if cfg.TLSAddr != "" && cfg.TLSCertificate == nil {
		return nil, errors.New("pionserver: Config.TLSAddr needs Config.TLSCertificate")
	}
	if cfg.UDPSockets < 0 || cfg.UDPSockets > maxUDPSockets {
		return nil, fmt.Errorf("pionserver: Config.UDPSockets = %d: must be between 0 and %d", cfg.UDPSockets, maxUDPSockets)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	lf := cfg.LoggerFactory
	if lf == nil {
		lf = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
	}

	s := &Server{}
	sc := turn.ServerConfig{
		Realm:         realm,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(cfg.Secret, lf.NewLogger("auth")),
		LoggerFactory: lf,
	}
	fail := func(err error) (*Server, error) {
		for _, c := range s.closers {
			c.Close()
		}
		return nil, err
	}
	if cfg.UDPAddr != "" {
		ip, err := loopbackIP("UDPAddr", cfg.UDPAddr)
		if err != nil {
			return fail(err)
		}
		conns, err := listenUDP(cfg.UDPAddr, max(1, cfg.UDPSockets))
		if err != nil {
			return fail(err)
		}
		for _, pc := range conns {
			s.closers = append(s.closers, pc)
			sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
				PacketConn:            pc,
				RelayAddressGenerator: relayGenerator(ip),
				PermissionHandler:     loopbackPeersOnly,
			})
		}
		s.udp = conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
	}
	addListener := func(field, addr string, wrap func(net.Listener) net.Listener) (netip.AddrPort, error) {
		ip, err := loopbackIP(field, addr)
		if err != nil {
			return netip.AddrPort{}, err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("pionserver: %s: %w", field, err)
		}
		s.closers = append(s.closers, l)
		bound := l.Addr().(*net.TCPAddr).AddrPort()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener:              wrap(l),
			RelayAddressGenerator: relayGenerator(ip),
			PermissionHandler:     loopbackPeersOnly,
		})
		return bound, nil
	}
	var err error
	if cfg.TCPAddr != "" {
		if s.tcp, err = addListener("TCPAddr", cfg.TCPAddr, func(l net.Listener) net.Listener { return l }); err != nil {
			return fail(err)
		}
	}
	if cfg.TLSAddr != "" {
		tc := &tls.Config{Certificates: []tls.Certificate{*cfg.TLSCertificate}, MinVersion: tls.VersionTLS12}
		if s.tlsAddr, err = addListener("TLSAddr", cfg.TLSAddr, func(l net.Listener) net.Listener { return tls.NewListener(l, tc) }); err != nil {
			return fail(err)
		}
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		return fail(fmt.Errorf("pionserver: %w", err))
	}
	s.turn = srv
	return s, nil
}

// maxUDPSockets bounds Config.UDPSockets (a benchmark gives one per thread).
const maxUDPSockets = 256

// listenUDP opens n UDP sockets on addr: one plain socket when n is 1, else
// n sockets sharing the address with SO_REUSEPORT, the first choosing the
// port when addr's is 0. On an error it closes what it opened.
func listenUDP(addr string, n int) ([]net.PacketConn, error) {
	if n == 1 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("pionserver: UDPAddr: %w", err)
		}
		return []net.PacketConn{pc}, nil
	}
	var conns []net.PacketConn
	for range n {
		pc, err := listenUDPShared(addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("pionserver: UDPAddr: %w", err)
		}
		conns = append(conns, pc)
		addr = pc.LocalAddr().String() // the others join the first's port
	}
	return conns, nil
}

// loopbackIP parses a listen address and requires a loopback IP literal.
func loopbackIP(field, addr string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pionserver: Config.%s %q: want IP:port: %w", field, addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return netip.Addr{}, fmt.Errorf("pionserver: Config.%s %q is not a loopback address", field, addr)
	}
	return ap.Addr().Unmap(), nil
}

// relayGenerator opens relayed UDP sockets on ip and reports ip to clients.
func relayGenerator(ip netip.Addr) turn.RelayAddressGenerator {
	return &turn.RelayAddressGeneratorStatic{RelayAddress: net.IP(ip.AsSlice()), Address: ip.String()}
}

// loopbackPeersOnly admits the load generator's echo peers, which live on
// loopback, and refuses every other peer so the server cannot be used to
// reach anything else.
func loopbackPeersOnly(_ net.Addr, peer net.IP) bool { return peer.IsLoopback() }

// UDPAddr returns the UDP listener's address (zero when disabled).
func (s *Server) UDPAddr() netip.AddrPort { return s.udp }

// TCPAddr returns the TCP listener's address (zero when disabled).
func (s *Server) TCPAddr() netip.AddrPort { return s.tcp }

// TLSAddr returns the TLS listener's address (zero when disabled).
func (s *Server) TLSAddr() netip.AddrPort { return s.tlsAddr }

// Close stops the server and closes its listeners and allocations.
func (s *Server) Close() error { return s.turn.Close() }
