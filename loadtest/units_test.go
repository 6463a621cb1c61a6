package loadtest

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// TestSeqWindowAgainstMap drives seqWindow and a naive model (a set of every
// sequence number ever seen, plus the highest) with random arrivals and
// compares their verdicts.
func TestSeqWindowAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for iter := 0; iter < 50; iter++ {
		var w seqWindow
		seen := map[uint64]bool{}
		var highest uint64
		base := r.Uint64N(1 << 40)
		for i := 0; i < 5000; i++ {
			var seq uint64
			switch r.IntN(4) {
			case 0: // far jump ahead
				seq = highest + uint64(r.IntN(3*seqWindowSize))
			case 1: // a recent one, possibly a duplicate
				seq = highest - min(highest, uint64(r.IntN(seqWindowSize+10)))
			default: // next in order
				seq = highest + 1
			}
			if i == 0 {
				seq = base
			}
			var want seqVerdict
			switch {
			case len(seen) > 0 && seq+seqWindowSize <= highest:
				want = seqTooOld
			case seen[seq]:
				want = seqDuplicate
			default:
				want = seqNew
			}
			if got := w.observe(seq); got != want {
				t.Fatalf("iter %d step %d seq %d (highest %d): got %v want %v", iter, i, seq, highest, got, want)
			}
			if want == seqNew {
				seen[seq] = true
				highest = max(highest, seq)
			}
		}
	}
}

func TestProbeRoundTrip(t *testing.T) {
	b := make([]byte, 100)
	p := probe{slot: 7, session: 123456, seq: 1 << 50, sent: mono.Time(987654321)}
	putProbe(b, p)
	got, ok := parseProbe(b)
	if !ok || got != p {
		t.Fatalf("got %+v %v", got, ok)
	}
	tests := map[string][]byte{
		"short":    b[:probeSize-1],
		"no magic": append([]byte{0, 0}, b[2:]...),
	}
	for name, in := range tests {
		if _, ok := parseProbe(in); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFailureKey(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ErrorResponse{Op: "allocate", Code: 486}, "allocate:486"},
		{&opError{"bind", errTimeout}, "bind:timeout"},
		{&opError{"dial", errors.New("refused")}, "dial:transport"},
		{errors.New("bare"), "setup:transport"},
	}
	for _, tc := range tests {
		if got := failureKey(tc.err); got != tc.want {
			t.Errorf("failureKey(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestWindowContains(t *testing.T) {
	var w window
	w.set(100, 200)
	for t0, want := range map[mono.Time]bool{99: false, 100: true, 199: true, 200: false} {
		if got := w.contains(t0); got != want {
			t.Errorf("contains(%d) = %v", t0, got)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	valid := DefaultConfig()
	valid.Secret = "s"
	if err := valid.Validate(); err != nil {
		t.Fatalf("default config with a secret: %v", err)
	}
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"Server", func(c *Config) { c.Server = "" }},
		{"Transport", func(c *Config) { c.Transport = "sctp" }},
		{"Transport", func(c *Config) { c.TLSCAFile = "ca.pem" }},
		{"TLSInsecureSkipVerify", func(c *Config) { c.Transport, c.TLSCAFile, c.TLSInsecureSkipVerify = TransportTLS, "ca.pem", true }},
		{"Username", func(c *Config) { c.Username = "u" }},
		{"Config.Secret", func(c *Config) { c.Secret = "" }},
		{"CredentialTTL", func(c *Config) { c.CredentialTTL = time.Second }},
		{"Mode", func(c *Config) { c.Mode = "burst" }},
		{"Allocations", func(c *Config) { c.Allocations = 0 }},
		{"Allocations", func(c *Config) { c.Allocations = MaxAllocations + 1 }},
		{"InFlight", func(c *Config) { c.InFlight = 0 }},
		{"Rate", func(c *Config) { c.Mode, c.Rate = ModeOpen, 0 }},
		{"SendPath", func(c *Config) { c.SendPath = "data" }},
		{"PayloadSize", func(c *Config) { c.PayloadSize = ProbeHeaderSize - 1 }},
		{"PayloadSize", func(c *Config) { c.PayloadSize = MaxPayloadSize + 1 }},
		{"Duration", func(c *Config) { c.Duration = 0 }},
		{"Duration", func(c *Config) { c.Duration = 2 * time.Hour }},
		{"Warmup", func(c *Config) { c.Warmup = -time.Second }},
		{"PacketTimeout", func(c *Config) { c.PacketTimeout = 0 }},
		{"RequestTimeout", func(c *Config) { c.RequestTimeout = time.Millisecond }},
		{"SetupTimeout", func(c *Config) { c.SetupTimeout = 0 }},
		{"SetupConcurrency", func(c *Config) { c.SetupConcurrency = 0 }},
		{"RefreshInterval", func(c *Config) { c.RefreshInterval = 5 * time.Minute }},
		{"ChurnRate", func(c *Config) { c.ChurnRate = -1 }},
		{"RampStartRate", func(c *Config) { c.Mode, c.RampStartRate = ModeRamp, 0 }},
		{"RampMaxRate", func(c *Config) { c.Mode, c.RampMaxRate = ModeRamp, 10 }},
		{"RampFactor", func(c *Config) { c.Mode, c.RampFactor = ModeRamp, 1 }},
		{"RampLossLimit", func(c *Config) { c.Mode, c.RampLossLimit = ModeRamp, 0 }},
		{"RampStepDuration", func(c *Config) { c.Mode, c.RampStepDuration = ModeRamp, time.Millisecond }},
		{"RampStepDuration", func(c *Config) { c.Mode, c.RampStepDuration, c.RampFactor = ModeRamp, 10*time.Minute, 1.01 }},
		{"PeerIP", func(c *Config) { c.PeerIP = netip.Addr{} }},
		{"PeerIP", func(c *Config) { c.PeerIP = netip.MustParseAddr("10.0.0.1") }},
		{"EchoSockets", func(c *Config) { c.EchoSockets = 0 }},
		{"ServerPID", func(c *Config) { c.ServerPID = -1 }},
		{"SampleInterval", func(c *Config) { c.SampleInterval = 0 }},
		{"RSSCheckpoints", func(c *Config) { c.RSSCheckpoints = []int{1, 2} }}, // no ServerPID
		{"RSSCheckpoints", func(c *Config) { c.ServerPID, c.Mode, c.RSSCheckpoints = 1, ModeChurn, []int{1, 2} }},
		{"RSSCheckpoints", func(c *Config) { c.ServerPID, c.RSSCheckpoints = 1, []int{2, 2} }},
		{"RSSCheckpoints", func(c *Config) { c.ServerPID, c.RSSCheckpoints = 1, []int{0, 2} }},
		{"RSSCheckpoints", func(c *Config) { c.ServerPID, c.RSSCheckpoints = 1, []int{2, c.Allocations + 1} }},
		{"CounterSeries", func(c *Config) { c.CounterSeries = "x" }}, // no CounterURL
		{"CounterURL", func(c *Config) { c.ServerPID, c.CounterURL, c.CounterSeries = 1, "ftp://127.0.0.1/metrics", "x" }},
		{"CounterURL", func(c *Config) { c.ServerPID, c.CounterURL, c.CounterSeries = 1, "http://10.0.2.2:9464/metrics", "x" }},
		{"CounterURL", func(c *Config) { c.ServerPID, c.CounterURL, c.CounterSeries = 1, "http://localhost:9464/metrics", "x" }},
		{"CounterURL", func(c *Config) { c.CounterURL, c.CounterSeries = "http://127.0.0.1:9464/metrics", "x" }}, // no ServerPID
		{"CounterSeries", func(c *Config) {
			c.ServerPID, c.CounterURL, c.CounterSeries = 1, "http://127.0.0.1:9464/metrics", `x{a=1}`
		}},
	}
	for _, tc := range tests {
		cfg := valid
		tc.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v does not name the field", tc.field, err)
		}
	}
	// Explicit opt-in lets a non-loopback peer through validation.
	cfg := valid
	cfg.PeerIP, cfg.AllowNonLoopback = netip.MustParseAddr("10.0.0.1"), true
	if err := cfg.Validate(); err != nil {
		t.Errorf("AllowNonLoopback: %v", err)
	}
	cfg = valid
	cfg.ServerPID, cfg.CounterURL, cfg.CounterSeries = 1, "http://10.0.2.2:9464/metrics", `x{a="1"}`
	cfg.PeerIP, cfg.AllowNonLoopback = netip.MustParseAddr("10.0.0.1"), true
	if err := cfg.Validate(); err != nil {
		t.Errorf("a window counter on another host with AllowNonLoopback: %v", err)
	}
	// Static credentials are accepted.
	cfg = valid
	cfg.Secret, cfg.Username, cfg.Password = "", "u", "p"
	if err := cfg.Validate(); err != nil {
		t.Errorf("static credentials: %v", err)
	}
}

func TestLeastSquaresSlope(t *testing.T) {
	pts := func(xy ...uint64) []RSSPoint {
		var out []RSSPoint
		for i := 0; i < len(xy); i += 2 {
			out = append(out, RSSPoint{Allocations: int(xy[i]), RSSAnonBytes: xy[i+1]})
		}
		return out
	}
	tests := []struct {
		name   string
		points []RSSPoint
		want   float64
		ok     bool
	}{
		// 4 MiB fixed plus 1000 bytes per allocation: the slope is 1000,
		// where the last point alone would say 1000 + 4 MiB / 2000.
		{"exact line", pts(500, 4<<20+500_000, 1000, 4<<20+1_000_000, 2000, 4<<20+2_000_000), 1000, true},
		// y = 100, 300, 200 at x = 0, 1, 2: Σdx·dy / Σdx² = 100 / 2.
		{"scatter", pts(0, 100, 1, 300, 2, 200), 50, true},
		{"falling", pts(10, 5000, 20, 3000), -200, true},
		{"one point", pts(1000, 1<<20), 0, false},
		{"one count twice", pts(1000, 1<<20, 1000, 2<<20), 0, false},
		{"none", nil, 0, false},
	}
	for _, tc := range tests {
		got, ok := leastSquaresSlope(tc.points)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: slope %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRampSteps(t *testing.T) {
	tests := []struct {
		start, factor, max float64
		want               int
	}{
		{1000, 2, 1000, 1}, {1000, 2, 8000, 4}, {1000, 2, 9000, 4}, {1000, 1.5, 1_000_000, 18},
	}
	for _, tc := range tests {
		c := Config{RampStartRate: tc.start, RampFactor: tc.factor, RampMaxRate: tc.max}
		if got := c.rampSteps(); got != tc.want {
			t.Errorf("rampSteps(%v, %v, %v) = %d, want %d", tc.start, tc.factor, tc.max, got, tc.want)
		}
	}
}

// TestMeterFlagsALateStart: readings that begin more than a quarter into
// the measured window are an error in the usage (the counts would cover
// another span); readings on time are not.
func TestMeterFlagsALateStart(t *testing.T) {
	from, until := mono.Time(10*time.Second), mono.Time(12*time.Second)
	for _, tt := range []struct {
		at   mono.Time
		want bool
	}{
		{from, false},
		{from.Add(10 * time.Millisecond), false},
		{from.Add(500 * time.Millisecond), false},
		{from.Add(501 * time.Millisecond), true},
		{until.Add(time.Second), true},
	} {
		m := newServerMeter(&Config{ServerPID: 1})
		m.checkStart(cpuSpan{at: tt.at}, from, until)
		if got := len(m.usage.Errors) > 0; got != tt.want {
			t.Errorf("readings at %v of [%v, %v): errors %q, want an error %v", tt.at, from, until, m.usage.Errors, tt.want)
		}
	}
	var none *serverMeter
	none.checkStart(cpuSpan{at: until}, from, until) // no pid: nothing to flag, no panic
}
