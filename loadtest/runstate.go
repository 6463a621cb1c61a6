package loadtest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/latency"
)

// histShards spreads RTT recording over this many histogram shards (chosen
// by allocation index) so concurrent loops rarely share a cache line.
const histShards = 16

// runState is what one run's goroutines share. The configuration, target
// and session list are fixed once the data phase starts; stop, win, hist and
// the counters are safe for concurrent use.
type runState struct {
	cfg      *Config
	target   target
	sessions []*session
	pacers   []pacer
	echo     *echoPool
	hist     *latency.Histogram
	win      window
	stop     atomic.Bool
	loops    sync.WaitGroup
}

// arm sets s's read deadline to the mono instant wake, given that now is
// the current mono time.
func (r *runState) arm(s *session, now, wake mono.Time) {
	s.cl.conn.setReadDeadline(time.Now().Add(wake.Sub(now)))
}

// survive decides whether a loop continues after a read error that is not
// a deadline: a connected UDP socket's ECONNREFUSED (an ICMP error for an
// earlier datagram) is counted and survived; a closed or broken connection
// ends the loop.
func (r *runState) survive(s *session, err error) bool {
	bump(&s.cnt.readErrors)
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	return !s.cl.conn.stream() && isConnRefused(err)
}

// startLoops starts one goroutine per session running loop.
func (r *runState) startLoops(loop func(*session)) {
	for _, s := range r.sessions {
		r.loops.Go(func() { loop(s) })
	}
}

// stopLoops tells every loop to stop, wakes it by moving its read deadline
// to the past, and waits. The flag is set before the deadlines move, and
// loops check it after every re-arm, so none can miss it. Calling it again
// is harmless.
func (r *runState) stopLoops() {
	r.stop.Store(true)
	past := time.Unix(1, 0)
	for _, s := range r.sessions {
		s.cl.conn.setReadDeadline(past)
	}
	r.loops.Wait()
	for _, s := range r.sessions {
		s.cl.conn.setReadDeadline(time.Time{})
	}
}

// totals sums the counters of every session and pacer.
func (r *runState) totals() counts {
	var c counts
	for _, s := range r.sessions {
		c = c.add(s.cnt.load())
	}
	for i := range r.pacers {
		c = c.add(r.pacers[i].cnt.load())
	}
	return c
}

// sampler records throughput every SampleInterval from start until done is
// closed, and writes a progress line per sample when cfg.Progress is set.
func (r *runState) sampler(start mono.Time, done <-chan struct{}) []Sample {
	tick := time.NewTicker(r.cfg.SampleInterval)
	defer tick.Stop()
	var out []Sample
	prev, prevT := r.totals(), start
	for {
		select {
		case <-done:
			if r.cfg.Progress != nil {
				r.cfg.Progress.Write([]byte("\n"))
			}
			return out
		case <-tick.C:
		}
		now := mono.Now()
		cur := r.totals()
		dt := now.Sub(prevT).Seconds()
		smp := Sample{
			Seconds:           now.Sub(start).Seconds(),
			SentPerSecond:     float64(cur.sentAll-prev.sentAll) / dt,
			ReceivedPerSecond: float64(cur.receivedAll-prev.receivedAll) / dt,
		}
		out = append(out, smp)
		if r.cfg.Progress != nil {
			writeProgress(r.cfg.Progress, smp, cur)
		}
		prev, prevT = cur, now
	}
}
