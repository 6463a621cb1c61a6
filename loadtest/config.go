package loadtest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"runtime"
	"time"
)

// Mode selects what a run measures.
type Mode string

// The modes (see the package documentation).
const (
	ModeClosed Mode = "closed"
	ModeOpen   Mode = "open"
	ModeRamp   Mode = "ramp"
	ModeChurn  Mode = "churn"
	// ModeRealistic paces audio-like and video-like flows, each on its own
	// with jitter, one datagram per send call (flows.go).
	ModeRealistic Mode = "realistic"
	// ModeTCP relays TCP (RFC 6062): each of Allocations TCP allocations
	// connects to a loopback echo peer and streams bulk data both ways
	// (tcprelay.go).
	ModeTCP Mode = "tcp"
)

// Transport is the client-to-server transport (RFC 8656 §3.1).
type Transport string

// The transports.
const (
	TransportUDP Transport = "udp"
	TransportTCP Transport = "tcp"
	TransportTLS Transport = "tls"
)

// SendPath selects how probes are sent to the peer.
type SendPath string

// The send paths.
const (
	// SendChannel binds a channel (ChannelBind) and sends ChannelData
	// (RFC 8656 §12).
	SendChannel SendPath = "channel"
	// SendIndication installs a permission (CreatePermission) and sends
	// Send indications (RFC 8656 §10, §11).
	SendIndication SendPath = "send"
)

// Config describes one run. Start from DefaultConfig; Run rejects values out
// of range (it never clamps them). Durations are wall-clock durations; rates
// are packets or cycles per second.
type Config struct {
	// Server is the TURN server's host:port. The host must resolve to
	// loopback addresses unless AllowNonLoopback is set.
	Server    string
	Transport Transport
	// TLSCAFile is a PEM file of CA certificates to verify the server with
	// instead of the system roots (e.g. a self-signed test certificate).
	TLSCAFile string
	// TLSInsecureSkipVerify disables certificate verification (self-signed
	// test certificates only).
	TLSInsecureSkipVerify bool
	// TLSServerName overrides the name verified and sent as SNI; default the
	// host part of Server.
	TLSServerName string
	// AllowNonLoopback permits a Server and PeerIP that are not loopback.
	// Never load a server you do not operate.
	AllowNonLoopback bool

	// Secret selects TURN REST credentials: allocation i authenticates as
	// "<expiry>:<User>-<i>" with password base64(HMAC-SHA1(Secret, name)),
	// expiring CredentialTTL after the run starts. Distinct users keep
	// per-user quotas from limiting the run.
	Secret        string
	User          string
	CredentialTTL time.Duration
	// Username and Password select static long-term credentials, shared by
	// every allocation. Exactly one of Secret and Username must be set.
	Username string
	Password string

	Mode Mode
	// Allocations is the number of allocations (closed, open, ramp) or of
	// concurrent allocate/refresh/delete workers (churn).
	Allocations int
	// InFlight is the number of probes each allocation keeps in flight in
	// closed-loop mode.
	InFlight int
	// Rate is the open-loop target in packets per second, across all
	// allocations.
	Rate float64
	// VideoFlows is how many of the Allocations carry video-like flows in
	// realistic mode; the others carry audio-like flows.
	VideoFlows int
	// Jitter bounds how late after its nominal time a realistic flow's
	// packet (or video frame) leaves: each is delayed by a uniform draw
	// in [0, Jitter).
	Jitter time.Duration
	// Seed fixes the realistic flows' draws (phases, jitter, frame
	// sizes); 0 draws a seed from the clock. Runs that compare datapaths
	// give each the same seed, so they carry the same schedule and differ
	// in the datapath alone.
	Seed uint64
	// GSO lets a closed-loop window of equal probes leave as one
	// segmented send (UDP_SEGMENT) and lets the echo peers answer a run of
	// datagrams the same way. On loopback a server with UDP_GRO then
	// receives the run coalesced, which clients that send one datagram per
	// call never give it: a best case (docs/performance.md). Off, every
	// datagram leaves in its own send or its own sendmmsg entry.
	GSO      bool
	SendPath SendPath
	// PayloadSize is the probe's application data size in bytes; at least
	// ProbeHeaderSize.
	PayloadSize int
	// Duration is the measured part of the run (closed, open, churn).
	Duration time.Duration
	// Warmup runs traffic before measuring; it is not counted.
	Warmup time.Duration
	// PacketTimeout is how long a probe may take before it counts as lost.
	PacketTimeout time.Duration
	// MaxPackets bounds the number of probes sent (0: bounded by time only).
	// In closed loop each allocation gets an equal share.
	MaxPackets uint64

	// RequestTimeout bounds one STUN transaction, retransmissions included
	// (UDP retransmits after 500 ms, doubling, RFC 8489 §6.2.1).
	RequestTimeout time.Duration
	// SetupTimeout bounds setting up all allocations.
	SetupTimeout time.Duration
	// SetupConcurrency is how many allocations are set up at once.
	SetupConcurrency int
	// RefreshInterval is how often allocations, permissions and channels are
	// refreshed during long runs; it must be shorter than the 300 s
	// permission lifetime (RFC 8656 §9).
	RefreshInterval time.Duration

	// ChurnRate paces allocate/refresh/delete cycles per second across the
	// workers (0: as fast as the workers go).
	ChurnRate float64
	// ChurnReuseConnection makes each churn worker keep its connection (its
	// 5-tuple) and nonce across cycles instead of connecting afresh for
	// every cycle as a new client would. Reusing a 5-tuple right after
	// deleting its allocation is legal (RFC 8656 §8) but races with servers
	// that clean up asynchronously: pion/turn v3's relay goroutine deletes
	// "the allocation of this 5-tuple" after the socket closes, which can be
	// the next cycle's new allocation.
	ChurnReuseConnection bool

	// Ramp: open-loop steps of RampStepDuration starting at RampStartRate,
	// multiplying by RampFactor up to RampMaxRate, stopping at the first step
	// whose loss reaches RampLossLimit (a fraction, 0.001 = 0.1 %).
	RampStartRate    float64
	RampFactor       float64
	RampMaxRate      float64
	RampStepDuration time.Duration
	RampLossLimit    float64

	// PeerIP is the address the echo peers bind; loopback unless
	// AllowNonLoopback.
	PeerIP netip.Addr
	// Peers, when not empty, are echo peers another process runs
	// (ServeEcho), e.g. in another network namespace; allocation i uses
	// Peers[i mod len(Peers)] and no echo peer starts here (PeerIP and
	// EchoSockets are unused). Loopback unless AllowNonLoopback. The
	// result's relayed counts then lack the datagrams to the peers, which
	// ServeEcho reports.
	Peers []netip.AddrPort
	// Direct sends the same probes straight from each client socket to its
	// echo peer, with no TURN server and no framing: the baseline a relay's
	// cost is measured above (docs/xdp.md's netns profile). UDP and the
	// packet modes but churn only; Server and credentials are unused.
	Direct bool
	// EchoSockets is the number of echo peer sockets (one goroutine each);
	// allocation i uses socket i mod EchoSockets.
	EchoSockets int
	// ServerPID, when not 0, is the server's process id, for its CPU time
	// and memory.
	ServerPID int
	// CounterURL, when set, is the server's Prometheus text endpoint
	// (http://host:port/metrics), scraped with the CPU clocks at the
	// measured window's start and end so that CounterSeries (`name` or
	// `name{label="value",...}`, every matching sample summed) covers
	// exactly the window the CPU does (ServerUsage.CounterDelta). It needs
	// ServerPID, and its host must be a loopback IP address unless
	// AllowNonLoopback.
	CounterURL    string
	CounterSeries string
	// RSSCheckpoints are allocation counts, ascending and at most
	// Allocations, at which setup pauses to read the server's RssAnon, for
	// the memory per allocation as a slope over several counts
	// (ServerUsage.RSSAnonSlopeBytes). They need ServerPID and a mode with
	// allocations (not churn).
	RSSCheckpoints []int
	// SampleInterval is the spacing of throughput samples and progress
	// lines.
	SampleInterval time.Duration
	// Progress, when not nil, receives a live progress line per sample
	// (carriage return, no newline; a final newline at the end).
	Progress io.Writer
}

// ProbeHeaderSize is the part of every probe payload the generator uses:
// magic, slot, allocation index, sequence number and send time.
const ProbeHeaderSize = probeSize

// Limits enforced by Validate.
const (
	MaxAllocations = 100_000
	MaxInFlight    = 1024
	MaxRate        = 10_000_000
	MaxPayloadSize = 16_384
	MaxDuration    = time.Hour
)

// DefaultConfig returns the defaults: a closed-loop UDP run of 32
// allocations × 4 in flight, 100-byte ChannelData for 10 s against
// 127.0.0.1:3478. Credentials must still be set.
func DefaultConfig() Config {
	return Config{
		Server:           "127.0.0.1:3478",
		Transport:        TransportUDP,
		User:             "load",
		CredentialTTL:    24 * time.Hour,
		Mode:             ModeClosed,
		Allocations:      32,
		InFlight:         4,
		Rate:             10_000,
		SendPath:         SendChannel,
		PayloadSize:      100,
		Duration:         10 * time.Second,
		Warmup:           time.Second,
		PacketTimeout:    time.Second,
		RequestTimeout:   5 * time.Second,
		SetupTimeout:     60 * time.Second,
		SetupConcurrency: 64,
		RefreshInterval:  2 * time.Minute,
		VideoFlows:       0,
		Jitter:           4 * time.Millisecond,
		RampStartRate:    1000,
		RampFactor:       1.5,
		RampMaxRate:      1_000_000,
		RampStepDuration: 2 * time.Second,
		RampLossLimit:    0.001,
		PeerIP:           netip.MustParseAddr("127.0.0.1"),
		EchoSockets:      max(2, runtime.GOMAXPROCS(0)),
		SampleInterval:   500 * time.Millisecond,
	}
}

// Validate checks every field and names the first one out of range.
func (c *Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("loadtest: Config.%s = %v: %s", field, v, want)
	}
	durationIn := func(field string, d, lo, hi time.Duration) error {
		if d < lo || d > hi {
			return bad(field, d, fmt.Sprintf("must be between %v and %v", lo, hi))
		}
		return nil
	}
	if c.Server == "" {
		return bad("Server", `""`, "must be host:port")
	}
	switch c.Transport {
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		return bad("Transport", c.Transport, `must be "udp", "tcp" or "tls"`)
	}
	if c.Transport != TransportTLS && (c.TLSCAFile != "" || c.TLSInsecureSkipVerify || c.TLSServerName != "") {
		return bad("Transport", c.Transport, "TLS options given for a non-TLS transport")
	}
	if c.TLSCAFile != "" && c.TLSInsecureSkipVerify {
		return bad("TLSInsecureSkipVerify", true, "contradicts TLSCAFile")
	}
	switch {
	case c.Direct:
		if c.Transport != TransportUDP || c.Mode == ModeChurn || c.Mode == ModeTCP {
			return bad("Direct", c.Direct, "needs UDP and the closed, open, ramp or realistic mode")
		}
	case c.Secret != "" && c.Username != "":
		return bad("Username", c.Username, "set either Secret (REST credentials) or Username/Password, not both")
	case c.Secret == "" && c.Username == "":
		return errors.New("loadtest: no credentials: set Config.Secret (REST) or Config.Username and Config.Password")
	case c.Secret != "":
		if err := durationIn("CredentialTTL", c.CredentialTTL, time.Minute, 365*24*time.Hour); err != nil {
			return err
		}
	}
	switch c.Mode {
	case ModeClosed, ModeOpen, ModeRamp, ModeChurn, ModeRealistic:
	case ModeTCP:
		// RFC 6062 §4.1: TCP allocations are made over a TCP or TLS control
		// connection; the client here binds its data connections over plain
		// TCP, so the control connection is plain TCP too.
		if c.Transport != TransportTCP {
			return bad("Transport", c.Transport, `TCP relaying needs "tcp"`)
		}
		if c.Allocations > MaxTCPConnections {
			return bad("Allocations", c.Allocations, fmt.Sprintf("TCP relaying streams at most %d connections", MaxTCPConnections))
		}
	default:
		return bad("Mode", c.Mode, `must be "closed", "open", "ramp", "churn", "realistic" or "tcp"`)
	}
	if c.Mode == ModeRealistic {
		if err := c.validateRealistic(bad); err != nil {
			return err
		}
	}
	if c.Allocations < 1 || c.Allocations > MaxAllocations {
		return bad("Allocations", c.Allocations, fmt.Sprintf("must be between 1 and %d", MaxAllocations))
	}
	if c.InFlight < 1 || c.InFlight > MaxInFlight {
		return bad("InFlight", c.InFlight, fmt.Sprintf("must be between 1 and %d", MaxInFlight))
	}
	if c.Mode == ModeOpen && !(c.Rate > 0 && c.Rate <= MaxRate) {
		return bad("Rate", c.Rate, fmt.Sprintf("must be above 0 and at most %d packets/s", MaxRate))
	}
	switch c.SendPath {
	case SendChannel, SendIndication:
	default:
		return bad("SendPath", c.SendPath, `must be "channel" or "send"`)
	}
	if c.PayloadSize < ProbeHeaderSize || c.PayloadSize > MaxPayloadSize {
		return bad("PayloadSize", c.PayloadSize, fmt.Sprintf("must be between %d and %d bytes", ProbeHeaderSize, MaxPayloadSize))
	}
	if c.Mode != ModeRamp {
		if err := durationIn("Duration", c.Duration, 10*time.Millisecond, MaxDuration); err != nil {
			return err
		}
	}
	if err := durationIn("Warmup", c.Warmup, 0, 10*time.Minute); err != nil {
		return err
	}
	if err := durationIn("PacketTimeout", c.PacketTimeout, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if err := durationIn("RequestTimeout", c.RequestTimeout, 100*time.Millisecond, time.Minute); err != nil {
		return err
	}
	if err := durationIn("SetupTimeout", c.SetupTimeout, 100*time.Millisecond, 30*time.Minute); err != nil {
		return err
	}
	if c.SetupConcurrency < 1 || c.SetupConcurrency > 10_000 {
		return bad("SetupConcurrency", c.SetupConcurrency, "must be between 1 and 10000")
	}
	if err := durationIn("RefreshInterval", c.RefreshInterval, time.Second, 4*time.Minute); err != nil {
		return err
	}
	if !(c.ChurnRate >= 0 && c.ChurnRate <= MaxRate) {
		return bad("ChurnRate", c.ChurnRate, fmt.Sprintf("must be between 0 and %d cycles/s", MaxRate))
	}
	if c.Mode == ModeRamp {
		if err := c.validateRamp(bad, durationIn); err != nil {
			return err
		}
	}
	if !c.PeerIP.IsValid() {
		return bad("PeerIP", c.PeerIP, "must be an IP address")
	}
	if !c.AllowNonLoopback && !c.PeerIP.Unmap().IsLoopback() {
		return bad("PeerIP", c.PeerIP, "is not loopback (set AllowNonLoopback to load other hosts)")
	}
	for _, p := range c.Peers {
		if !p.IsValid() || p.Port() == 0 {
			return bad("Peers", p, "must be address:port")
		}
		if !c.AllowNonLoopback && !p.Addr().Unmap().IsLoopback() {
			return bad("Peers", p, "is not loopback (set AllowNonLoopback to load other hosts)")
		}
	}
	if c.EchoSockets < 1 || c.EchoSockets > 256 {
		return bad("EchoSockets", c.EchoSockets, "must be between 1 and 256")
	}
	if c.ServerPID < 0 {
		return bad("ServerPID", c.ServerPID, "must be a process id or 0")
	}
	if err := c.validateCheckpoints(bad); err != nil {
		return err
	}
	if err := c.validateCounter(bad); err != nil {
		return err
	}
	return durationIn("SampleInterval", c.SampleInterval, 10*time.Millisecond, time.Minute)
}

func (c *Config) validateRealistic(bad func(string, any, string) error) error {
	if c.VideoFlows < 0 || c.VideoFlows > c.Allocations {
		return bad("VideoFlows", c.VideoFlows, "must be between 0 and Allocations")
	}
	if c.Jitter < 0 || c.Jitter >= audioInterval {
		return bad("Jitter", c.Jitter, fmt.Sprintf("must be at least 0 and below the audio packet interval %v", audioInterval))
	}
	if c.GSO {
		return bad("GSO", true, "realistic flows send one datagram per send call")
	}
	if c.Transport != TransportUDP {
		return bad("Transport", c.Transport, "realistic flows are UDP media")
	}
	return nil
}

func (c *Config) validateRamp(bad func(string, any, string) error, durationIn func(string, time.Duration, time.Duration, time.Duration) error) error {
	if !(c.RampStartRate > 0 && c.RampStartRate <= MaxRate) {
		return bad("RampStartRate", c.RampStartRate, fmt.Sprintf("must be above 0 and at most %d", MaxRate))
	}
	if !(c.RampMaxRate >= c.RampStartRate && c.RampMaxRate <= MaxRate) {
		return bad("RampMaxRate", c.RampMaxRate, fmt.Sprintf("must be between RampStartRate and %d", MaxRate))
	}
	if !(c.RampFactor > 1 && c.RampFactor <= 10) {
		return bad("RampFactor", c.RampFactor, "must be above 1 and at most 10")
	}
	if !(c.RampLossLimit > 0 && c.RampLossLimit < 1) {
		return bad("RampLossLimit", c.RampLossLimit, "must be a fraction between 0 and 1 (exclusive)")
	}
	if err := durationIn("RampStepDuration", c.RampStepDuration, 100*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if total := time.Duration(c.rampSteps()) * (c.RampStepDuration + c.PacketTimeout); total > MaxDuration {
		return bad("RampStepDuration", c.RampStepDuration, fmt.Sprintf("the ramp could take %v, more than %v", total, MaxDuration))
	}
	return nil
}

// maxPayload is the largest probe payload the run sends: PayloadSize, or
// in realistic mode the largest packet of a flow (flows.go).
func (c *Config) maxPayload() int {
	if c.Mode == ModeRealistic {
		return videoPacketSize
	}
	return c.PayloadSize
}

func (c *Config) validateCheckpoints(bad func(string, any, string) error) error {
	if len(c.RSSCheckpoints) == 0 {
		return nil
	}
	if c.ServerPID == 0 || c.Mode == ModeChurn {
		return bad("RSSCheckpoints", c.RSSCheckpoints, "need ServerPID and a mode other than churn")
	}
	for i, n := range c.RSSCheckpoints {
		if n < 1 || n > c.Allocations || (i > 0 && n <= c.RSSCheckpoints[i-1]) {
			return bad("RSSCheckpoints", c.RSSCheckpoints, "must ascend strictly between 1 and Allocations")
		}
	}
	return nil
}

// rampSteps is the number of ramp steps from RampStartRate to RampMaxRate.
func (c *Config) rampSteps() int {
	return int(math.Floor(math.Log(c.RampMaxRate/c.RampStartRate)/math.Log(c.RampFactor)+1e-9)) + 1
}

// measuring returns how long traffic is measured (the ramp's worst case).
func (c *Config) measuring() time.Duration {
	if c.Mode == ModeRamp {
		return time.Duration(c.rampSteps()) * (c.RampStepDuration + c.PacketTimeout)
	}
	return c.Duration
}

// budget is the hard bound on the whole run: setup, warmup, measuring,
// draining and deleting the allocations, plus slack for the scheduler.
func (c *Config) budget() time.Duration {
	return c.SetupTimeout + c.Warmup + c.measuring() + c.PacketTimeout + 2*c.RequestTimeout + 10*time.Second
}
