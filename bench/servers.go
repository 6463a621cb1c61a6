package bench

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Server names, as they appear in reports.
const (
	Turnstile = "turnstile"
	// TurnstileNoOffload is turnstile with TURNSTILE_UDP_OFFLOAD=false (no
	// UDP GSO, no UDP GRO): the control that shows what the kernel's
	// batching gives turnstile in each load.
	TurnstileNoOffload = "turnstile-nooffload"
	Coturn             = "coturn"
	Pion               = "pion"
)

// AllServers is every server in report order; turnstile first, as the
// ratios are turnstile's over the others.
var AllServers = []string{Turnstile, TurnstileNoOffload, Coturn, Pion}

// Binaries are the programs started as servers.
type Binaries struct {
	Turnstile  string // cmd/turnstile
	Pion       string // loadtest/pionserver/cmd/pion-turn-server
	Turnserver string // coturn's turnserver
}

// ServerSettings are what every server gets alike.
type ServerSettings struct {
	// Secret is the TURN REST shared secret (at least 16 bytes: turnstile's
	// minimum).
	Secret string
	// Realm is announced by all servers.
	Realm string
	// Threads is the number of threads that relay packets: GOMAXPROCS for
	// the Go servers, --relay-threads for coturn. turnstile and coturn open
	// one listening socket per thread; pion gets as many (-udp-sockets).
	Threads int
}

// Relayed-port ranges. turnstile and coturn get disjoint ranges below the
// kernel's ephemeral range (32768–60999 by default), where the load
// generator's client sockets and the listeners' ports come from; pion's
// benchmark server binds its relayed sockets to port 0 (ephemeral) and has no
// setting for a range.
const (
	turnstilePortMin, turnstilePortMax = 10000, 19999
	coturnPortMin, coturnPortMax       = 20000, 29999
)

// serverCommand builds the command that runs server name listening on UDP
// listen, with its files (log, pid file, database) in dir.
func serverCommand(name string, bins Binaries, s ServerSettings, listen netip.AddrPort, dir string, tcp bool) (*exec.Cmd, error) {
	switch name {
	case Turnstile:
		return turnstileCommand(bins.Turnstile, s, listen, tcp), nil
	case TurnstileNoOffload:
		cmd := turnstileCommand(bins.Turnstile, s, listen, tcp)
		cmd.Env = append(cmd.Env, "TURNSTILE_UDP_OFFLOAD=false")
		return cmd, nil
	case Coturn:
		return coturnCommand(bins.Turnserver, s, listen, dir, tcp), nil
	case Pion:
		if tcp {
			return nil, fmt.Errorf("%s: %s", Pion, pionNoTCPRelay)
		}
		return pionCommand(bins.Pion, s, listen), nil
	}
	return nil, fmt.Errorf("unknown server %q", name)
}

// goEnvironment is this process's environment without any variable that
// configures the child (TURNSTILE_*, GOMAXPROCS, GOGC, GOMEMLIMIT, GODEBUG),
// so a developer's shell settings cannot skew one server.
func goEnvironment() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "TURNSTILE_"), strings.HasPrefix(name, "PION_TURN_"),
			name == "GOMAXPROCS", name == "GOGC", name == "GOMEMLIMIT", name == "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// pionNoTCPRelay is why the TCP relaying load does not run on pion.
// pion/turn v3.0.3's server handles no Connect or ConnectionBind (only its
// client implements them), and the repository's pion server listens on UDP
// only.
const pionNoTCPRelay = "pion/turn v3's server has no RFC 6062 side (no Connect, no ConnectionBind); only its client relays TCP"

// turnstileCommand runs the daemon with UDP only (with tcp also a TCP
// listener on the same port and RFC 6062 relaying), REST credentials, the
// loopback echo peers allowed, no quotas, no metrics listener and no drain
// delay on SIGTERM. Logs stay at the default level (info), as an operator
// runs it.
func turnstileCommand(bin string, s ServerSettings, listen netip.AddrPort, tcp bool) *exec.Cmd {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(goEnvironment(),
		"GOMAXPROCS="+strconv.Itoa(s.Threads),
		"TURNSTILE_UDP_LISTEN="+listen.String(),
		"TURNSTILE_RELAY_IPS="+listen.Addr().String(),
		fmt.Sprintf("TURNSTILE_PORT_RANGE=%d-%d", turnstilePortMin, turnstilePortMax),
		"TURNSTILE_REALM="+s.Realm,
		"TURNSTILE_AUTH_SECRETS="+s.Secret,
		"TURNSTILE_PEER_ALLOW=127.0.0.0/8",
		"TURNSTILE_USER_QUOTA=0",
		"TURNSTILE_TOTAL_QUOTA=0",
		"TURNSTILE_METRICS_LISTEN=",
		"TURNSTILE_DRAIN_TIMEOUT=0s",
	)
	if tcp {
		cmd.Env = append(cmd.Env, "TURNSTILE_TCP_LISTEN="+listen.String(), "TURNSTILE_TCP_RELAY=true")
	}
	return cmd
}

// coturnQuota is the per-user and total allocation quota given to coturn,
// above any load here (coturn's 0 also means "no quota", but an explicit
// bound leaves no doubt).
const coturnQuota = 1_000_000

// coturnCommand runs turnserver from the command line only (-n: no config
// file) on loopback: UDP only (no TCP, TLS, DTLS listeners, no TCP relays;
// with tcp its TCP listener on the same port and RFC 6062 TCP relays),
// TURN REST credentials, loopback peers allowed, Threads relay threads, no
// CLI, no RFC 5780 second address, and its pid file, SQLite database and
// log in dir instead of the system paths. Its default logging (one line per
// session start and end) stays on, as for turnstile.
func coturnCommand(bin string, s ServerSettings, listen netip.AddrPort, dir string, tcp bool) *exec.Cmd {
	ip := listen.Addr().String()
	listeners := []string{"--no-tcp", "--no-tls", "--no-dtls", "--no-tcp-relay"}
	if tcp {
		listeners = []string{"--no-tls", "--no-dtls"}
	}
	args := []string{"-n",
		"--listening-ip=" + ip,
		"--relay-ip=" + ip,
		"--listening-port=" + strconv.Itoa(int(listen.Port())),
		"--min-port=" + strconv.Itoa(coturnPortMin),
		"--max-port=" + strconv.Itoa(coturnPortMax),
		"--relay-threads=" + strconv.Itoa(s.Threads),
		"--use-auth-secret",
		"--static-auth-secret=" + s.Secret,
		"--realm=" + s.Realm,
		"--user-quota=" + strconv.Itoa(coturnQuota),
		"--total-quota=" + strconv.Itoa(coturnQuota),
		"--allow-loopback-peers",
		"--no-cli",
		"--no-rfc5780",
		"--log-file=" + filepath.Join(dir, "coturn.log"),
		"--simple-log",
		"--no-stdout-log",
		"--pidfile=" + filepath.Join(dir, "coturn.pid"),
		"--db=" + filepath.Join(dir, "coturn.sqlite"),
	}
	cmd := exec.Command(bin, append(args, listeners...)...)
	cmd.Env = goEnvironment()
	return cmd
}

// pionCommand runs the repository's pion/turn v3 server on Threads UDP
// sockets sharing the listen address, like turnstile's workers and coturn's
// relay threads, so no server is held to one socket's reading goroutine.
func pionCommand(bin string, s ServerSettings, listen netip.AddrPort) *exec.Cmd {
	cmd := exec.Command(bin, "-udp", listen.String(), "-udp-sockets", strconv.Itoa(s.Threads), "-realm", s.Realm)
	cmd.Env = append(goEnvironment(),
		"GOMAXPROCS="+strconv.Itoa(s.Threads),
		"PION_TURN_SECRET="+s.Secret,
	)
	return cmd
}
