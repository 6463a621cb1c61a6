package turncore

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "regenerate testdata/fuzz/FuzzHandle from the seed sessions")

// fuzzSessions are the request sequences the seed corpus is made of: signed
// with the nonce the fuzz core mints, so that mutations start deep inside
// the methods rather than at the 401.
var fuzzSessions = [][]string{
	{"allocate alice lifetime=900", "permit alice 198.51.100.7", "chanbind alice 4000 198.51.100.7:7000", "refresh alice lifetime=0"},
	{"allocate alice add6 df", "refresh alice family=6 lifetime=0", "refresh alice family=4"},
	{"allocate alice reserve", "allocate alice token=last", "permit alice 2001:db8::1 198.51.100.1"},
	{"allocate alice even family=6", "chanbind alice 4fff [2001:db8::7]:1"},
	{"binding alice", "allocate alice unknown", "allocate alice transport=6"},
}

// fuzzFrames encodes messages as the fuzz input: each one behind a
// two-byte big-endian length.
func fuzzFrames(msgs [][]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// newFuzzScenario is the core every fuzz input runs against: fixed nonce
// key and wall clock, so a seed's nonce and integrity stay valid.
func newFuzzScenario(t *testing.T) *scenario {
	sc := newTestScenario(t, fuzzSettings())
	sc.do("client alice 192.0.2.10:5000")
	return sc
}

// seedInputs builds the seed corpus.
func seedInputs(t *testing.T) [][]byte {
	var seeds [][]byte
	for _, session := range fuzzSessions {
		sc := newFuzzScenario(t)
		c := sc.clients["alice"]
		sc.do("permit alice 198.51.100.1") // learn the nonce
		var msgs [][]byte
		for _, cmd := range session {
			out := sc.do(cmd)
			_ = out
			msgs = append(msgs, c.last)
		}
		msgs = append(msgs, sc.sendIndication(c, netipMust("198.51.100.7:7000"), "data", false))
		seeds = append(seeds, fuzzFrames(msgs))
	}
	return seeds
}

// Every message from the network is hostile: whatever arrives, the core
// neither panics nor loops, answers only with well-formed STUN for the
// request's transaction that fits MaxResponse, and leaves no socket open
// once everything has expired.
func FuzzHandle(f *testing.F) {
	for _, s := range seedInputs(&testing.T{}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := newFuzzScenario(t)
		sh := sc.sh
		ft := sc.clients["alice"].ft
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			n = min(n, len(in))
			msg := in[:n]
			in = in[n:]
			checkOneMessage(t, sh, ft, msg)
			sh.clock.Advance(time.Second)
		}
		sh.clock.Advance(2 * time.Hour)
		checkNoSocketsLeft(t, sh)
	})
}

func checkOneMessage(t *testing.T, sh *fakeShell, ft fuzzTuple, msg []byte) {
	var req stunmsg.Message
	isRequest := req.Parse(msg) == nil && req.Class == stunmsg.Request
	resp := sh.request("alice", ft, msg)
	sh.flush()
	if resp == nil {
		return
	}
	if !isRequest {
		t.Fatalf("answered a non-request %x", msg)
	}
	if len(resp) > MaxResponse {
		t.Fatalf("response of %d bytes", len(resp))
	}
	var m stunmsg.Message
	if err := m.Parse(resp); err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	// The transaction cache is keyed by 5-tuple and transaction ID (RFC
	// 8489 §6.3.1), so a client reusing an ID for another method gets the
	// first answer again.
	if m.TransactionID != req.TransactionID || m.Method != req.Method && !sh.retransmit {
		t.Fatalf("response %s %x to %s %x", m.Method, m.TransactionID, req.Method, req.TransactionID)
	}
}

// TestFuzzSeedsCommitted keeps the committed corpus in step with the seed
// sessions (go test ./turncore -run TestFuzzSeedsCommitted -write-fuzz-seeds
// rewrites it).
func TestFuzzSeedsCommitted(t *testing.T) {
	checkSeedsCommitted(t, "FuzzHandle", seedInputs(t))
}

// checkSeedsCommitted compares seeds with the corpus committed under
// testdata/fuzz/target, or rewrites it with -write-fuzz-seeds, so that every
// fuzz target's seeds are kept in step the same way.
func checkSeedsCommitted(t *testing.T, target string, seeds [][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	for i, s := range seeds {
		file := filepath.Join(dir, fmt.Sprintf("session-%d", i))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if *writeFuzzSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale or missing (-write-fuzz-seeds rewrites it)", file)
		}
	}
}

// fuzzSettings are the settings of both fuzz cores: a nonce that outlives
// the input, so a seed's nonce and integrity stay valid, and a relay port
// range of ten, which a short input can exhaust.
func fuzzSettings() coreSettings {
	set := defaultSettings()
	set.nonceLife = time.Hour
	set.portMin, set.portMax = 49152, 49161
	return set
}

// checkNoSocketsLeft expires everything the core holds and fails if the
// shell still has a relayed socket open.
func checkNoSocketsLeft(t *testing.T, sh *fakeShell) {
	t.Helper()
	sh.execute(sh.core.Expire(mono.Time(math.MaxInt64), nil))
	if len(sh.sockets) != 0 {
		t.Fatalf("%d sockets left open", len(sh.sockets))
	}
}

type fuzzTuple = allocation.FiveTuple

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
