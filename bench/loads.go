package bench

import (
	"fmt"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// Load is one load run against every server, and what is read from its
// result.
type Load struct {
	// Name is a short key ("realistic", "closed", "burst", "rss", "many",
	// "churn").
	Name string `json:"name"`
	// Title describes the load for the tables.
	Title string `json:"title"`
	// Config is the load generator's configuration without the target:
	// Server, credentials and ServerPID are filled in per server.
	Config  loadtest.Config `json:"-"`
	Metrics []Metric        `json:"-"`
	// NotApplicable maps a server that cannot run the load to the reason;
	// the runner skips it and the report says "n/a".
	NotApplicable map[string]string `json:"-"`
}

// Metric is one number read from a loadtest.Result.
type Metric struct {
	Key   string
	Title string
	Unit  string
	// LowerIsBetter says which way is better (CPU, memory, latency, loss).
	LowerIsBetter bool
	// Worst aggregates the runs by their worst value instead of the median:
	// for counts of failures, where one bad run matters.
	Worst bool
	// NoRatio leaves out ratios between servers (counts, where 0 is the
	// goal and a ratio says nothing).
	NoRatio bool
	// Target is issue 6's goal for turnstile, if any.
	Target Target
	// Value reads the metric; ok is false when the result lacks it.
	Value func(o *Observation) (v float64, ok bool)
}

// Observation is what one measurement saw: the load generator's result and
// the kernel's count of UDP datagrams dropped for a full receive buffer
// while the load ran (machine-wide: the server's and the load generator's
// sockets alike).
type Observation struct {
	Result *loadtest.Result
	// RcvbufDrops is the growth of /proc/net/snmp's Udp RcvbufErrors over
	// the load; valid when HaveDrops.
	RcvbufDrops uint64
	HaveDrops   bool
	// ForeignCores is the CPU other processes used while the load ran, in
	// cores; valid when HaveForeign.
	ForeignCores float64
	HaveForeign  bool
}

// LoadParams size the loads. FullParams follows issue 6; QuickParams is a
// smoke run.
type LoadParams struct {
	// Warmup precedes every measured window.
	Warmup time.Duration
	// RealisticAudio and RealisticVideo are the realistic load's flows,
	// RealisticDuration its measured time.
	RealisticAudio, RealisticVideo int
	RealisticDuration              time.Duration
	// ClosedDuration is the measured time of the closed and burst loads.
	ClosedDuration time.Duration
	// RSSAllocations is load 2's number of allocations, each with a channel.
	RSSAllocations int
	// ManyAllocations and ManyDuration are load 3's allocations (one probe
	// in flight each) and measured time.
	ManyAllocations int
	ManyDuration    time.Duration
	// ChurnWorkers and ChurnDuration are load 4's concurrent
	// allocate/refresh/delete workers and measured time.
	ChurnWorkers  int
	ChurnDuration time.Duration
	// RampStep and RampFactor shape load 5, the ramp of offered load: each
	// step's duration, and the rate's growth from step to step.
	RampStep   time.Duration
	RampFactor float64
	// TCPConnections and TCPDuration are the TCP relaying load's streams
	// and measured time.
	TCPConnections int
	TCPDuration    time.Duration
}

// FullParams is the issue-6 run: 2000 and 5000 allocations, 5 s windows.
func FullParams() LoadParams {
	return LoadParams{
		Warmup:            time.Second,
		RealisticAudio:    realisticAudio,
		RealisticVideo:    realisticVideo,
		RealisticDuration: 5 * time.Second,
		ClosedDuration:    5 * time.Second,
		RSSAllocations:    2000,
		ManyAllocations:   5000,
		ManyDuration:      5 * time.Second,
		ChurnWorkers:      16,
		ChurnDuration:     5 * time.Second,
		RampStep:          time.Second,
		RampFactor:        1.6,
		TCPConnections:    tcpConnections,
		TCPDuration:       3 * time.Second,
	}
}

// QuickParams keeps the allocation counts of issue 6 and shortens every
// window, for a smoke run of about a minute with one repetition.
func QuickParams() LoadParams {
	return LoadParams{
		Warmup:            500 * time.Millisecond,
		RealisticAudio:    realisticAudio,
		RealisticVideo:    realisticVideo,
		RealisticDuration: 2 * time.Second,
		ClosedDuration:    2 * time.Second,
		RSSAllocations:    2000,
		ManyAllocations:   5000,
		ManyDuration:      2 * time.Second,
		ChurnWorkers:      16,
		ChurnDuration:     2 * time.Second,
		RampStep:          500 * time.Millisecond,
		RampFactor:        2,
		TCPConnections:    tcpConnections,
		TCPDuration:       time.Second,
	}
}

// The realistic load's flows: 192 audio flows (50 packets/s of 100–200
// bytes) and 48 video flows (30 frames/s of 3–5 datagrams up to 1200
// bytes) offer 15 360 packets/s, 30 720 relayed datagrams a second counting
// both directions: a substantial load for two shared cores that leaves the
// servers and the generator headroom (docs/performance.md).
const (
	realisticAudio = 192
	realisticVideo = 48
)

// base is the configuration every load starts from: UDP, ChannelData,
// 100-byte payloads, loopback echo peers, a 1 s probe timeout.
func base(p LoadParams) loadtest.Config {
	c := loadtest.DefaultConfig()
	c.Warmup = p.Warmup
	// REST credentials valid for an hour: well inside every server's limit
	// (turnstile refuses expiries beyond TURNSTILE_CREDENTIAL_MAX_TTL, 24 h).
	c.CredentialTTL = time.Hour
	c.User = "bench"
	return c
}

// rssCheckpoints are the allocation counts at which the memory load reads
// the server's RssAnon: a quarter, half, three quarters and all of n, so the
// slope through them leaves out the server's fixed memory.
func rssCheckpoints(n int) []int {
	var out []int
	for _, k := range []int{n / 4, n / 2, 3 * n / 4, n} {
		if k >= 1 && (len(out) == 0 || k > out[len(out)-1]) {
			out = append(out, k)
		}
	}
	return out
}

// Loads returns the loads sized by p: the realistic flows first (the
// headline), the closed loop one datagram per send call, the same closed
// loop with GSO windows (a best case), then issue 6's memory, 5000 × 1 and
// churn loads.
func Loads(p LoadParams) []Load {
	realistic := base(p)
	realistic.Mode = loadtest.ModeRealistic
	realistic.Allocations, realistic.VideoFlows = p.RealisticAudio+p.RealisticVideo, p.RealisticVideo
	realistic.Duration = p.RealisticDuration

	closed := base(p)
	closed.Mode = loadtest.ModeClosed
	closed.Allocations, closed.InFlight = 32, 4
	closed.Duration = p.ClosedDuration

	burst := closed
	burst.GSO = true

	rss := base(p)
	rss.Mode = loadtest.ModeClosed
	rss.Allocations, rss.InFlight = p.RSSAllocations, 1
	rss.RSSCheckpoints = rssCheckpoints(p.RSSAllocations)
	rss.Warmup = 0
	rss.Duration = 500 * time.Millisecond

	many := base(p)
	many.Mode = loadtest.ModeClosed
	many.Allocations, many.InFlight = p.ManyAllocations, 1
	many.Duration = p.ManyDuration

	churn := base(p)
	churn.Mode = loadtest.ModeChurn
	churn.Allocations = p.ChurnWorkers
	churn.Duration = p.ChurnDuration

	ramp := base(p)
	ramp.Mode = loadtest.ModeRamp
	ramp.Allocations = rampAllocations
	ramp.RampStartRate, ramp.RampMaxRate, ramp.RampFactor = rampStartRate, rampMaxRate, p.RampFactor
	ramp.RampStepDuration = p.RampStep
	ramp.RampLossLimit = rampLossLimit
	ramp.PacketTimeout = rampPacketTimeout

	return []Load{
		{
			Name: "realistic",
			Title: fmt.Sprintf("realistic: %d audio + %d video flows, each paced with jitter, one datagram per send call, %.0f packets/s offered",
				p.RealisticAudio, p.RealisticVideo, loadtest.OfferedRate(p.RealisticAudio, p.RealisticVideo)),
			Config: realistic,
			Metrics: []Metric{
				cpuPerPacketNoTarget, machineCPUPerPacket, offered, throughputNoTarget, lossRatio, rttP50, rttP99, rttP999,
				serverCores, generatorCores, rcvbufDrops, foreignCPU,
			},
		},
		{
			Name:   "closed",
			Title:  "1. closed loop, 32 allocations × 4 in flight, 100-byte ChannelData, one datagram per send call",
			Config: closed,
			Metrics: []Metric{
				cpuPerPacket, machineCPUPerPacket, throughput, serverCores, generatorCores, lossRatio, rttP50, rttP99, rcvbufDrops, foreignCPU,
			},
		},
		{
			Name:   "burst",
			Title:  "best case: the closed loop with GSO windows (each window of 4 one segmented send, echo runs alike; only UDP_GRO servers gain)",
			Config: burst,
			Metrics: []Metric{
				cpuPerPacketNoTarget, machineCPUPerPacket, throughputNoTarget, serverCores, generatorCores, lossRatio, rttP50, rttP99, rcvbufDrops, foreignCPU,
			},
		},
		{
			Name:    "rss",
			Title:   fmt.Sprintf("2. memory: RssAnon read at %v allocations, each with a channel; per allocation: the least-squares slope", rss.RSSCheckpoints),
			Config:  rss,
			Metrics: []Metric{rssPerAllocation, setupRate, setupFailures, foreignCPU},
		},
		{
			Name:    "many",
			Title:   fmt.Sprintf("3. %d allocations × 1 in flight, 100-byte ChannelData", p.ManyAllocations),
			Config:  many,
			Metrics: []Metric{timeouts, setupFailuresZero, rttP99Below, rttP50, throughputNoTarget, cpuPerPacketNoTarget, serverCores, rcvbufDrops, foreignCPU},
		},
		{
			Name:    "churn",
			Title:   fmt.Sprintf("4. churn: %d workers, allocate + refresh + delete, each cycle from its own loopback address", p.ChurnWorkers),
			Config:  churn,
			Metrics: []Metric{churnRate, attemptedCycles, churnFailures, cpuPerCycle, foreignCPU},
		},
		{
			Name: "ramp",
			Title: fmt.Sprintf("5. ramp: %d allocations, open loop from %g probes/s × %g per %v step until %g %% are lost (latency-vs-load.png)",
				rampAllocations, rampStartRate, p.RampFactor, p.RampStep, 100*rampLossLimit),
			Config:  ramp,
			Metrics: []Metric{rampHighestRate, rampFirstP99, foreignCPU},
		},
		tcpLoad(p),
	}
}

// The ramp of offered load (load 5): open-loop steps from rampStartRate,
// stopping at the first step that loses rampLossLimit of its probes, so the
// chart shows the knee and one step past it. A probe not back within
// rampPacketTimeout is lost (real-time media has no use for a later one),
// which also bounds each step's drain.
const (
	rampAllocations   = 64
	rampStartRate     = 2000.0
	rampMaxRate       = 500_000.0
	rampLossLimit     = 0.05
	rampPacketTimeout = 500 * time.Millisecond
)
