package soak

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// transports lists the client transports in the order the soak reports
// them.
var transports = []loadtest.Transport{loadtest.TransportUDP, loadtest.TransportTCP, loadtest.TransportTLS}

// Load is the size of the soak's work, per transport unless it says
// otherwise. The defaults keep a 2-core machine that others share mostly
// idle: the soak is about what a relay keeps over time, not how fast it
// goes.
type Load struct {
	// TrafficAllocations allocations per transport carry TrafficRate probes
	// per second in all of PayloadSize bytes to echo peers (the load
	// generator's open loop), refreshed as the run goes.
	TrafficAllocations int     `json:"traffic_allocations"`
	TrafficRate        float64 `json:"traffic_pps"`
	PayloadSize        int     `json:"payload_bytes"`
	// ChurnWorkers per transport run allocate / refresh / delete cycles,
	// ChurnRate cycles per second across them (UDP; TCP half, TLS a
	// quarter, since each of their cycles is a new connection).
	ChurnWorkers int     `json:"churn_workers"`
	ChurnRate    float64 `json:"churn_cps"`
	// VanishEvery: each transport's vanishing-peer client sees its echo
	// peer closed and replaced this often.
	VanishEvery time.Duration `json:"vanish_every_ns"`
	// Stalled clients (TCP and TLS in turn) stop reading for StallHold
	// while a peer sends them StallRate bytes per second, then reconnect.
	Stalled   int           `json:"stalled_clients"`
	StallHold time.Duration `json:"stall_hold_ns"`
	StallRate int           `json:"stall_bytes_per_s"`
	// ReloadEvery: the secrets and resources files are rewritten and the
	// relay sent SIGHUP this often.
	ReloadEvery time.Duration `json:"reload_every_ns"`
}

// DefaultLoad is the load of `make soak`.
func DefaultLoad() Load {
	return Load{
		TrafficAllocations: 8,
		TrafficRate:        200,
		PayloadSize:        200,
		ChurnWorkers:       2,
		ChurnRate:          4,
		VanishEvery:        2 * time.Second,
		Stalled:            4,
		StallHold:          8 * time.Second,
		StallRate:          1 << 20,
		ReloadEvery:        3 * time.Second,
	}
}

// loadConfig is the load generator's configuration for one of the soak's
// runs against the relay over transport, lasting d.
func loadConfig(p *relayProcess, transport loadtest.Transport, user string, d time.Duration) loadtest.Config {
	cfg := loadtest.DefaultConfig()
	switch transport {
	case loadtest.TransportUDP:
		cfg.Server = p.udp.String()
	case loadtest.TransportTCP:
		cfg.Server = p.tcp.String()
	case loadtest.TransportTLS:
		cfg.Server = p.tls.String()
		cfg.TLSCAFile = p.certFile
	}
	cfg.Transport = transport
	cfg.Secret = p.secret
	cfg.User = user
	cfg.CredentialTTL = d + time.Hour
	cfg.Duration = d
	cfg.Warmup = 0
	cfg.PeerIP = netip.MustParseAddr("127.0.0.1")
	cfg.EchoSockets = 1
	cfg.SampleInterval = time.Second
	// A loaded machine may hold a probe or an answer for a while; the
	// soak counts loss, it does not measure latency.
	cfg.PacketTimeout = 3 * time.Second
	cfg.RequestTimeout = 10 * time.Second
	cfg.SetupTimeout = 60 * time.Second
	return cfg
}

// runTraffic relays probes over transport for d with the load generator
// and returns what came back and the session cycles: each allocation's
// setup, every refresh and its delete at the end.
func runTraffic(ctx context.Context, p *relayProcess, transport loadtest.Transport, l Load, d time.Duration) (Traffic, Cycles) {
	cfg := loadConfig(p, transport, "soak-traffic-"+string(transport), d)
	cfg.Mode = loadtest.ModeOpen
	cfg.Allocations = l.TrafficAllocations
	cfg.Rate = l.TrafficRate
	cfg.PayloadSize = l.PayloadSize
	cfg.SetupConcurrency = l.TrafficAllocations
	res, err := loadtest.Run(ctx, cfg)
	var tr Traffic
	var c Cycles
	if res.Packets != nil {
		tr = Traffic{Sent: res.Packets.Sent, Received: res.Packets.Received, Lost: res.Packets.Lost}
	}
	if s := res.Setup; s != nil {
		c.Attempted += uint64(s.Allocated)
		for k, n := range s.Failures {
			c.failN("setup "+k, n)
		}
	}
	c.Attempted += res.Refreshes
	for k, n := range res.RefreshFailures {
		c.failN("refresh "+k, n)
	}
	if res.Setup != nil {
		c.Attempted += uint64(res.Setup.Allocated)
	}
	for k, n := range res.TeardownFailures {
		c.Attempted -= n // counted among the deletes already
		c.failN("teardown "+k, n)
	}
	if err != nil {
		c.fail("run: " + err.Error())
	}
	return tr, c
}

// runChurn runs allocate / refresh / delete cycles over transport for d
// with the load generator: every cycle a new connection, as a new client
// would.
func runChurn(ctx context.Context, p *relayProcess, transport loadtest.Transport, l Load, d time.Duration) Cycles {
	cfg := loadConfig(p, transport, "soak-churn-"+string(transport), d)
	cfg.Mode = loadtest.ModeChurn
	cfg.Allocations = l.ChurnWorkers
	cfg.ChurnRate = l.ChurnRate
	switch transport {
	case loadtest.TransportTCP:
		cfg.ChurnRate /= 2
	case loadtest.TransportTLS:
		cfg.ChurnRate /= 4
	}
	res, err := loadtest.Run(ctx, cfg)
	var c Cycles
	if ch := res.Churn; ch != nil {
		c.Attempted = ch.Cycles + ch.Failed
		c.Failed = ch.Failed
		if len(ch.Failures) > 0 {
			c.Failures = maps.Clone(ch.Failures)
		}
	}
	if err != nil {
		c.fail("run: " + err.Error())
	}
	return c
}

// failN counts n failed attempts under key.
func (c *Cycles) failN(key string, n uint64) {
	for range n {
		c.fail(key)
	}
}

// merge adds o's counts to c.
func (c *Cycles) merge(o Cycles) {
	c.Attempted += o.Attempted
	c.Failed += o.Failed
	for k, n := range o.Failures {
		if c.Failures == nil {
			c.Failures = map[string]uint64{}
		}
		c.Failures[k] += n
	}
}

// String is for progress lines.
func (c Cycles) String() string { return fmt.Sprintf("%d/%d", c.Attempted-c.Failed, c.Attempted) }
