package loadtest

// seqWindowSize is how far behind the highest sequence number a probe may
// arrive and still be checked for duplication.
const seqWindowSize = 1024

// seqWindow detects duplicated open-loop probes of one allocation. It
// remembers which of the last seqWindowSize sequence numbers arrived; a probe
// older than that is reported as too old. It is not safe for concurrent use
// and does not allocate.
type seqWindow struct {
	highest uint64 // highest sequence number seen, valid when any
	any     bool
	bits    [seqWindowSize / 64]uint64
}

// seqVerdict is what seqWindow.observe concluded.
type seqVerdict uint8

const (
	seqNew seqVerdict = iota
	seqDuplicate
	seqTooOld
)

// observe records seq and reports whether it is new, a duplicate, or too old
// to tell.
func (w *seqWindow) observe(seq uint64) seqVerdict {
	if !w.any {
		w.any, w.highest = true, seq
		w.set(seq)
		return seqNew
	}
	if seq > w.highest {
		if seq-w.highest >= seqWindowSize {
			w.bits = [seqWindowSize / 64]uint64{}
		} else {
			for s := w.highest + 1; s < seq; s++ {
				w.clear(s)
			}
		}
		w.highest = seq
		w.set(seq)
		return seqNew
	}
	if w.highest-seq >= seqWindowSize {
		return seqTooOld
	}
	if w.isSet(seq) {
		return seqDuplicate
	}
	w.set(seq)
	return seqNew
}

func (w *seqWindow) set(s uint64)        { w.bits[(s/64)%uint64(len(w.bits))] |= 1 << (s % 64) }
func (w *seqWindow) clear(s uint64)      { w.bits[(s/64)%uint64(len(w.bits))] &^= 1 << (s % 64) }
func (w *seqWindow) isSet(s uint64) bool { return w.bits[(s/64)%uint64(len(w.bits))]&(1<<(s%64)) != 0 }
