package loadtest

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// churnRedialPause is how long a worker waits after failing to connect, so a
// dead server does not turn the run into a busy loop.
const churnRedialPause = 100 * time.Millisecond

// churn runs allocate / refresh / delete cycles on Allocations workers for
// Warmup + Duration. By default every cycle is what a new client does: a new
// connection (a new 5-tuple), an unauthenticated Allocate drawing the 401
// with realm and nonce, the authenticated Allocate, a Refresh and the delete.
// Against an IPv4 loopback server each new connection also comes from its
// own source address (loopbackSources), so no cycle lands on the 5-tuple of
// an allocation the server still holds after an earlier cycle's delete.
// With ChurnReuseConnection a worker keeps its connection and nonce while
// cycles succeed. After a failure the worker always starts over on a new
// connection, so a half-deleted allocation cannot poison later cycles. With
// ChurnRate set, cycle start times are spread evenly over time across all
// workers. A cycle is measured when it starts inside the window.
func (r *runState) churn(ctx context.Context, res *Result) error {
	cfg := r.cfg
	meter := newServerMeter(cfg)
	rssBefore := meter.rss()
	start := mono.Now()
	from := start.Add(cfg.Warmup)
	until := from.Add(cfg.Duration)
	r.win.set(from, until)

	var sources *loopbackSources
	if a := r.target.addr.Addr(); a.Is4() && a.IsLoopback() {
		sources = &loopbackSources{}
	}
	workers := make([]churnWorker, cfg.Allocations)
	var next atomic.Uint64
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() { w.run(ctx, r, i, start, until, &next, sources) })
	}
	err := sleepUntil(ctx, from, nil)
	span := meter.begin(0)
	wg.Wait()

	c := &ChurnResult{DistinctSources: sources != nil}
	for i := range workers {
		c.Cycles += workers[i].ok
		c.Failed += workers[i].failed
		mergeCounts(&c.Failures, workers[i].failures)
	}
	c.Attempted = c.Cycles + c.Failed
	if sources != nil {
		c.SourceAddresses = sources.taken()
	}
	meter.endCycles(span, c.Cycles)
	c.CyclesPerSecond = float64(c.Cycles) / cfg.Duration.Seconds()
	c.Latency = latencyResult(r.hist.Snapshot())
	res.Churn = c
	res.Seconds = cfg.Duration.Seconds()
	if u := meter.result(); u != nil {
		u.RSSBeforeBytes, u.RSSAfterTeardownBytes = rssBefore, meter.rss()
		res.ServerUsage = u
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// churnWorker is one churn goroutine's state and counts.
type churnWorker struct {
	cl       client
	ok       uint64
	failed   uint64
	failures map[string]uint64
}

// run cycles until the window ends; sources, when not nil, gives every new
// connection its source address.
func (w *churnWorker) run(ctx context.Context, r *runState, i int, start, until mono.Time, next *atomic.Uint64, sources *loopbackSources) {
	cfg := r.cfg
	user, pass := credentials(cfg, i, time.Now())
	w.cl = client{timeout: cfg.RequestTimeout, udp: cfg.Transport == TransportUDP}
	defer w.hangUp()
	for ctx.Err() == nil {
		if cfg.ChurnRate > 0 {
			k := next.Add(1) - 1
			at := start.Add(time.Duration(float64(k) / cfg.ChurnRate * float64(time.Second)))
			if !at.Before(until) || sleepUntil(ctx, at, nil) != nil {
				return
			}
		} else if !mono.Now().Before(until) {
			return
		}
		began := mono.Now()
		measured := r.win.contains(began)
		if w.cl.conn == nil {
			w.cl.auth = turnwire.NewAuth(user, pass)
			var source netip.Addr
			if sources != nil {
				source = sources.take()
			}
			conn, err := dial(ctx, cfg, r.target, source, 1, 1, ProbeHeaderSize)
			if err != nil {
				if measured {
					w.fail(&opError{"dial", err})
				}
				sleepUntil(ctx, mono.Now().Add(churnRedialPause), nil)
				continue
			}
			w.cl.conn = conn
		}
		err := w.cycle(ctx)
		if err != nil || !cfg.ChurnReuseConnection {
			w.hangUp()
		}
		if err != nil {
			if measured {
				w.fail(err)
			}
			continue
		}
		if measured {
			w.ok++
			r.hist.Record(i, int64(mono.Now().Sub(began)))
		}
	}
}

// cycle is Allocate, Refresh to 600 s, and Refresh to 0 (delete), RFC 8656
// §7 and §8. A failed refresh still tries to delete.
func (w *churnWorker) cycle(ctx context.Context) error {
	if _, _, err := w.cl.transact(ctx, "allocate", turnwire.AllocateRequest); err != nil {
		return err
	}
	_, _, err := w.cl.transact(ctx, "refresh", func(a *turnwire.Auth) (turnwire.Request, error) {
		return turnwire.RefreshRequest(a, 600)
	})
	if err != nil {
		w.cl.deleteAllocation(ctx)
		return err
	}
	return w.cl.deleteAllocation(ctx)
}

// hangUp closes the worker's connection, if any.
func (w *churnWorker) hangUp() {
	if w.cl.conn != nil {
		w.cl.conn.close()
		w.cl.conn = nil
	}
}

func (w *churnWorker) fail(err error) {
	w.failed++
	if w.failures == nil {
		w.failures = make(map[string]uint64)
	}
	w.failures[failureKey(err)]++
}
