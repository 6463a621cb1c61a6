package bench

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var testSettings = ServerSettings{Secret: "0123456789abcdef0123", Realm: "bench.test", Threads: 2}

var testListen = netip.MustParseAddrPort("127.0.0.1:34567")

func TestTurnstileCommand(t *testing.T) {
	t.Setenv("TURNSTILE_USER_QUOTA", "10")
	t.Setenv("GOGC", "off")
	cmd := turnstileCommand("/bin/turnstile", testSettings, testListen, false)
	for _, want := range []string{
		"GOMAXPROCS=2",
		"TURNSTILE_UDP_LISTEN=127.0.0.1:34567",
		"TURNSTILE_RELAY_IPS=127.0.0.1",
		"TURNSTILE_PORT_RANGE=10000-19999",
		"TURNSTILE_REALM=bench.test",
		"TURNSTILE_AUTH_SECRETS=0123456789abcdef0123",
		"TURNSTILE_PEER_ALLOW=127.0.0.0/8",
		"TURNSTILE_USER_QUOTA=0",
		"TURNSTILE_METRICS_LISTEN=",
		"TURNSTILE_DRAIN_TIMEOUT=0s",
	} {
		if !slices.Contains(cmd.Env, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
	for _, kv := range cmd.Env {
		if kv == "TURNSTILE_USER_QUOTA=10" || kv == "GOGC=off" {
			t.Errorf("the caller's %q leaked into the server's environment", kv)
		}
	}
	if !slices.Equal(cmd.Args, []string{"/bin/turnstile", "serve"}) {
		t.Errorf("args = %q", cmd.Args)
	}
}

func TestCoturnCommand(t *testing.T) {
	cmd := coturnCommand("/usr/bin/turnserver", testSettings, testListen, "/tmp/x", false)
	args := strings.Join(cmd.Args, " ")
	for _, want := range []string{
		"-n ",
		"--listening-ip=127.0.0.1 ",
		"--relay-ip=127.0.0.1 ",
		"--listening-port=34567 ",
		"--min-port=20000 ", "--max-port=29999 ",
		"--relay-threads=2 ",
		"--use-auth-secret ", "--static-auth-secret=0123456789abcdef0123 ",
		"--realm=bench.test ",
		"--user-quota=1000000 ",
		"--allow-loopback-peers ",
		"--no-cli ", "--no-tls ", "--no-dtls ",
		"--log-file=/tmp/x/coturn.log ",
		"--pidfile=/tmp/x/coturn.pid ",
		"--db=/tmp/x/coturn.sqlite",
	} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("turnserver arguments lack %q: %s", want, args)
		}
	}
	if strings.Contains(args, "--no-multicast-peers") {
		t.Errorf("turnserver arguments contain --no-multicast-peers: %s", args)
	}
}

func TestPionCommand(t *testing.T) {
	cmd := pionCommand("/bin/pion", testSettings, testListen)
	if !slices.Equal(cmd.Args, []string{"/bin/pion", "-udp", "127.0.0.1:34567", "-udp-sockets", "2", "-realm", "bench.test"}) {
		t.Errorf("args = %q", cmd.Args)
	}
	for _, want := range []string{"GOMAXPROCS=2", "PION_TURN_SECRET=0123456789abcdef0123"} {
		if !slices.Contains(cmd.Env, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
}

func TestServerCommandRejectsUnknown(t *testing.T) {
	if _, err := serverCommand("nginx", Binaries{}, testSettings, testListen, t.TempDir(), false); err == nil {
		t.Fatal("serverCommand accepted an unknown server")
	}
	for _, name := range AllServers {
		if _, err := serverCommand(name, Binaries{}, testSettings, testListen, t.TempDir(), false); err != nil {
			t.Errorf("serverCommand(%q): %v", name, err)
		}
	}
}

func TestRotate(t *testing.T) {
	s := []string{"a", "b", "c"}
	tests := []struct {
		k    int
		want []string
	}{
		{0, []string{"a", "b", "c"}},
		{1, []string{"b", "c", "a"}},
		{2, []string{"c", "a", "b"}},
		{4, []string{"b", "c", "a"}},
	}
	for _, tt := range tests {
		if got := rotate(s, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("rotate(%v, %d) = %v, want %v", s, tt.k, got, tt.want)
		}
	}
	if !slices.Equal(s, []string{"a", "b", "c"}) {
		t.Errorf("rotate modified its input: %v", s)
	}
}

func TestFreeUDPPortAvoidsRange(t *testing.T) {
	for range 10 {
		p, err := freeUDPPort(turnstilePortMin, coturnPortMax)
		if err != nil {
			t.Fatal(err)
		}
		if p == 0 || (p >= turnstilePortMin && p <= coturnPortMax) {
			t.Fatalf("freeUDPPort = %d, inside the relayed-port ranges", p)
		}
	}
}

// TestLoadsAreBounded checks every load's configuration is valid and
// bounded in time once a target is filled in, at both sizes.
func TestLoadsAreBounded(t *testing.T) {
	for _, params := range []LoadParams{FullParams(), QuickParams()} {
		loads := Loads(params)
		if len(loads) != 8 {
			t.Fatalf("Loads returned %d loads, want 8 (realistic, closed, burst and issue 6's memory, 5000 × 1, churn, the ramp and TCP relaying)", len(loads))
		}
		for _, l := range loads {
			c := l.Config
			c.Server, c.Secret, c.ServerPID = testListen.String(), testSettings.Secret, 1
			if err := c.Validate(); err != nil {
				t.Errorf("%s: %v", l.Name, err)
			}
			if c.Duration > 10*time.Second || c.SetupTimeout > time.Minute {
				t.Errorf("%s: duration %v, setup timeout %v: longer than a benchmark load should be", l.Name, c.Duration, c.SetupTimeout)
			}
			if !c.PeerIP.IsLoopback() || c.AllowNonLoopback {
				t.Errorf("%s: peers not confined to loopback", l.Name)
			}
			if len(l.Metrics) == 0 {
				t.Errorf("%s: no metrics", l.Name)
			}
		}
	}
}

// TestTurnstileNoOffloadCommand: the control variant is turnstile with
// TURNSTILE_UDP_OFFLOAD=false and nothing else changed; turnstile itself
// keeps the default (offload on).
func TestTurnstileNoOffloadCommand(t *testing.T) {
	t.Setenv("TURNSTILE_UDP_OFFLOAD", "false")
	on, err := serverCommand(Turnstile, Binaries{Turnstile: "/bin/turnstile"}, testSettings, testListen, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	off, err := serverCommand(TurnstileNoOffload, Binaries{Turnstile: "/bin/turnstile"}, testSettings, testListen, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(on.Env, "TURNSTILE_UDP_OFFLOAD=false") {
		t.Error("turnstile runs with offload off (the caller's setting leaked)")
	}
	if !slices.Contains(off.Env, "TURNSTILE_UDP_OFFLOAD=false") {
		t.Error("turnstile-nooffload runs with offload on")
	}
	if got := slices.DeleteFunc(slices.Clone(off.Env), func(kv string) bool { return kv == "TURNSTILE_UDP_OFFLOAD=false" }); !slices.Equal(got, on.Env) || !slices.Equal(off.Args, on.Args) {
		t.Errorf("the variant differs in more than offload:\n%q\n%q", off.Env, on.Env)
	}
	if !slices.Contains(AllServers, TurnstileNoOffload) {
		t.Errorf("AllServers %v lacks %s", AllServers, TurnstileNoOffload)
	}
}
