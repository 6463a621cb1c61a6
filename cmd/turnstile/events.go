package main

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/relay"
)

// Limits of the allocation log: at most allocationLogRate lines per second
// for creations and as many for endings (the rest are counted in the next
// line's "suppressed" field), and a queue that absorbs bursts without ever
// making the relay wait.
const (
	allocationLogRate  = 20
	allocationLogQueue = 256
)

// Sampler keys of the allocation log.
const (
	sampleCreated logging.SampleKey = iota
	sampleEnded
)

// allocationRecord is what a log line needs from an event, copied on the
// relay's goroutine so the allocation is not read later.
type allocationRecord struct {
	kind       relay.EventKind
	username   string
	client     netip.AddrPort
	transport  string
	relayed4   netip.AddrPort
	relayed6   netip.AddrPort
	lifetime   time.Duration
	suppressed uint64
}

// allocationLog writes a line when an allocation is created or ends.
// relay.Config.Events runs on the packet loops and must not block, so
// offer only samples, copies and enqueues without waiting; a goroutine
// writes the lines. Events that find the queue full are counted and
// reported on a later line ("lost"). Safe for concurrent use.
type allocationLog struct {
	log     *slog.Logger
	sampler *logging.Sampler
	queue   chan allocationRecord
	lost    atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
}

func newAllocationLog(log *slog.Logger) (*allocationLog, error) {
	l, err := makeAllocationLog(log, allocationLogQueue)
	if err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// makeAllocationLog builds the log without starting its goroutine.
func makeAllocationLog(log *slog.Logger, queue int) (*allocationLog, error) {
	sampler, err := logging.NewSampler(allocationLogRate, time.Second)
	if err != nil {
		return nil, err
	}
	return &allocationLog{
		log:     log,
		sampler: sampler,
		queue:   make(chan allocationRecord, queue),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// offer queues a line for ev if the rate limit allows; it never blocks and
// does not allocate. Refreshes are not logged.
func (l *allocationLog) offer(ev relay.Event) {
	a := ev.Allocation
	if a == nil || ev.Kind == relay.EventRefreshed {
		return
	}
	key := sampleEnded
	if ev.Kind == relay.EventCreated {
		key = sampleCreated
	}
	ok, suppressed := l.sampler.Allow(key, ev.At)
	if !ok {
		return
	}
	rec := allocationRecord{
		kind:       ev.Kind,
		username:   a.Username,
		client:     a.FiveTuple.Client,
		transport:  a.FiveTuple.Transport.String(),
		relayed4:   a.Relayed4,
		relayed6:   a.Relayed6,
		suppressed: suppressed,
	}
	if ev.Kind != relay.EventCreated {
		rec.lifetime = max(ev.At.Sub(a.Created), 0)
	}
	select {
	case l.queue <- rec:
	default:
		l.lost.Add(1 + suppressed)
	}
}

// run writes queued lines until close, then the ones still queued.
func (l *allocationLog) run() {
	defer close(l.done)
	for {
		select {
		case rec := <-l.queue:
			l.write(rec)
		case <-l.stop:
			for {
				select {
				case rec := <-l.queue:
					l.write(rec)
				default:
					return
				}
			}
		}
	}
}

// close writes what is queued and stops the goroutine. Events offered
// afterwards are dropped silently (the relay is closed by then).
func (l *allocationLog) close() {
	close(l.stop)
	<-l.done
}

// write logs one record. The username came from the client's USERNAME
// attribute, so it goes through logging.Untrusted; the key and password
// never reach this type.
func (l *allocationLog) write(rec allocationRecord) {
	attrs := []slog.Attr{
		logging.Untrusted("user", rec.username),
		slog.String("client", rec.client.String()),
		slog.String("transport", rec.transport),
	}
	if rec.relayed4.IsValid() {
		attrs = append(attrs, slog.String("relayed_ipv4", rec.relayed4.String()))
	}
	if rec.relayed6.IsValid() {
		attrs = append(attrs, slog.String("relayed_ipv6", rec.relayed6.String()))
	}
	msg := "allocation created"
	if rec.kind != relay.EventCreated {
		msg = "allocation ended"
		attrs = append(attrs, slog.String("reason", rec.kind.String()),
			slog.Float64("lifetime_seconds", rec.lifetime.Seconds()))
	}
	if rec.suppressed > 0 {
		attrs = append(attrs, logging.SuppressedAttr(rec.suppressed))
	}
	if lost := l.lost.Swap(0); lost > 0 {
		attrs = append(attrs, slog.Uint64("lost", lost))
	}
	l.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}
