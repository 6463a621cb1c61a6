package bench

import (
	"fmt"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// tcpConnections is the TCP relaying load's number of relayed connections:
// a few bulk streams, each with its own allocation, enough for a median
// across connections without making the two shared cores the limit of
// the count rather than of the relay.
const tcpConnections = 4

// tcpLoad is RFC 6062 TCP relaying: tcpConnections TCP allocations over TCP
// control connections, each Connect-ing to its own loopback echo peer and
// streaming bulk data both ways on the bound data connection.
// turnstile-nooffload is left out (UDP GSO/GRO does not touch TCP
// relaying: it would measure the same server again) and pion cannot relay
// TCP.
func tcpLoad(p LoadParams) Load {
	c := base(p)
	c.Mode, c.Transport = loadtest.ModeTCP, loadtest.TransportTCP
	c.Allocations = p.TCPConnections
	c.Duration = p.TCPDuration
	return Load{
		Name: "tcp",
		Title: fmt.Sprintf("TCP relaying (RFC 6062): %d allocations, each a Connect to its own loopback echo peer and a bound data connection streaming %d KiB writes both ways for %v",
			p.TCPConnections, tcpWriteKiB, p.TCPDuration),
		Config:  c,
		Metrics: []Metric{tcpPerConnection, tcpCPUPerMB, tcpMachineCPUPerMB, tcpTotal, serverCores, generatorCores, setupFailures, foreignCPU},
		NotApplicable: map[string]string{
			TurnstileNoOffload: "UDP offload (GSO/GRO) does not touch TCP relaying; the turnstile column is the same server",
			Pion:               pionNoTCPRelay,
		},
	}
}

// tcpWriteKiB is the generator's write size, for the title.
const tcpWriteKiB = 16

var (
	tcpPerConnection = Metric{
		Key: "tcp_mbps_per_connection", Title: "throughput per connection (both ways; median over connections)", Unit: "MB/s",
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.TCP == nil || len(r.TCP.PerConnectionMBps) == 0 {
				return 0, false
			}
			return r.TCP.MedianMBps, true
		}),
	}
	tcpTotal = Metric{
		Key: "tcp_mbps_total", Title: "relayed in total (both ways, all connections)", Unit: "MB/s",
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.TCP == nil || r.Seconds <= 0 {
				return 0, false
			}
			return float64(r.TCP.RelayedBytes) / r.Seconds / 1e6, true
		}),
	}
	tcpCPUPerMB = Metric{
		Key: "tcp_cpu_per_mb_us", Title: "server CPU per MB relayed", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.ServerUsage.RelayedBytes == 0 {
				return 0, false
			}
			return r.ServerUsage.CPUPerMBMicros, true
		}),
	}
	tcpMachineCPUPerMB = Metric{
		Key: "tcp_machine_cpu_per_mb_us", Title: "whole-machine CPU per MB relayed (all cores, generator included)", Unit: "µs",
		LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.ServerUsage.RelayedBytes == 0 || r.ServerUsage.MachineCPUSeconds == 0 {
				return 0, false
			}
			return r.ServerUsage.MachineCPUPerMBMicros, true
		}),
	}
)
