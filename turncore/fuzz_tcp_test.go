package turncore

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// TCP relaying (RFC 6062) under hostile input: the fuzz input is a list of
// messages, each from the control connection or from a data connection,
// and after each one the pretend shell reports every dial it was asked for
// (odd CONNECTION-IDs connect, even ones fail). Whatever arrives, the core
// neither panics nor answers badly, and once every allocation has expired
// it knows no connection any more and no socket is left open.

// tcpFuzzSessions are the seed corpus: on the control connection (c) and
// the data connection (d), signed with the nonces the fuzz core mints.
var tcpFuzzSessions = [][]string{
	{"c allocate alice transport=6", "c connect alice 198.51.100.7:22", "d connbind data 1", "c refresh alice lifetime=0"},
	{"c allocate alice transport=6 family=6", "c connect alice [2001:db8::7]:22", "c connect alice [2001:db8::7]:22", "d connbind data 2"},
	{"c allocate alice transport=6", "c permit alice 198.51.100.9", "c connect alice 198.51.100.9:80", "d connbind data 3", "d connbind data 1"},
	{"c allocate alice transport=6", "c connect alice 198.51.100.7:22", "c connect alice 198.51.100.8:22",
		"c connect alice 198.51.100.9:22", "d connbind data 1", "d connbind data 3"},
}

func newTCPFuzzScenario(t *testing.T) *scenario {
	set := fuzzSettings()
	set.tcp.Enabled = true
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000 transport=tcp")
	sc.do("client data 192.0.2.10:5001 transport=tcp user=alice pass=alice-pw")
	return sc
}

func tcpSeedInputs(t *testing.T) [][]byte {
	var seeds [][]byte
	for _, session := range tcpFuzzSessions {
		sc := newTCPFuzzScenario(t)
		sc.do("permit alice 198.51.100.1") // learn the nonces
		sc.do("connbind data 0")
		var frames []byte
		for _, cmd := range session {
			which, rest := cmd[0], cmd[2:]
			sc.do(rest)
			c := sc.clients["alice"]
			if which == 'd' {
				c = sc.clients["data"]
			}
			frames = append(frames, which)
			frames = binary.BigEndian.AppendUint16(frames, uint16(len(c.last)))
			frames = append(frames, c.last...)
			sc.sh.completeDials()
		}
		seeds = append(seeds, frames)
	}
	return seeds
}

// completeDials reports every dial in progress: odd IDs connect, even ones
// fail.
func (sh *fakeShell) completeDials() {
	ids := make([]ConnID, 0, len(sh.conns))
	for id, c := range sh.conns {
		if !c.open && c.client != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := sh.conns[id]
		c.open = id%2 == 1
		ans := sh.core.ConnectDone(id, c, c.open, sh.now())
		if ans.Alloc == nil || !c.open {
			delete(sh.conns, id)
		}
	}
	sh.flush()
}

func FuzzHandleTCP(f *testing.F) {
	for _, s := range tcpSeedInputs(&testing.T{}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := newTCPFuzzScenario(t)
		sh := sc.sh
		for len(in) >= 3 {
			// The first byte picks the connection: even ('d') the data
			// connection, odd ('c') the control connection.
			client := sc.clients["alice"]
			if in[0]&1 == 0 {
				client = sc.clients["data"]
			}
			n := min(int(binary.BigEndian.Uint16(in[1:])), len(in)-3)
			msg := in[3 : 3+n]
			in = in[3+n:]
			checkOneMessage(t, sh, client.ft, msg)
			sh.completeDials()
			sh.clock.Advance(time.Second)
			sh.expire()
			sh.flush()
		}
		checkNoSocketsLeft(t, sh)
		if st := sh.core.TCPStats(); st != (TCPStats{}) {
			t.Fatalf("connections left after every allocation ended: %+v", st)
		}
	})
}

// TestTCPFuzzSeedsCommitted keeps the committed corpus in step with the
// seed sessions (-write-fuzz-seeds rewrites it).
func TestTCPFuzzSeedsCommitted(t *testing.T) {
	checkSeedsCommitted(t, "FuzzHandleTCP", tcpSeedInputs(t))
}
