package loadtest

import (
	"math"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// receiveLoop is a session's open-loop receiver: it counts probes coming
// back, checks them for duplicates and lateness, and records their RTT from
// the send time they carry. It also drives the session's refreshes.
func (r *runState) receiveLoop(s *session) {
	timeout := r.cfg.PacketTimeout
	now := mono.Now()
	wake := r.receiveWake(s, now)
	r.arm(s, now, wake)
	for !r.stop.Load() {
		frames, err := s.cl.conn.readFrames()
		now = mono.Now()
		timedOut := false
		if err != nil {
			if timedOut = isTimeout(err); !timedOut && !r.survive(s, err) {
				return
			}
		}
		for _, f := range frames {
			p, ok := s.onFrame(f, now)
			if !ok {
				continue
			}
			rtt := now.Sub(p.sent)
			if rtt < 0 {
				bump(&s.cnt.stray) // a send time from our future: not our probe
				continue
			}
			measured := r.win.contains(p.sent)
			if s.seen.observe(p.seq) != seqNew || rtt >= timeout {
				if measured {
					bump(&s.cnt.late)
				}
				continue
			}
			if measured {
				bump(&s.cnt.received)
				r.hist.Record(s.id, int64(rtt))
			}
		}
		if timedOut || !now.Before(wake) {
			if s.refresh.due(now) {
				s.refresh.start(s, now)
			}
			wake = r.receiveWake(s, now)
			r.arm(s, now, wake)
		}
	}
}

func (r *runState) receiveWake(s *session, now mono.Time) mono.Time {
	if s.refresh.interval > 0 {
		return s.refresh.next
	}
	return now.Add(time.Hour)
}

// pacerCount is how many goroutines send open-loop probes.
func pacerCount(sessions int) int { return max(1, min(sessions, 4)) }

// runPacers sends probes at rate packets/s in total from start until end,
// spread round-robin over the sessions by pacerCount goroutines, and returns
// when they finish.
func (r *runState) runPacers(rate float64, start, end mono.Time) {
	k := len(r.pacers)
	var wg sync.WaitGroup
	for j := 0; j < k; j++ {
		var mine []*session
		for i := j; i < len(r.sessions); i += k {
			mine = append(mine, r.sessions[i])
		}
		p := &r.pacers[j]
		wg.Go(func() { p.run(r, mine, rate/float64(k), start, end) })
	}
	wg.Wait()
}

// pacer is one open-loop sender's state, kept across ramp steps.
type pacer struct {
	cnt    counters
	budget uint64 // probes it may still send
}

// run sends at rate packets/s from start until end. It computes how many
// probes are due from the elapsed time and sends them, then sleeps until the
// next one is due; if it falls behind by more than a burst (the generator or
// the scheduler is saturated) it drops the backlog instead of racing to catch
// up, so the achieved rate in the result shows the shortfall.
func (p *pacer) run(r *runState, sessions []*session, rate float64, start, end mono.Time) {
	if len(sessions) == 0 {
		return
	}
	maxBurst := uint64(max(64, rate*0.005))
	var tick uint64
	next := 0
	for !r.stop.Load() && p.budget > 0 {
		now := mono.Now()
		if !now.Before(end) {
			return
		}
		due := uint64(float64(now.Sub(start))*rate/1e9) + 1
		if due <= tick {
			at := start.Add(time.Duration(math.Ceil(float64(tick) / rate * 1e9)))
			time.Sleep(at.Sub(now))
			continue
		}
		if due-tick > maxBurst {
			tick = due - maxBurst
		}
		for ; tick < due && p.budget > 0; tick++ {
			s := sessions[next]
			next = (next + 1) % len(sessions)
			p.send(r, s)
		}
	}
}

// send writes one probe on s.
func (p *pacer) send(r *runState, s *session) { p.sendSized(r, s, s.payload, mono.Now()) }

// sendSized writes one probe of size payload bytes on s at now, in a send
// call of its own.
func (p *pacer) sendSized(r *runState, s *session, size int, now mono.Time) {
	s.openSeq++
	frame := s.fillSized(s.openFrame, &s.openTxid, probe{session: uint32(s.id), seq: s.openSeq, sent: now}, size)
	if err := s.cl.conn.writeFrame(frame); err != nil {
		bump(&p.cnt.writeErrors)
		return
	}
	p.budget--
	bump(&p.cnt.sentAll)
	if r.win.contains(now) {
		bump(&p.cnt.sent)
	}
}

// runFlowPacers sends the realistic profile's flows from start until end,
// the sessions spread round-robin over pacerCount goroutines, and returns
// when they finish. Sessions below Config.VideoFlows carry video.
func (r *runState) runFlowPacers(start, end mono.Time) {
	k := len(r.pacers)
	seed := r.cfg.Seed
	if seed == 0 {
		seed = uint64(mono.Now())
	}
	var wg sync.WaitGroup
	for j := 0; j < k; j++ {
		var mine []*session
		video := 0
		for i := j; i < len(r.sessions); i += k {
			mine = append(mine, r.sessions[i])
			if i < r.cfg.VideoFlows {
				video++
			}
		}
		p := &r.pacers[j]
		sched := newFlowSchedule(len(mine), video, start, r.cfg.Jitter, seed+uint64(j))
		wg.Go(func() { p.runFlows(r, mine, sched, end, systemFlowClock{}) })
	}
	wg.Wait()
}

// flowClock is the time source of runFlows: the system's, or a test's fake
// that advances when asked to sleep.
type flowClock interface {
	Now() mono.Time
	Sleep(d time.Duration)
}

// systemFlowClock is the real flowClock.
type systemFlowClock struct{}

func (systemFlowClock) Now() mono.Time        { return mono.Now() }
func (systemFlowClock) Sleep(d time.Duration) { time.Sleep(d) }

// runFlows sends every burst of sched when it is due until end, each
// packet in a send call of its own, and sleeps until the next. A pacer
// that falls behind sends the overdue bursts at once, late: the achieved
// rate and the RTTs show it.
func (p *pacer) runFlows(r *runState, sessions []*session, sched *flowSchedule, end mono.Time, clock flowClock) {
	if len(sessions) == 0 {
		return
	}
	now := clock.Now()
	for !r.stop.Load() && p.budget > 0 && now.Before(end) {
		for p.budget > 0 {
			b, ok := sched.pop(now)
			if !ok {
				break
			}
			s := sessions[b.session]
			for _, size := range b.sizes[:b.n] {
				if p.budget == 0 {
					break
				}
				p.sendSized(r, s, size, now)
			}
		}
		if d := min(sched.next(), end).Sub(now); d > 0 {
			clock.Sleep(d)
		}
		now = clock.Now()
	}
}
