// Command pion-turn-server runs pion/turn v3's TURN server on loopback for
// side-by-side benchmarks with turnstile and coturn (make bench).
//
// It listens on the given loopback addresses, accepts TURN REST credentials
// for the shared secret (flag -secret or environment PION_TURN_SECRET), relays
// only to loopback peers, prints one JSON line describing itself on stdout
// ({"pid":…,"udp":…,"tcp":…,"tls":…,"realm":…}) and runs until SIGINT or
// SIGTERM.
//
//	pion-turn-server -udp 127.0.0.1:3479 -tcp 127.0.0.1:3479 -secret s3cret
//	pion-turn-server -udp 127.0.0.1:3479 -udp-sockets 2 -secret s3cret
//	pion-turn-server -udp 127.0.0.1:0 -tls 127.0.0.1:0 -tls-self-signed ca.pem
package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/pionserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pion-turn-server:", err)
		os.Exit(1)
	}
}

func run() error {
	udp := flag.String("udp", "127.0.0.1:3478", "UDP listen address (loopback IP:port; empty disables)")
	udpSockets := flag.Int("udp-sockets", 1, "UDP sockets sharing the -udp address (SO_REUSEPORT), one reading goroutine each")
	tcp := flag.String("tcp", "", "TCP listen address (loopback IP:port; empty disables)")
	tlsAddr := flag.String("tls", "", "TLS listen address (loopback IP:port; empty disables)")
	certFile := flag.String("cert", "", "TLS certificate chain (PEM) for -tls")
	keyFile := flag.String("key", "", "TLS private key (PEM) for -tls")
	selfSigned := flag.String("tls-self-signed", "", "generate a self-signed certificate for -tls and write its PEM (the clients' CA file) to this path")
	secret := flag.String("secret", os.Getenv("PION_TURN_SECRET"), "TURN REST shared secret (default $PION_TURN_SECRET)")
	realm := flag.String("realm", pionserver.DefaultRealm, "realm announced in 401 responses")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	cfg := pionserver.Config{UDPAddr: *udp, UDPSockets: *udpSockets, TCPAddr: *tcp, TLSAddr: *tlsAddr, Secret: *secret, Realm: *realm}
	if *tlsAddr != "" {
		cert, err := loadCertificate(*tlsAddr, *certFile, *keyFile, *selfSigned)
		if err != nil {
			return err
		}
		cfg.TLSCertificate = &cert
	}
	s, err := pionserver.Start(cfg)
	if err != nil {
		return err
	}
	defer s.Close()

	addr := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	line, err := json.Marshal(map[string]any{
		"pid": os.Getpid(), "udp": addr(s.UDPAddr()), "tcp": addr(s.TCPAddr()), "tls": addr(s.TLSAddr()), "realm": *realm,
	})
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

// loadCertificate reads -cert/-key, or generates a self-signed certificate
// for the TLS listener's IP and writes its PEM to selfSignedOut.
func loadCertificate(listen, certFile, keyFile, selfSignedOut string) (tls.Certificate, error) {
	switch {
	case selfSignedOut != "" && (certFile != "" || keyFile != ""):
		return tls.Certificate{}, errors.New("-tls-self-signed excludes -cert and -key")
	case selfSignedOut != "":
		ap, err := netip.ParseAddrPort(listen)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("-tls %q: %w", listen, err)
		}
		cert, pemCert, err := pionserver.SelfSignedCertificate(ap.Addr(), 24*time.Hour)
		if err != nil {
			return tls.Certificate{}, err
		}
		if err := os.WriteFile(selfSignedOut, pemCert, 0o644); err != nil {
			return tls.Certificate{}, err
		}
		return cert, nil
	case certFile != "" && keyFile != "":
		return tls.LoadX509KeyPair(certFile, keyFile)
	default:
		return tls.Certificate{}, errors.New("-tls needs -cert and -key, or -tls-self-signed")
	}
}
