package turncore

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/txcache"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/sourcebudget"
)

// The fake shell of the tests: it owns pretend sockets, carries out the
// core's actions and writes each one as a line, so that a test (or a
// scenario script) reads what a real shell would have done.

// testServer is the address every test client talks to.
var testServer = netip.MustParseAddrPort("198.51.100.1:3478")

// testWall is the wall-clock instant the fake clock starts at.
var testWall = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeSocket is a relayed socket the fake shell bound.
type fakeSocket struct {
	public netip.AddrPort
	df     bool
	closed bool
	sess   *fakeSession
}

// fakeSession is the shell state of one allocation.
type fakeSession struct {
	State
	client         string
	relay4, relay6 *fakeSocket
}

// relayFor returns the live socket of the peer's family.
func (s *fakeSession) relayFor(peer netip.Addr) *fakeSocket {
	rs := s.relay6
	if peer.Unmap().Is4() {
		rs = s.relay4
	}
	if rs == nil || rs.closed {
		return nil
	}
	return rs
}

// coreSettings is what a test may change before building the core.
type coreSettings struct {
	alloc       allocation.Config
	relays4     []RelayIP
	relays6     []RelayIP
	portMin     uint16
	portMax     uint16
	nonceLife   time.Duration
	software    string
	alternates  []netip.AddrPort
	legacyDual  bool
	denyPeers   string // peer prefixes the filter denies, comma-separated
	hooks       Hooks
	permitDeny  bool // Policy.PermitPeer refuses every peer
	admitRefuse int  // Policy.AdmitAllocation refuses with this code
	// budget, when its Rate is set, sizes Config.Budget; no budget
	// otherwise.
	budget sourcebudget.Config
	// drain: the new core drains from the start.
	drain bool
	// tcp is Config.TCP; ConnIDRand is the fake shell's counter unless
	// randomConnIDs leaves it to the core's default.
	tcp           TCPConfig
	randomConnIDs bool
	// own and ownLocal, when own is set, are the relay's own sockets and
	// the host's addresses (SetOwnSockets).
	own      []netip.AddrPort
	ownLocal []netip.Prefix
}

func defaultSettings() coreSettings {
	return coreSettings{
		alloc:     allocation.Config{},
		relays4:   []RelayIP{{Local: netip.MustParseAddr("10.0.0.1"), Public: netip.MustParseAddr("203.0.113.1")}},
		relays6:   []RelayIP{{Local: netip.MustParseAddr("fd00::1"), Public: netip.MustParseAddr("2001:db8::1")}},
		portMin:   49152,
		portMax:   49407,
		nonceLife: 10 * time.Minute,
	}
}

// staticUsers are the tests' users; each one's password is its name
// followed by "-pw".
func staticUsers() map[string]string {
	users := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		users[name] = name + "-pw"
	}
	return users
}

// testPolicy authenticates static users and defers peers to a peer filter
// that allows everything unless told otherwise.
type testPolicy struct {
	DefaultPolicy
	denyPeers   bool
	admitRefuse int
}

func (p *testPolicy) AdmitAllocation(string, allocation.FiveTuple) error {
	if p.admitRefuse != 0 {
		return &Refusal{Code: p.admitRefuse, Reason: "test"}
	}
	return nil
}

func (p *testPolicy) PermitPeer(a *allocation.Allocation, peer netip.AddrPort, hasPort bool) error {
	if p.denyPeers {
		return &Refusal{Code: 403, Reason: "test"}
	}
	return p.DefaultPolicy.PermitPeer(a, peer, hasPort)
}

// fakeShell drives a core like the relay does and records what it did.
type fakeShell struct {
	core    *Core
	proc    *Processor
	clock   *monotest.Clock
	start   mono.Time
	sockets map[netip.AddrPort]*fakeSocket  // live bound sockets by public address
	taken   map[uint16]bool                 // ports some other program holds
	tuples  map[string]allocation.FiveTuple // clients' 5-tuples by name
	fail    bool                            // every bind fails (not EADDRINUSE)
	out     []string
	tokens  uint64
	// retransmit: the last request was answered from the cache.
	retransmit bool
	// installed lists the ActChannelBound and ActPermitted actions, kept
	// out of the transcripts (TestInstalledActions reads them).
	installed []string
	// connIDs counts the CONNECTION-IDs handed out (the scripts' IDs are
	// 1, 2, ... so that they can name them); conns are the pretend peer
	// data connections by ID.
	connIDs uint32
	conns   map[ConnID]*fakeConn
}

// fakeConn is a pretend peer data connection (RFC 6062).
type fakeConn struct {
	client string // the allocation's client
	peer   netip.AddrPort
	open   bool // connected or accepted (not only being dialled)
}

// tcpWithCounter makes tc's CONNECTION-IDs (and ConnectionAttempt
// transaction IDs) a counter, so scripts can name them.
func tcpWithCounter(set coreSettings, n *uint32) TCPConfig {
	tc := set.tcp
	if set.randomConnIDs {
		return tc
	}
	tc.ConnIDRand = func(b []byte) {
		*n++
		clear(b)
		b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(*n>>24), byte(*n>>16), byte(*n>>8), byte(*n)
	}
	return tc
}

func newFakeShell(set coreSettings) (*fakeShell, error) {
	table, err := allocation.NewTable(set.alloc)
	if err != nil {
		return nil, err
	}
	nonces, err := auth.NewNonces([]byte(strings.Repeat("k", 32)), set.nonceLife)
	if err != nil {
		return nil, err
	}
	creds, err := auth.NewCredentials(auth.CredentialsConfig{
		Realm:       "example.org",
		StaticUsers: staticUsers(),
	})
	if err != nil {
		return nil, err
	}
	// Test peers live in documentation ranges, which the built-in rules
	// deny; the tests allow everything but what they deny by name.
	pc := peerpolicy.Config{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	if set.denyPeers != "" {
		for _, s := range strings.Split(set.denyPeers, ",") {
			pc.Deny = append(pc.Deny, netip.MustParsePrefix(s))
		}
	}
	peers, err := peerpolicy.New(pc)
	if err != nil {
		return nil, err
	}
	sh := &fakeShell{
		clock:   monotest.New(testWall),
		sockets: map[netip.AddrPort]*fakeSocket{},
		taken:   map[uint16]bool{},
		tuples:  map[string]allocation.FiveTuple{},
	}
	sh.start = sh.clock.Now()
	var budget *sourcebudget.Table
	if set.budget.Rate != 0 {
		if budget, err = sourcebudget.New(set.budget); err != nil {
			return nil, err
		}
	}
	ports := rand.New(rand.NewPCG(1, 2))
	core, err := New(Config{
		Realm:    "example.org",
		Software: set.software,
		Table:    table,
		Nonces:   nonces,
		TxCache:  txcache.New(1024, 4, txcache.DefaultTTL),
		Policy: &testPolicy{
			DefaultPolicy: DefaultPolicy{Credentials: creds, Peers: peers},
			denyPeers:     set.permitDeny,
			admitRefuse:   set.admitRefuse,
		},
		Hooks:                set.hooks,
		Budget:               budget,
		Channels:             stunmsg.StrictChannels,
		Relays4:              set.relays4,
		Relays6:              set.relays6,
		PortMin:              set.portMin,
		PortMax:              set.portMax,
		AlternateServers:     set.alternates,
		LegacyDualAllocation: set.legacyDual,
		PortRand:             ports.IntN,
		TokenRand: func(b []byte) {
			sh.tokens++
			clear(b)
			b[len(b)-1] = byte(sh.tokens)
		},
		TCP: tcpWithCounter(set, &sh.connIDs),
	})
	if err != nil {
		return nil, err
	}
	if set.drain {
		core.Drain()
	}
	if set.own != nil {
		core.SetOwnSockets(NewOwnSockets(set.own, set.ownLocal))
	}
	sh.core, sh.proc = core, core.NewProcessor()
	sh.conns = map[ConnID]*fakeConn{}
	return sh, nil
}

func (sh *fakeShell) now() mono.Time { return sh.clock.Now() }
func (sh *fakeShell) printf(format string, args ...any) {
	sh.out = append(sh.out, fmt.Sprintf(format, args...))
}

// flush returns the lines recorded since the last flush.
func (sh *fakeShell) flush() []string {
	out := sh.out
	sh.out = nil
	return out
}

// request hands one message from client to the core, completing an
// Allocate's socket steps, and returns the response.
func (sh *fakeShell) request(client string, ft allocation.FiveTuple, raw []byte) []byte {
	r := sh.proc.Handle(ft, raw, sh.now(), sh.clock.Wall())
	for steps := 0; r.Step != StepDone; steps++ {
		if steps > 3*BindAttempts {
			panic("an Allocate that never ends")
		}
		sh.execute(r.Actions)
		switch r.Step {
		case StepOpen:
			r = sh.open(r.Open)
		case StepCommit:
			sess := &fakeSession{client: client}
			for _, rel := range []Relay{r.Relay4, r.Relay6} {
				if rel.Handle == nil {
					continue
				}
				rs := rel.Handle.(*fakeSocket)
				rs.sess = sess
				if rs.public.Addr().Is4() {
					sess.relay4 = rs
				} else {
					sess.relay6 = rs
				}
			}
			r = sh.proc.Commit(sess)
			if r.Created == nil {
				for _, rs := range []*fakeSocket{sess.relay4, sess.relay6} {
					if rs != nil {
						rs.sess = nil
					}
				}
			}
		}
	}
	sh.retransmit = r.Outcome.Retransmit
	if r.Outcome.Retransmit {
		sh.printf("retransmission answered from the cache")
	}
	sh.execute(r.Actions)
	return slices.Clone(r.Response)
}

// open binds a pretend socket.
func (sh *fakeShell) open(o OpenSocket) Result {
	if o.Reserved != nil {
		rs := o.Reserved.(*fakeSocket)
		rs.df = true
		sh.printf("set DF on reserved %s", rs.public)
		return sh.proc.Opened(rs, Opened)
	}
	if sh.fail {
		sh.printf("bind %s failed", o.Public)
		return sh.proc.Opened(nil, OpenFailed)
	}
	if sh.taken[o.Public.Port()] || sh.sockets[o.Public] != nil {
		sh.printf("bind %s taken", o.Public)
		return sh.proc.Opened(nil, PortTaken)
	}
	rs := &fakeSocket{public: o.Public, df: o.DontFragment}
	sh.sockets[o.Public] = rs
	df := ""
	if o.DontFragment {
		df = " df"
	}
	if o.TCP {
		df += " tcp"
	}
	sh.printf("bind %s%s", o.Public, df)
	return sh.proc.Opened(rs, Opened)
}

func (sh *fakeShell) closeSocket(rs *fakeSocket) {
	if rs == nil || rs.closed {
		return
	}
	rs.closed = true
	delete(sh.sockets, rs.public)
	sh.printf("close %s", rs.public)
}

// execute carries out the core's actions.
func (sh *fakeShell) execute(actions []Action) {
	for _, a := range actions {
		switch a.Kind {
		case ActCloseSocket:
			sh.closeSocket(a.Handle.(*fakeSocket))
		case ActCloseFamily:
			sess := a.Alloc.Ext.(*fakeSession)
			if a.Family == allocation.FamilyIPv4 {
				sh.closeSocket(sess.relay4)
			} else {
				sh.closeSocket(sess.relay6)
			}
		case ActCreated:
			sh.printf("created %s", a.Alloc.Ext.(*fakeSession).client)
		case ActRefreshed:
			sh.printf("refreshed %s until %s", a.Alloc.Ext.(*fakeSession).client, a.Alloc.Expires().Sub(sh.start))
		case ActDeleted:
			sess := a.Alloc.Ext.(*fakeSession)
			how := "deleted"
			if a.Expired {
				how = "expired"
			}
			sh.printf("%s %s", how, sess.client)
			sh.closeSocket(sess.relay4)
			sh.closeSocket(sess.relay6)
		case ActToPeer:
			if drop, ok := sh.core.PermitSend(a.Alloc, a.Peer); !ok {
				sh.printf("drop %s", drop)
				continue
			}
			sh.toPeer(a.Alloc.Ext.(*fakeSession), a.Peer, a.Data)
		case ActDrop:
			sh.printf("drop %s", a.Drop)
		case ActChannelBound:
			sh.installed = append(sh.installed, fmt.Sprintf("bound %s %#x %s", a.Alloc.Ext.(*fakeSession).client, a.Channel, a.Peer))
		case ActPermitted:
			sh.installed = append(sh.installed, fmt.Sprintf("permitted %s %s", a.Alloc.Ext.(*fakeSession).client, a.Peer))
		case ActConnect:
			sh.conns[a.Conn] = &fakeConn{client: a.Alloc.Ext.(*fakeSession).client, peer: a.Peer}
			sh.printf("dial %s -> %s as conn %d", a.Alloc.Ext.(*fakeSession).client, a.Peer, a.Conn)
		case ActConnectionBound:
			sh.printf("bind conn %d (%s) to the data connection", a.Conn, a.Handle.(*fakeConn).peer)
		case ActCloseConnection:
			how := "close"
			if a.Expired {
				how = "time out"
			}
			state := "dialling"
			if a.Handle != nil {
				a.Handle.(*fakeConn).open = false
				state = "open"
			}
			delete(sh.conns, a.Conn)
			sh.printf("%s conn %d (%s)", how, a.Conn, state)
			if a.Data != nil {
				sh.printf("to %s: %s", a.Alloc.Ext.(*fakeSession).client, describe(a.Data))
			}
		case ActRelease:
			sh.printf("release %s", a.Hook.(interface{ userName() string }).userName())
		}
	}
}

func (sh *fakeShell) toPeer(sess *fakeSession, peer netip.AddrPort, data []byte) {
	rs := sess.relayFor(peer.Addr())
	if rs == nil {
		sh.printf("drop %s", DropPeerFamily)
		return
	}
	sh.printf("deliver %s -> %s %q", rs.public, peer, data)
}

// channelData relays a client's ChannelData as the relay's hot path does.
func (sh *fakeShell) channelData(ft allocation.FiveTuple, data []byte) {
	to, drop, ok := sh.core.ChannelDataToPeer(ft, data, sh.now())
	if !ok {
		sh.printf("drop %s", drop)
		return
	}
	sh.toPeer(to.Alloc.Ext.(*fakeSession), to.Peer, to.Payload)
}

// fromPeer delivers a datagram from peer arriving on the relayed socket at
// relayed.
func (sh *fakeShell) fromPeer(peer, relayed netip.AddrPort, data []byte) {
	rs := sh.sockets[relayed]
	if rs == nil || rs.sess == nil {
		sh.printf("no socket at %s", relayed)
		return
	}
	a := sh.core.Table().Lookup(sh.tupleOf(rs.sess.client), sh.now())
	if a == nil || a.Ext != any(rs.sess) {
		sh.printf("no allocation behind %s", relayed)
		return
	}
	ch, hasChannel, drop, ok := sh.core.PeerToClient(a, peer, sh.now())
	switch {
	case !ok:
		sh.printf("drop %s", drop)
	case hasChannel:
		sh.printf("to %s: ChannelData %#x %q", rs.sess.client, ch, data)
	default:
		sh.printf("to %s: Data indication from %s %q", rs.sess.client, peer, data)
	}
}

// tupleOf finds a client's 5-tuple by name.
func (sh *fakeShell) tupleOf(client string) allocation.FiveTuple { return sh.tuples[client] }

// expire runs the shell's expiry timer at the current time.
func (sh *fakeShell) expire() {
	sh.execute(sh.core.Expire(sh.now(), nil))
}

// describe renders a response as one line: method, class, error code and
// the attributes that matter to a test.
func describe(raw []byte) string {
	if raw == nil {
		return "no response"
	}
	var m stunmsg.Message
	if err := m.Parse(raw); err != nil {
		return "unparsable response: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", m.Method, m.Class)
	for _, at := range m.Attrs() {
		v := m.Value(at)
		switch at.Type {
		case stunmsg.AttrErrorCode:
			code, _, _ := stunmsg.DecodeErrorCode(v)
			fmt.Fprintf(&b, " %d", code)
		case stunmsg.AttrLifetime:
			s, _ := stunmsg.DecodeLifetime(v)
			fmt.Fprintf(&b, " LIFETIME=%d", s)
		case stunmsg.AttrXORRelayedAddress:
			ap, _ := stunmsg.DecodeXORAddress(v, m.TransactionID)
			fmt.Fprintf(&b, " RELAYED=%s", ap)
		case stunmsg.AttrXORMappedAddress:
			ap, _ := stunmsg.DecodeXORAddress(v, m.TransactionID)
			fmt.Fprintf(&b, " MAPPED=%s", ap)
		case stunmsg.AttrReservationToken:
			fmt.Fprintf(&b, " TOKEN=%s", hex.EncodeToString(v))
		case stunmsg.AttrAddressErrorCode, stunmsg.AttrDraftAddressErrorCode:
			fam, code, _, _ := stunmsg.DecodeAddressErrorCode(v)
			fmt.Fprintf(&b, " ADDRESS-ERROR-CODE=%d/%d", fam, code)
		case stunmsg.AttrAlternateServer:
			ap, _ := stunmsg.DecodeAddress(v)
			fmt.Fprintf(&b, " ALTERNATE=%s", ap)
		case stunmsg.AttrXORPeerAddress:
			ap, _ := stunmsg.DecodeXORAddress(v, m.TransactionID)
			fmt.Fprintf(&b, " PEER=%s", ap)
		case stunmsg.AttrConnectionID:
			id, _ := stunmsg.DecodeUint32(v)
			fmt.Fprintf(&b, " CONNECTION-ID=%d", id)
		case stunmsg.AttrNonce:
			b.WriteString(" NONCE")
		case stunmsg.AttrSoftware:
			b.WriteString(" SOFTWARE")
		case stunmsg.AttrUnknownAttributes:
			fmt.Fprintf(&b, " UNKNOWN=%x", v)
		case stunmsg.AttrMessageIntegrity, stunmsg.AttrMessageIntegritySHA256:
			b.WriteString(" MI")
		}
	}
	return b.String()
}
