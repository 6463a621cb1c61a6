package loadtest

import (
	"github.com/turnstile-relay/turnstile/loadtest/latency"
)

// Result is what a run measured. Times are in seconds unless a field name
// says otherwise; RTTs are in microseconds. Sections that do not apply to
// the mode are nil. It marshals to JSON as documented by the tags.
type Result struct {
	Mode        Mode      `json:"mode"`
	Transport   Transport `json:"transport"`
	Server      string    `json:"server"`
	SendPath    SendPath  `json:"send_path"`
	Allocations int       `json:"allocations"`
	InFlight    int       `json:"in_flight,omitempty"`
	PayloadSize int       `json:"payload_bytes"`
	// TargetRate is the open loop's Rate, or the realistic flows' mean
	// offered packets per second.
	TargetRate float64 `json:"target_pps,omitempty"`
	// VideoFlows is how many realistic flows carried video.
	VideoFlows int `json:"video_flows,omitempty"`
	// GSO is Config.GSO: the generator joined datagrams into segmented
	// sends (a best case for servers with UDP_GRO).
	GSO bool `json:"gso,omitempty"`
	// Seconds is the measured time: Duration, or the sum of ramp steps.
	Seconds float64 `json:"seconds"`

	Setup   *SetupResult   `json:"setup,omitempty"`
	Packets *PacketResult  `json:"packets,omitempty"`
	RTT     *LatencyResult `json:"rtt,omitempty"`
	Churn   *ChurnResult   `json:"churn,omitempty"`
	Ramp    *RampResult    `json:"ramp,omitempty"`
	TCP     *TCPResult     `json:"tcp,omitempty"`
	// ServerUsage is present when Config.ServerPID was set.
	ServerUsage *ServerUsage `json:"server_usage,omitempty"`
	// Timeline is the throughput sampled every Config.SampleInterval from
	// the start of traffic (warmup included).
	Timeline []Sample `json:"timeline,omitempty"`
	// Refreshes counts refresh requests (Refresh, and ChannelBind or
	// CreatePermission again) answered with success during the data phase.
	Refreshes uint64 `json:"refreshes,omitempty"`
	// RefreshFailures counts failed refreshes during the data phase by
	// "<op>:<code>" (op refresh, bind, permission; code a STUN error code,
	// timeout, integrity or transport).
	RefreshFailures map[string]uint64 `json:"refresh_failures,omitempty"`
	// TeardownFailures counts failed deletes at the end, keyed the same way.
	TeardownFailures map[string]uint64 `json:"teardown_failures,omitempty"`
}

// SetupResult describes allocating before traffic: each allocation is
// Allocate (with the 401 round trip) plus ChannelBind or CreatePermission.
type SetupResult struct {
	Allocated            int               `json:"allocated"`
	Failures             map[string]uint64 `json:"failures,omitempty"`
	Seconds              float64           `json:"seconds"`
	AllocationsPerSecond float64           `json:"allocations_per_second"`
}

// PacketResult counts probes whose send time lies in the measured window.
type PacketResult struct {
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	// Lost is closed loop's count of probes not back within PacketTimeout;
	// in open loop it is Sent − Received after the drain.
	Lost uint64 `json:"lost"`
	// Late counts probes that came back after their timeout or twice.
	Late uint64 `json:"late"`
	// LossRatio is Lost / (Received + Lost).
	LossRatio         float64 `json:"loss_ratio"`
	SentPerSecond     float64 `json:"sent_pps"`
	ReceivedPerSecond float64 `json:"received_pps"`
	// Stray counts frames from the server that were not our probes.
	Stray       uint64 `json:"stray,omitempty"`
	WriteErrors uint64 `json:"write_errors,omitempty"`
	ReadErrors  uint64 `json:"read_errors,omitempty"`
}

// LatencyResult summarises a latency histogram. Percentiles are nearest-rank,
// exact below 2048 µs and at most 0.1 % low above (package latency).
type LatencyResult struct {
	Samples    uint64           `json:"samples"`
	MinMicros  uint64           `json:"min_us"`
	P50Micros  uint64           `json:"p50_us"`
	P90Micros  uint64           `json:"p90_us"`
	P99Micros  uint64           `json:"p99_us"`
	P999Micros uint64           `json:"p999_us"`
	MaxMicros  uint64           `json:"max_us"`
	MeanMicros float64          `json:"mean_us"`
	Histogram  []latency.Bucket `json:"histogram,omitempty"`
}

// ChurnResult describes allocate/refresh/delete cycles started in the
// measured window.
type ChurnResult struct {
	// Attempted is Cycles + Failed: every cycle started in the window.
	Attempted       uint64  `json:"attempted"`
	Cycles          uint64  `json:"cycles"`
	Failed          uint64  `json:"failed"`
	CyclesPerSecond float64 `json:"cycles_per_second"`
	// Failures counts failed cycles by "<op>:<code>", op one of dial,
	// allocate, refresh, delete.
	Failures map[string]uint64 `json:"failures,omitempty"`
	// Latency is the duration of a successful cycle (three transactions).
	Latency *LatencyResult `json:"latency,omitempty"`
	// DistinctSources says whether every new connection came from its own
	// loopback source address (an IPv4 loopback server); otherwise the
	// kernel picked the source, one address with ephemeral ports.
	DistinctSources bool `json:"distinct_sources"`
	// SourceAddresses is how many source addresses were used (warmup
	// included), with DistinctSources.
	SourceAddresses uint64 `json:"source_addresses,omitempty"`
}

// RampResult lists the ramp's steps and the highest rate that stayed under
// the loss limit.
type RampResult struct {
	LossLimit float64    `json:"loss_limit"`
	Steps     []RampStep `json:"steps"`
	// MaxRate is the highest target rate whose loss stayed below LossLimit
	// (0 if even the first step did not), and MaxReceivedRate what came back
	// at that step.
	MaxRate         float64 `json:"max_pps"`
	MaxReceivedRate float64 `json:"max_received_pps"`
}

// RampStep is one open-loop step of the ramp.
type RampStep struct {
	TargetRate        float64 `json:"target_pps"`
	Sent              uint64  `json:"sent"`
	Received          uint64  `json:"received"`
	LossRatio         float64 `json:"loss_ratio"`
	SentPerSecond     float64 `json:"sent_pps"`
	ReceivedPerSecond float64 `json:"received_pps"`
	P50Micros         uint64  `json:"p50_us"`
	P99Micros         uint64  `json:"p99_us"`
}

// ServerUsage is the server process's cost, from procstat.
type ServerUsage struct {
	PID int `json:"pid"`
	// CPUSeconds is the server's CPU time (user + system, all threads)
	// during the measured window.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RelayedPackets is what the server relayed in the same window: probes
	// that reached the echo peers plus probes that came back.
	RelayedPackets uint64 `json:"relayed_packets,omitempty"`
	// CPUPerPacketNanos is CPUSeconds / RelayedPackets, in ns.
	CPUPerPacketNanos float64 `json:"cpu_per_packet_ns,omitempty"`
	// MachineCPUSeconds is the work of all CPUs in the same window (user,
	// nice, system, irq and softirq of /proc/stat): the server, the load
	// generator, the kernel's packet delivery charged to no process, and
	// anything else running.
	MachineCPUSeconds float64 `json:"machine_cpu_seconds,omitempty"`
	// MachineCPUPerPacketNanos is MachineCPUSeconds / RelayedPackets, in ns.
	MachineCPUPerPacketNanos float64 `json:"machine_cpu_per_packet_ns,omitempty"`
	// GeneratorCPUSeconds is the load generator's own CPU time (this
	// process, echo peers included) in the same window.
	GeneratorCPUSeconds float64 `json:"generator_cpu_seconds,omitempty"`
	// RelayedBytes is what a TCP relaying run counted relayed in the window
	// (TCPResult.RelayedBytes); CPUPerMBMicros and MachineCPUPerMBMicros are
	// CPUSeconds and MachineCPUSeconds per 10^6 of those bytes, in µs.
	RelayedBytes          uint64  `json:"relayed_bytes,omitempty"`
	CPUPerMBMicros        float64 `json:"cpu_per_mb_us,omitempty"`
	MachineCPUPerMBMicros float64 `json:"machine_cpu_per_mb_us,omitempty"`
	// CPUPerCycleNanos is CPUSeconds per successful churn cycle, in ns.
	CPUPerCycleNanos float64 `json:"cpu_per_cycle_ns,omitempty"`
	// RSS before allocating, after setting up every allocation, and after
	// deleting them, in bytes.
	RSSBeforeBytes        uint64 `json:"rss_before_bytes,omitempty"`
	RSSAfterSetupBytes    uint64 `json:"rss_after_setup_bytes,omitempty"`
	RSSAfterTeardownBytes uint64 `json:"rss_after_teardown_bytes,omitempty"`
	// RSSPerAllocationBytes is (after setup − before) / allocations.
	RSSPerAllocationBytes float64 `json:"rss_per_allocation_bytes,omitempty"`
	// RSSAnonPoints are the server's RssAnon at each of
	// Config.RSSCheckpoints, with the allocations it held then.
	RSSAnonPoints []RSSPoint `json:"rss_anon_points,omitempty"`
	// RSSAnonSlopeBytes is the least-squares slope of RSSAnonPoints: bytes
	// of anonymous memory per further allocation (with two or more points).
	RSSAnonSlopeBytes float64 `json:"rss_anon_slope_bytes,omitempty"`
	// CounterDelta is Config.CounterSeries's growth over the window the
	// CPU readings cover, read with them; nil without Config.CounterURL or
	// when a scrape failed (the failure is in Errors).
	CounterDelta *float64 `json:"counter_delta,omitempty"`
	// Errors lists failures to read the server's /proc entries or its
	// window counter.
	Errors []string `json:"errors,omitempty"`
}

// RSSPoint is the server's anonymous resident memory while it held
// Allocations allocations.
type RSSPoint struct {
	Allocations  int    `json:"allocations"`
	RSSAnonBytes uint64 `json:"rss_anon_bytes"`
}

// Sample is the throughput over one sampling interval ending Seconds after
// traffic started.
type Sample struct {
	Seconds           float64 `json:"t"`
	SentPerSecond     float64 `json:"sent_pps"`
	ReceivedPerSecond float64 `json:"received_pps"`
}

// latencyResult summarises c (nil when empty).
func latencyResult(c latency.Counts) *LatencyResult {
	if c.Total() == 0 {
		return nil
	}
	return &LatencyResult{
		Samples:    c.Total(),
		MinMicros:  c.Min(),
		P50Micros:  c.Percentile(0.50),
		P90Micros:  c.Percentile(0.90),
		P99Micros:  c.Percentile(0.99),
		P999Micros: c.Percentile(0.999),
		MaxMicros:  c.Max(),
		MeanMicros: c.MeanMicros(),
		Histogram:  c.NonEmpty(),
	}
}

// packetResult turns window counts over seconds into a PacketResult.
// closedLoop selects the loss definition.
func packetResult(c counts, seconds float64, closedLoop bool) *PacketResult {
	p := &PacketResult{
		Sent: c.sent, Received: c.received, Late: c.late, Stray: c.stray,
		WriteErrors: c.writeErrors, ReadErrors: c.readErrors,
	}
	if closedLoop {
		p.Lost = c.lost
	} else if c.sent > c.received {
		p.Lost = c.sent - c.received
	}
	if d := p.Received + p.Lost; d > 0 {
		p.LossRatio = float64(p.Lost) / float64(d)
	}
	if seconds > 0 {
		p.SentPerSecond = float64(c.sent) / seconds
		p.ReceivedPerSecond = float64(c.received) / seconds
	}
	return p
}

// mergeCounts adds src's counts into *dst, creating it when needed.
func mergeCounts(dst *map[string]uint64, src map[string]uint64) {
	for k, v := range src {
		if *dst == nil {
			*dst = make(map[string]uint64)
		}
		(*dst)[k] += v
	}
}
