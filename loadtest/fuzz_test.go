package loadtest

import (
	"testing"

	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// FuzzSessionOnFrame feeds arbitrary server frames to a session in its data
// phase, with refresh requests outstanding so responses reach the refresher
// too. Properties: no panic, an accepted probe is this session's, and every
// frame is accounted for exactly once (probe, refresh response, or stray).
func FuzzSessionOnFrame(f *testing.F) {
	_, seed, _ := fakeSession(f, SendChannel, 1)
	frame := make([]byte, seed.frameSize())
	var txid [12]byte
	seed.fillFrame(frame, &txid, probe{session: uint32(seed.id), seq: 9, sent: 1})
	f.Add(frame)
	f.Add([]byte{0x01, 0x04, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, s, _ := fakeSession(t, SendChannel, 2) // room for the two refresh requests
		s.cl.auth = turnwire.NewAuth("u", "p")
		s.refresh.arm(s, 1e9, 0)
		s.refresh.start(s, 0)
		before := s.cnt.load()
		p, ok := s.onFrame(b, 10)
		after := s.cnt.load()
		if ok && p.session != uint32(s.id) {
			t.Fatalf("accepted a probe of session %d", p.session)
		}
		counted := (after.receivedAll - before.receivedAll) + (after.stray - before.stray)
		refreshed := s.refresh.ok + uint64(len(s.refresh.failures))
		if ok && counted != 1 || !ok && counted+refreshed > 1 {
			t.Fatalf("ok=%v counted %d refreshed %d", ok, counted, refreshed)
		}
	})
}
