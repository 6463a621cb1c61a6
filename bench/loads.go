package bench

import (
	"fmt"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// Load is one load run against every server, and what is read from its
// result.
type Load struct {
	// Name is a short key ("closed", "rss", "many", "churn").
	Name string `json:"name"`
	// Title describes the load for the tables.
	Title string `json:"title"`
	// Config is the load generator's configuration without the target:
	// Server, credentials and ServerPID are filled in per server.
	Config  loadtest.Config `json:"-"`
	Metrics []Metric        `json:"-"`
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
	// ClosedDuration is load 1's measured time.
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
}

// FullParams is the issue-6 run: 2000 and 5000 allocations, 5 s windows.
func FullParams() LoadParams {
	return LoadParams{
		Warmup:          time.Second,
		ClosedDuration:  5 * time.Second,
		RSSAllocations:  2000,
		ManyAllocations: 5000,
		ManyDuration:    5 * time.Second,
		ChurnWorkers:    16,
		ChurnDuration:   5 * time.Second,
	}
}

// QuickParams keeps the allocation counts of issue 6 and shortens every
// window, for a smoke run of about a minute with one repetition.
func QuickParams() LoadParams {
	return LoadParams{
		Warmup:          500 * time.Millisecond,
		ClosedDuration:  2 * time.Second,
		RSSAllocations:  2000,
		ManyAllocations: 5000,
		ManyDuration:    2 * time.Second,
		ChurnWorkers:    16,
		ChurnDuration:   2 * time.Second,
	}
}

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

// Loads returns issue 6's four loads sized by p.
func Loads(p LoadParams) []Load {
	closed := base(p)
	closed.Mode = loadtest.ModeClosed
	closed.Allocations, closed.InFlight = 32, 4
	closed.Duration = p.ClosedDuration

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

	return []Load{
		{
			Name:   "closed",
			Title:  "1. closed loop, 32 allocations × 4 in flight, 100-byte ChannelData",
			Config: closed,
			Metrics: []Metric{
				cpuPerPacket, throughput, serverCores, lossRatio, rttP50, rttP99, rcvbufDrops, foreignCPU,
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
	}
}
