package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/turnstile-relay/turnstile/metrics"
	"github.com/turnstile-relay/turnstile/relay"
)

// summaryInterval is how often the daemon logs a summary line. It is set
// in code only: the line is for a human skimming the log, the metrics
// endpoint is for machines.
const summaryInterval = 60 * time.Second

// summarizer logs a "summary" line every interval: the live allocations and
// what was relayed and dropped since the previous line. It reads
// relay.Stats once per line (which allocates; a few maps a minute).
type summarizer struct {
	src  metrics.Source
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
}

// startSummary starts the goroutine; stop it with close.
func startSummary(src metrics.Source, log *slog.Logger, every time.Duration) *summarizer {
	s := &summarizer{src: src, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(every)
	return s
}

func (s *summarizer) run(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev, prevAt := s.src.Stats(), time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		cur, now := s.src.Stats(), time.Now()
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "summary",
			summaryAttrs(prev, cur, now.Sub(prevAt), s.src.Draining())...)
		prev, prevAt = cur, now
	}
}

// close stops the goroutine and waits for it.
func (s *summarizer) close() {
	close(s.stop)
	<-s.done
}

// summaryAttrs are the fields of a summary line: gauges as of cur, counters
// as the change from prev to cur. auth_failures holds no challenges: the
// relay counts those apart (relay.Stats.Challenges).
func summaryAttrs(prev, cur relay.Stats, elapsed time.Duration, draining bool) []slog.Attr {
	authFailures := func(st relay.Stats) uint64 { return sum(st.AuthFailures) }
	return []slog.Attr{
		slog.Int("allocations", cur.Allocations.Allocations),
		slog.Int64("tcp_connections", cur.TCPConnections),
		slog.Uint64("packets_to_peer", since(sum(prev.Packets["to_peer"]), sum(cur.Packets["to_peer"]))),
		slog.Uint64("packets_to_client", since(sum(prev.Packets["to_client"]), sum(cur.Packets["to_client"]))),
		slog.Uint64("bytes_to_peer", since(sum(prev.Bytes["to_peer"]), sum(cur.Bytes["to_peer"]))),
		slog.Uint64("bytes_to_client", since(sum(prev.Bytes["to_client"]), sum(cur.Bytes["to_client"]))),
		slog.Uint64("drops", since(sum(prev.Drops), sum(cur.Drops))),
		slog.Uint64("auth_failures", since(authFailures(prev), authFailures(cur))),
		slog.Bool("draining", draining),
		slog.Float64("interval_seconds", elapsed.Seconds()),
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// since is the growth of a counter from prev to cur. The relay's counters
// never go back; if one did, the line reports cur rather than wrapping.
func since(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}
