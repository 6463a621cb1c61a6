package loadtest

import (
	"math/rand/v2"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// The realistic profile's flows, after what browsers and softphones send
// (docs/performance.md): an audio flow is one small packet every 20 ms (an
// Opus or G.711 frame, 50 packets/s); a video flow is a frame every 1/30 s
// cut into several packets near the path MTU, sent back to back but each
// in its own datagram.
const (
	audioInterval   = 20 * time.Millisecond
	audioMinSize    = 100
	audioMaxSize    = 200
	videoFrameRate  = 30
	videoInterval   = time.Second / videoFrameRate
	videoMinPackets = 3
	videoMaxPackets = 5
	// videoPacketSize is every packet of a frame but the last, which
	// carries the rest of the frame: between videoLastMinSize and
	// videoPacketSize bytes.
	videoPacketSize  = 1200
	videoLastMinSize = 200
)

// OfferedRate is the mean packets per second that audio and video flows of
// the realistic mode send together.
func OfferedRate(audio, video int) float64 { return offeredRate(audio, video) }

func offeredRate(audio, video int) float64 {
	perFrame := float64(videoMinPackets+videoMaxPackets) / 2
	return float64(audio)*float64(time.Second/audioInterval) + float64(video)*perFrame*videoFrameRate
}

// flow is one allocation's media stream in the schedule.
type flow struct {
	video bool
	// session is the flow's index in its pacer's session list.
	session int
	// phase offsets the flow's nominal times, so flows do not all start at
	// once; tick counts its nominal times so far.
	phase time.Duration
	tick  int64
	// due is when the flow sends next: its nominal time plus jitter.
	due mono.Time
}

// burst is what one flow sends at one instant: an audio packet, or the
// packets of a video frame, each its own datagram.
type burst struct {
	session int
	sizes   [videoMaxPackets]int
	n       int
}

// flowSchedule decides when each flow of one pacer sends and what. Flow
// times are anchored to start (nominal time k of a flow is start + phase +
// k × interval), so the long-run rate is exact, and each is delayed by a
// uniform draw in [0, jitter), so no two packets of a flow come at exactly
// the interval. It takes the time as an argument and does no I/O, so a
// test drives it with a fake clock; it is not safe for concurrent use and
// does not allocate after newFlowSchedule.
type flowSchedule struct {
	start  mono.Time
	jitter time.Duration
	rng    *rand.Rand
	// heap is a binary min-heap of flows by due.
	heap []flow
}

// newFlowSchedule schedules the sessions 0..n-1 of one pacer from start:
// the first video of them are video flows, the rest audio. seed makes the
// draws (phases, jitter, sizes) reproducible.
func newFlowSchedule(n, video int, start mono.Time, jitter time.Duration, seed uint64) *flowSchedule {
	s := &flowSchedule{start: start, jitter: jitter, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), heap: make([]flow, n)}
	for i := range s.heap {
		f := flow{video: i < video, session: i}
		f.phase = time.Duration(s.rng.Int64N(int64(f.interval())))
		f.due = s.nominal(&f).Add(s.draw())
		s.heap[i] = f
	}
	for i := len(s.heap)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
	return s
}

func (f *flow) interval() time.Duration {
	if f.video {
		return videoInterval
	}
	return audioInterval
}

// nominal is the undelayed time of f's current tick.
func (s *flowSchedule) nominal(f *flow) mono.Time {
	return s.start.Add(f.phase + time.Duration(f.tick)*f.interval())
}

// draw is one jitter delay in [0, jitter).
func (s *flowSchedule) draw() time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(int64(s.jitter)))
}

// next is the earliest time a flow sends (start when there are no flows).
func (s *flowSchedule) next() mono.Time {
	if len(s.heap) == 0 {
		return s.start
	}
	return s.heap[0].due
}

// pop returns the burst of the earliest flow if it is due at now, and
// moves that flow to its next tick.
func (s *flowSchedule) pop(now mono.Time) (b burst, ok bool) {
	if len(s.heap) == 0 || now.Before(s.heap[0].due) {
		return burst{}, false
	}
	f := &s.heap[0]
	b.session = f.session
	if f.video {
		b.n = videoMinPackets + s.rng.IntN(videoMaxPackets-videoMinPackets+1)
		for i := 0; i < b.n-1; i++ {
			b.sizes[i] = videoPacketSize
		}
		b.sizes[b.n-1] = videoLastMinSize + s.rng.IntN(videoPacketSize-videoLastMinSize+1)
	} else {
		b.n = 1
		b.sizes[0] = audioMinSize + s.rng.IntN(audioMaxSize-audioMinSize+1)
	}
	f.tick++
	f.due = s.nominal(f).Add(s.draw())
	s.down(0)
	return b, true
}

// down restores the heap order below i after heap[i].due grew.
func (s *flowSchedule) down(i int) {
	h := s.heap
	for {
		small := i
		if l := 2*i + 1; l < len(h) && h[l].due < h[small].due {
			small = l
		}
		if r := 2*i + 2; r < len(h) && h[r].due < h[small].due {
			small = r
		}
		if small == i {
			return
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
}
