package loadtest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/loadtest/latency"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// fakeFlowClock is a flowClock on monotest's fake: sleeping advances it.
type fakeFlowClock struct{ *monotest.Clock }

func (c fakeFlowClock) Sleep(d time.Duration) { c.Advance(d) }

// sentDatagram is one send call seen by sendRecorder.
type sentDatagram struct {
	session int
	at      mono.Time
	payload int
}

// sendRecorder is a frameConn that records every send call: writeFrame's
// single datagram with its probe's send time and payload size, and how
// often writeFrames (a batch) was called.
type sendRecorder struct {
	t          *testing.T
	session    int
	log        *[]sentDatagram
	batchCalls *int
}

func (c *sendRecorder) writeFrame(f []byte) error {
	ch, data, ok := turnwire.ParseChannelData(f)
	if !ok || ch != turnwire.ChannelMin {
		c.t.Fatalf("send of %d bytes is not one ChannelData message", len(f))
	}
	p, ok := parseProbe(data)
	if !ok || int(p.session) != c.session {
		c.t.Fatalf("datagram without this session's probe: %+v", p)
	}
	*c.log = append(*c.log, sentDatagram{session: c.session, at: p.sent, payload: len(data)})
	return nil
}

func (c *sendRecorder) writeFrames(frames [][]byte) error {
	*c.batchCalls++
	return nil
}
func (c *sendRecorder) readFrames() ([][]byte, error)   { return nil, nil }
func (c *sendRecorder) setReadDeadline(time.Time) error { return nil }
func (c *sendRecorder) close() error                    { return nil }
func (c *sendRecorder) stream() bool                    { return false }

// runFakeFlows runs one pacer over audio+video flows (video first) on a fake
// clock for d and returns every send call, in order.
func runFakeFlows(t *testing.T, audio, video int, jitter, d time.Duration) (log []sentDatagram, batchCalls int, start mono.Time) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Mode, cfg.Allocations, cfg.VideoFlows, cfg.Jitter = ModeRealistic, audio+video, video, jitter
	r := &runState{cfg: &cfg, hist: latency.New(1)}
	r.win.set(0, 1<<62)
	for i := 0; i < audio+video; i++ {
		s := &session{id: i, payload: cfg.maxPayload(), variable: true, channel: turnwire.ChannelMin,
			peer: netip.MustParseAddrPort("127.0.0.1:5000")}
		s.cl.conn = &sendRecorder{t: t, session: i, log: &log, batchCalls: &batchCalls}
		s.openFrame = make([]byte, s.frameSize())
		r.sessions = append(r.sessions, s)
	}
	clock := fakeFlowClock{monotest.New(time.Unix(0, 0))}
	start = clock.Now()
	p := &pacer{budget: 1 << 40}
	sched := newFlowSchedule(len(r.sessions), video, start, jitter, 7)
	p.runFlows(r, r.sessions, sched, start.Add(d), clock)
	return log, batchCalls, start
}

// perSession splits a send log by session, keeping the order.
func perSession(log []sentDatagram) map[int][]sentDatagram {
	m := map[int][]sentDatagram{}
	for _, d := range log {
		m[d.session] = append(m[d.session], d)
	}
	return m
}

// TestAudioFlowSchedule: an audio flow sends 50 packets a second, each of
// 100–200 bytes in its own send call, each at most Jitter after its
// nominal time on a 20 ms grid, with delays that vary.
func TestAudioFlowSchedule(t *testing.T) {
	const jitter = 4 * time.Millisecond
	log, batches, start := runFakeFlows(t, 3, 0, jitter, 10*time.Second)
	if batches != 0 {
		t.Fatalf("%d batched writes, want every datagram in a send call of its own", batches)
	}
	for id, sends := range perSession(log) {
		// 10 s at 50/s: 500 packets, one fewer when the phase and jitter
		// push the last past the end.
		if n := len(sends); n < 499 || n > 500 {
			t.Fatalf("flow %d sent %d packets in 10 s, want 500 (50/s)", id, n)
		}
		// Send k lies at phase + k × 20 ms + delay_k with delay_k in
		// [0, jitter). The phase is unknown: the smallest offset from the
		// grid stands for it (over 500 uniform draws the smallest delay
		// is within microseconds of 0), so every offset must lie less
		// than jitter above it.
		grid := func(k int) time.Duration { return sends[k].at.Sub(start) - time.Duration(k)*audioInterval }
		phase := grid(0)
		for k := range sends {
			phase = min(phase, grid(k))
		}
		var minDelay, maxDelay time.Duration = jitter, 0
		for k, d := range sends {
			if d.payload < audioMinSize || d.payload > audioMaxSize {
				t.Fatalf("flow %d packet %d: %d bytes, want %d–%d", id, k, d.payload, audioMinSize, audioMaxSize)
			}
			delay := grid(k) - phase
			if delay >= jitter {
				t.Fatalf("flow %d packet %d sent %v after its nominal time, want below %v", id, k, delay, jitter)
			}
			minDelay, maxDelay = min(minDelay, delay), max(maxDelay, delay)
		}
		if maxDelay-minDelay < jitter/2 {
			t.Fatalf("flow %d: delays span only %v–%v over %d packets: no jitter", id, minDelay, maxDelay, len(sends))
		}
	}
}

// TestVideoFlowSchedule: a video flow sends 30 frames a second, each frame
// 3–5 datagrams of which all but the last carry 1200 bytes, all of a frame
// at one instant but each in its own send call.
func TestVideoFlowSchedule(t *testing.T) {
	const jitter = 4 * time.Millisecond
	log, batches, _ := runFakeFlows(t, 0, 2, jitter, 3*time.Second)
	if batches != 0 {
		t.Fatalf("%d batched writes, want every datagram in a send call of its own", batches)
	}
	for id, sends := range perSession(log) {
		var frames [][]sentDatagram
		for i, d := range sends {
			if i == 0 || d.at != sends[i-1].at {
				frames = append(frames, nil)
			}
			frames[len(frames)-1] = append(frames[len(frames)-1], d)
		}
		if n := len(frames); n < 89 || n > 90 {
			t.Fatalf("flow %d sent %d frames in 3 s, want 90 (30/s)", id, n)
		}
		sizes := map[int]bool{}
		for k, f := range frames {
			sizes[len(f)] = true
			if len(f) < videoMinPackets || len(f) > videoMaxPackets {
				t.Fatalf("flow %d frame %d: %d datagrams, want %d–%d", id, k, len(f), videoMinPackets, videoMaxPackets)
			}
			for i, d := range f {
				last := i == len(f)-1
				if !last && d.payload != videoPacketSize || last && (d.payload < videoLastMinSize || d.payload > videoPacketSize) {
					t.Fatalf("flow %d frame %d datagram %d: %d bytes", id, k, i, d.payload)
				}
			}
			// Frames keep the 1/30 s grid within the jitter.
			if k > 0 {
				gap := f[0].at.Sub(frames[k-1][0].at)
				if gap <= videoInterval-jitter || gap >= videoInterval+jitter {
					t.Fatalf("flow %d: frame %d came %v after the one before, want %v ± %v", id, k, gap, videoInterval, jitter)
				}
			}
		}
		if len(sizes) < 2 {
			t.Fatalf("flow %d: every frame had the same number of datagrams %v", id, sizes)
		}
	}
}

// TestFlowScheduleMixesAndOffers: flows of both kinds interleave, and the
// schedule's packet count over a span matches offeredRate.
func TestFlowScheduleMixesAndOffers(t *testing.T) {
	const span = 5 * time.Second
	log, _, _ := runFakeFlows(t, 40, 10, 2*time.Millisecond, span)
	want := offeredRate(40, 10) * span.Seconds()
	if got := float64(len(log)); got < want*0.97 || got > want*1.03 {
		t.Fatalf("%v datagrams in %v, want about %v (offeredRate)", got, span, want)
	}
	if got := offeredRate(40, 10); got != 40*50+10*4*30 {
		t.Fatalf("offeredRate(40, 10) = %v, want %v", got, 40*50+10*4*30)
	}
	for i := 1; i < len(log); i++ {
		if log[i].at < log[i-1].at {
			t.Fatalf("send %d at %v before send %d at %v", i, log[i].at, i-1, log[i-1].at)
		}
	}
	if len(perSession(log)) != 50 {
		t.Fatalf("%d flows sent, want 50", len(perSession(log)))
	}
}

// TestRealisticRun: a short realistic run through a real server relays
// the flows' datagrams of every size with no loss, reports the offered
// rate it paced, and sends about that many.
func TestRealisticRun(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Mode, cfg.Allocations, cfg.VideoFlows = ModeRealistic, 8, 2
	cfg.Duration = time.Second
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSetup(t, cfg, res)
	checkNoLoss(t, res.Packets)
	checkLatency(t, res.RTT, res.Packets.Received)
	if want := offeredRate(6, 2); res.TargetRate != want {
		t.Fatalf("TargetRate %v, want %v", res.TargetRate, want)
	}
	if got := res.Packets.SentPerSecond; got < res.TargetRate*0.7 || got > res.TargetRate*1.3 {
		t.Fatalf("sent %.0f/s, want about the offered %.0f/s", got, res.TargetRate)
	}
	if res.Packets.Sent != res.Packets.Received || res.Packets.Stray != 0 {
		t.Fatalf("sent %d, received %d, stray %d", res.Packets.Sent, res.Packets.Received, res.Packets.Stray)
	}
}

// TestRealisticRefusesGSO: realistic flows send one datagram per call, so
// GSO and stream transports are configuration errors.
func TestRealisticRefusesGSO(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Secret = "s"
	cfg.Mode = ModeRealistic
	if err := cfg.Validate(); err != nil {
		t.Fatalf("realistic defaults: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"gso":         func(c *Config) { c.GSO = true },
		"tcp":         func(c *Config) { c.Transport = TransportTCP },
		"video > all": func(c *Config) { c.VideoFlows = c.Allocations + 1 },
		"jitter":      func(c *Config) { c.Jitter = audioInterval },
	} {
		c := cfg
		change(&c)
		if err := c.Validate(); err == nil {
			t.Fatalf("%s: Validate accepted %+v", name, c)
		}
	}
}
