package turncore

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// newTestScenario is a scenario outside a script, for Go tests.
func newTestScenario(t *testing.T, set coreSettings) *scenario {
	t.Helper()
	sc := &scenario{t: t, set: set, clients: map[string]*scriptClient{}}
	sc.newCore()
	return sc
}

// do runs one script command and returns its output lines.
func (sc *scenario) do(cmd string) []string { return sc.run(0, cmd) }

func lastLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// Two Allocates on one 5-tuple can both pass the lookup of step 2 on
// different packet loops; the table's insert decides, and the loser closes
// the socket it bound and answers 437 (RFC 8656 §7.2 step 2).
func TestConcurrentAllocateLoserClosesItsSocket(t *testing.T) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("binding alice")
	c := sc.clients["alice"]
	sc.do("permit alice 198.51.100.1") // learns a nonce (437, no allocation yet)
	sh := sc.sh
	first := sh.core.NewProcessor()
	second := sh.core.NewProcessor()
	raw1 := sc.buildRequest(c, []string{"allocate", "alice"}, t.Fatalf)
	raw2 := sc.buildRequest(c, []string{"allocate", "alice"}, t.Fatalf)
	now, wall := sh.now(), sh.clock.Wall()
	r1 := first.Handle(c.ft, raw1, now, wall)
	r2 := second.Handle(c.ft, raw2, now, wall)
	if r1.Step != StepOpen || r2.Step != StepOpen {
		t.Fatalf("steps %v %v, want both StepOpen", r1.Step, r2.Step)
	}
	s1, s2 := &fakeSocket{public: r1.Open.Public}, &fakeSocket{public: r2.Open.Public}
	r1 = first.Opened(s1, Opened)
	r2 = second.Opened(s2, Opened)
	r1 = first.Commit(&fakeSession{client: "alice"})
	if r1.Created == nil {
		t.Fatalf("first Commit: %s", describe(r1.Response))
	}
	r2 = second.Commit(&fakeSession{client: "alice"})
	if r2.Created != nil || describe(r2.Response) != "allocate error 437 MI" {
		t.Fatalf("second Commit: created %v, %s", r2.Created, describe(r2.Response))
	}
	if len(r2.Actions) != 1 || r2.Actions[0].Kind != ActCloseSocket || r2.Actions[0].Handle != any(s2) {
		t.Fatalf("second Commit actions %+v, want the close of its socket", r2.Actions)
	}
}

// Unwind takes back an allocation the shell could not serve: gone from the
// table, sockets closed, 508 instead of the success, also for a
// retransmission.
func TestUnwind(t *testing.T) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("permit alice 198.51.100.1")
	c := sc.clients["alice"]
	sh := sc.sh
	raw := sc.buildRequest(c, []string{"allocate", "alice"}, t.Fatalf)
	r := sh.proc.Handle(c.ft, raw, sh.now(), sh.clock.Wall())
	rs := &fakeSocket{public: r.Open.Public}
	r = sh.proc.Opened(rs, Opened)
	r = sh.proc.Commit(&fakeSession{client: "alice"})
	if r.Created == nil {
		t.Fatalf("Commit: %s", describe(r.Response))
	}
	r = sh.proc.Unwind(r.Created)
	if got := describe(r.Response); got != "allocate error 508 MI" {
		t.Fatalf("Unwind answered %s", got)
	}
	if len(r.Actions) != 1 || r.Actions[0].Handle != any(rs) {
		t.Fatalf("Unwind actions %+v, want the close of the socket", r.Actions)
	}
	if sh.core.Table().Len() != 0 {
		t.Fatal("the allocation is still in the table")
	}
	again := sh.proc.Handle(c.ft, raw, sh.now(), sh.clock.Wall())
	if got := describe(again.Response); got != "allocate error 508 MI" || !again.Outcome.Retransmit {
		t.Fatalf("retransmission answered %s (from cache %v)", got, again.Outcome.Retransmit)
	}
}

// fakeHooks is an extension that claims one peer IP and refuses one user.
type fakeHooks struct {
	claimed  netip.Addr
	allow    bool
	badUser  string
	lastNow  mono.Time
	lastUser string
}

// fakePeerHook is fakeHooks' state of one allocation.
type fakePeerHook struct {
	h    *fakeHooks
	user string
}

func (h *fakeHooks) Admit(user string, _ allocation.FiveTuple, now mono.Time) (PeerHook, error) {
	h.lastNow = now
	if user == h.badUser {
		return nil, &Refusal{Code: 486, Reason: "extension"}
	}
	return &fakePeerHook{h: h, user: user}, nil
}

func (ph *fakePeerHook) PermitPeer(peer netip.AddrPort, _ bool, now mono.Time) (bool, error) {
	h := ph.h
	h.lastNow, h.lastUser = now, ph.user
	if peer.Addr() != h.claimed {
		return false, nil
	}
	if h.allow {
		return true, nil
	}
	return true, errors.New("not yours")
}

func (ph *fakePeerHook) ConnectPeer(peer netip.AddrPort, now mono.Time) (netip.AddrPort, bool, error) {
	decided, err := ph.PermitPeer(peer, true, now)
	return peer, decided, err
}

func (ph *fakePeerHook) AcceptPeer(netip.AddrPort, mono.Time) error { return nil }

// The extension decides on the peers it claims, before (and instead of)
// the policy, and may refuse an Allocate with its own code; the state of
// an Allocate that fails later is handed back.
func TestHooksDecideBeforeThePolicy(t *testing.T) {
	hooks := &fakeHooks{claimed: netip.MustParseAddr("100.64.0.1"), allow: true, badUser: "bob"}
	set := defaultSettings()
	set.nonceLife = time.Hour
	set.permitDeny = true // the policy refuses every peer
	set.hooks = hooks
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("client bob 192.0.2.20:5000")
	sc.do("client carol 192.0.2.30:5000")
	if got := lastLine(sc.do("allocate alice")); !strings.HasPrefix(got, "allocate success") {
		t.Fatalf("allocate alice: %s", got)
	}
	if got := lastLine(sc.do("allocate bob")); got != "allocate error 486 MI" {
		t.Fatalf("allocate bob: %s, want the extension's 486", got)
	}
	sc.do("bindfail on")
	if got := sc.do("allocate carol"); !slices.Contains(got, "release carol") {
		t.Fatalf("allocate carol with failing binds: %q, want its extension state released", got)
	}
	sc.do("bindfail off")
	if got := lastLine(sc.do("permit alice 100.64.0.1")); got != "create_permission success MI" {
		t.Fatalf("claimed peer: %s", got)
	}
	if hooks.lastUser != "alice" || hooks.lastNow != sc.sh.now() {
		t.Fatalf("hook saw user %q at %v, want alice at %v", hooks.lastUser, hooks.lastNow, sc.sh.now())
	}
	if got := lastLine(sc.do("permit alice 198.51.100.1")); got != "create_permission error 403 MI" {
		t.Fatalf("unclaimed peer: %s, want the policy's 403", got)
	}
	hooks.allow = false
	if got := lastLine(sc.do("chanbind alice 4000 100.64.0.1:53")); got != "channel_bind error 403 MI" {
		t.Fatalf("refused claimed peer: %s", got)
	}
}

// The data path's lookups allocate nothing (the relay's hot path, RFC 8656
// §12.6, §12.7).
func TestDataPathAllocatesNothing(t *testing.T) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("allocate alice")
	sc.do("chanbind alice 4000 198.51.100.7:7000")
	sh := sc.sh
	ft := sc.clients["alice"].ft
	frame := []byte{0x40, 0x00, 0x00, 0x04, 'd', 'a', 't', 'a'}
	peer := netip.MustParseAddrPort("198.51.100.7:7000")
	now := sh.now()
	to, _, ok := sh.core.ChannelDataToPeer(ft, frame, now)
	if !ok || to.Peer != peer || string(to.Payload) != "data" {
		t.Fatalf("ChannelDataToPeer = %+v, %v", to, ok)
	}
	if n := testing.AllocsPerRun(100, func() { sh.core.ChannelDataToPeer(ft, frame, now) }); n != 0 {
		t.Errorf("ChannelDataToPeer: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { sh.core.PeerToClient(to.Alloc, peer, now) }); n != 0 {
		t.Errorf("PeerToClient: %v allocs", n)
	}
}

func BenchmarkChannelDataToPeer(b *testing.B) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	sc := newTestScenario(&testing.T{}, set)
	sc.do("client alice 192.0.2.10:5000")
	sc.do("allocate alice")
	sc.do("chanbind alice 4000 198.51.100.7:7000")
	ft := sc.clients["alice"].ft
	frame := make([]byte, 4+100)
	frame[0], frame[3] = 0x40, 100
	now := sc.sh.now()
	b.ReportAllocs()
	for b.Loop() {
		sc.sh.core.ChannelDataToPeer(ft, frame, now)
	}
}

// Whatever the shell reports and whatever the clients ask, every socket
// the shell binds ends up owned by a live allocation or reservation, or
// closed: after everything expired, none is left open.
func TestNoSocketLeaks(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		set := defaultSettings()
		set.nonceLife = time.Hour
		set.portMin, set.portMax = 49152, 49152+uint16(rng.IntN(12))
		set.alloc.UserQuota = 1 + rng.IntN(3)
		sc := newTestScenario(t, set)
		names := []string{"alice", "bob", "carol"}
		for i, n := range names {
			sc.do("client " + n + " 192.0.2.1:" + string(rune('1'+i)) + "000")
		}
		ops := []string{
			"allocate %s", "allocate %s reserve", "allocate %s even", "allocate %s add6",
			"allocate %s token=last", "allocate %s token=last df", "allocate %s family=6",
			"refresh %s lifetime=0", "refresh %s family=6 lifetime=0", "refresh %s", "tick 20s",
			"tick 400s", "taken", "taken 49152 49153 49154", "bindfail on", "bindfail off",
		}
		for range 60 {
			op := ops[rng.IntN(len(ops))]
			sc.do(strings.ReplaceAll(op, "%s", names[rng.IntN(len(names))]))
		}
		sh := sc.sh
		sh.clock.Advance(2 * time.Hour)
		sh.execute(sh.core.Expire(mono.Time(math.MaxInt64), nil))
		if len(sh.sockets) != 0 {
			for addr := range sh.sockets {
				t.Errorf("seed %d: socket %s still open", seed, addr)
			}
		}
		// Nor a quota unit: every allocation and reserved port is gone.
		for _, n := range names {
			if held := sh.core.Table().UserAllocations(n); held != 0 {
				t.Errorf("seed %d: %s still holds %d quota units", seed, n, held)
			}
		}
	}
}

// A message that is not a request the server takes is dropped with its
// reason and never answered.
func TestDropsWithoutAnswer(t *testing.T) {
	sc := newTestScenario(t, defaultSettings())
	sh := sc.sh
	ft := allocation.FiveTuple{Client: netip.MustParseAddrPort("192.0.2.1:1"), Server: testServer, Transport: allocation.TransportUDP}
	build := func(method stunmsg.Method, class stunmsg.Class) []byte {
		var b stunmsg.Builder
		b.Reset(make([]byte, 0, 64), stunmsg.MessageType(method, class), [12]byte{1})
		raw, _ := b.Bytes()
		return raw
	}
	for _, tc := range []struct {
		raw  []byte
		drop Drop
	}{
		{[]byte{0, 1, 2}, DropMalformedSTUN},
		{build(stunmsg.Allocate, stunmsg.Success), DropUnexpectedClass},
		{build(stunmsg.Send, stunmsg.Request), DropUnexpectedClass},
		{build(stunmsg.Allocate, stunmsg.Indication), DropUnexpectedClass},
		{build(stunmsg.Send, stunmsg.Indication), DropNoAllocation},
	} {
		r := sh.proc.Handle(ft, tc.raw, sh.now(), sh.clock.Wall())
		if r.Response != nil || len(r.Actions) != 1 || r.Actions[0].Kind != ActDrop || r.Actions[0].Drop != tc.drop {
			t.Errorf("%x: response %x, actions %+v, want only drop %s", tc.raw, r.Response, r.Actions, tc.drop)
		}
	}
}

func (ph *fakePeerHook) userName() string { return ph.user }

// NeedsWall picks out requests by their class bits (RFC 8489 §5).
func TestNeedsWall(t *testing.T) {
	for _, class := range []stunmsg.Class{stunmsg.Request, stunmsg.Indication, stunmsg.Success, stunmsg.Error} {
		typ := stunmsg.MessageType(stunmsg.Allocate, class)
		if got, want := NeedsWall([]byte{byte(typ >> 8), byte(typ)}), class == stunmsg.Request; got != want {
			t.Errorf("%s: NeedsWall %v, want %v", class, got, want)
		}
	}
	if NeedsWall([]byte{0}) {
		t.Error("NeedsWall of one byte")
	}
}

// A successful ChannelBind and CreatePermission tell the shell what they
// installed (for a data-plane observer); refused ones tell nothing.
func TestInstalledActions(t *testing.T) {
	sc := newTestScenario(t, defaultSettings())
	sc.do("client alice 192.0.2.10:5000")
	sc.do("allocate alice")
	sc.do("permit alice 198.51.100.7")
	sc.do("chanbind alice 4000 198.51.100.8:9000")
	sc.do("chanbind alice 3000 198.51.100.8:9001") // not a channel number: 400
	want := []string{"permitted alice 198.51.100.7:0", "bound alice 0x4000 198.51.100.8:9000"}
	if !slices.Equal(sc.sh.installed, want) {
		t.Fatalf("installed %q, want %q", sc.sh.installed, want)
	}
}
