package loadtest

import (
	"encoding/binary"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Probe payload layout, at the start of every probe's application data:
//
//	0  magic      uint16  probeMagic, to tell probes from stray data
//	2  slot       uint16  closed-loop slot index (0 in open loop)
//	4  session    uint32  allocation index
//	8  seq        uint64  per-allocation sequence number
//	16 sent       int64   mono.Time of sending, in ns
//
// The send time is a mono.Time of this process; it travels through the
// server and the echo peer only to come back to the same process, so it is
// an opaque cookie on the wire, never interpreted by anyone else.
const (
	probeSize  = 24
	probeMagic = 0x7453 // "tS"
)

// probe is a decoded probe header.
type probe struct {
	slot    uint16
	session uint32
	seq     uint64
	sent    mono.Time
}

// putProbe writes p into the first probeSize bytes of b (len(b) ≥ probeSize).
func putProbe(b []byte, p probe) {
	binary.BigEndian.PutUint16(b[0:2], probeMagic)
	binary.BigEndian.PutUint16(b[2:4], p.slot)
	binary.BigEndian.PutUint32(b[4:8], p.session)
	binary.BigEndian.PutUint64(b[8:16], p.seq)
	binary.BigEndian.PutUint64(b[16:24], uint64(p.sent))
}

// parseProbe decodes a probe header; ok is false for data too short or
// without the magic.
func parseProbe(b []byte) (p probe, ok bool) {
	if len(b) < probeSize || binary.BigEndian.Uint16(b[0:2]) != probeMagic {
		return probe{}, false
	}
	return probe{
		slot:    binary.BigEndian.Uint16(b[2:4]),
		session: binary.BigEndian.Uint32(b[4:8]),
		seq:     binary.BigEndian.Uint64(b[8:16]),
		sent:    mono.Time(binary.BigEndian.Uint64(b[16:24])),
	}, true
}
