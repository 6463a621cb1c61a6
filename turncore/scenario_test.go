package turncore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/scripttest"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// TURN exchanges as data (testdata/scenarios/*.txt), driven through the
// fake shell with a fake clock. A script is a list of blocks:
//
//	command args
//	----
//	expected output lines
//	(blank line)
//
// Commands:
//
//	config key=value...      a new core, default settings but these (user-quota, total-quota, ports=MIN-MAX,
//	                         relay6=off, nonce-lifetime, software, drain,
//	                         alternate=ADDR:PORT, deny-peers=CIDR,..., max-permissions,
//	                         legacy-dual, admit-refuse=CODE, permit-deny,
//	                         own=ADDR:PORT,... the relay's own sockets,
//	                         own-local=CIDR,... the host's addresses)
//	client NAME ADDR:PORT [user=U] [pass=P] [transport=tcp]   a client (user
//	                         defaults to NAME, password to NAME-pw; UDP unless tcp)
//	taken PORT...            the ports another program holds (binds get EADDRINUSE)
//	bindfail on|off          every bind fails
//	allocate NAME [lifetime=N] [even] [reserve] [token=HEX|token=last]
//	         [family=4|6] [add6] [df] [transport=N] [unknown]
//	refresh NAME [lifetime=N] [family=4|6]
//	permit NAME PEER...      CreatePermission
//	chanbind NAME CH PEER    ChannelBind (CH in hex)
//	binding NAME             Binding request
//	send NAME PEER DATA [df] Send indication
//	chandata NAME CH DATA    ChannelData
//	peer PEER RELAYED DATA   a peer's datagram arriving at a relayed address
//	again NAME               resend NAME's last request, byte for byte
//	tick DURATION            advance the clock and run the expiry timer
//	advance DURATION         advance the clock only (the timer runs late)
//	rawreq NAME HEX          any bytes from NAME's 5-tuple
//	connect NAME PEER        Connect (RFC 6062 §5.2)
//	dialed ID ok|fail        the shell's outcome of conn ID's outbound connection
//	connbind NAME ID         ConnectionBind for conn ID from NAME (a data connection)
//	incoming NAME PEER       a peer connects to NAME's relayed TCP address (RFC 6062 §5.3)
//	hangup ID                conn ID closed on the shell's side
//	drain                    the core starts draining
//
// config also knows tcp (TCP relaying on), tcp-per-alloc, tcp-per-user,
// tcp-pending and connect-timeout. Client transports: transport=tcp|tls|udp.
//
// A request without a valid nonce is challenged; the client then learns
// the nonce and retries once, and both answers are shown. Run
//
//	go test ./turncore -run TestScenarios -rewrite
//
// to regenerate the expected outputs, and review the diff.
func TestScenarios(t *testing.T) {
	scripttest.Run(t, "testdata/scenarios/*.txt", "go test ./turncore -run TestScenarios -rewrite", runScript)
}

// scriptClient is a TURN client of a script.
type scriptClient struct {
	name       string
	ft         allocation.FiveTuple
	user, pass string
	nonce      []byte
	last       []byte // the last request sent, for again
	lastResp   []byte // the answer to it
	txn        uint32
}

// scenario is the state a script drives.
type scenario struct {
	t       *testing.T
	set     coreSettings
	sh      *fakeShell
	clients map[string]*scriptClient
	token   []byte // the last RESERVATION-TOKEN seen
}

// runScript executes every block and returns the script with the outputs
// replaced by what the run produced.
func runScript(t *testing.T, script string) string {
	sc := &scenario{t: t, set: defaultSettings(), clients: map[string]*scriptClient{}}
	sc.newCore()
	var out strings.Builder
	lines := strings.Split(strings.TrimRight(script, "\n"), "\n")
	for i := 0; i < len(lines); {
		if line := strings.TrimSpace(lines[i]); line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(lines[i] + "\n")
			i++
			continue
		}
		start := i
		for i < len(lines) && lines[i] != "----" {
			i++
		}
		if i == len(lines) {
			t.Fatalf("line %d: block without ----", start+1)
		}
		block := lines[start:i]
		for i++; i < len(lines) && lines[i] != ""; i++ { // skip the old output
		}
		if len(block) != 1 {
			t.Fatalf("line %d: a block is one command line", start+1)
		}
		result := sc.run(start+1, block[0])
		out.WriteString(block[0] + "\n----\n")
		for _, l := range result {
			out.WriteString(l + "\n")
		}
		out.WriteString("\n")
		for i < len(lines) && lines[i] == "" {
			i++
		}
	}
	return strings.TrimRight(out.String(), "\n") + "\n"
}

func (sc *scenario) newCore() {
	sh, err := newFakeShell(sc.set)
	if err != nil {
		sc.t.Fatalf("config: %v", err)
	}
	sc.sh = sh
	for _, c := range sc.clients {
		c.nonce = nil
		sh.tuples[c.name] = c.ft
	}
}

func (sc *scenario) run(line int, cmd string) []string {
	fail := func(format string, args ...any) {
		sc.t.Helper()
		sc.t.Fatalf("line %d: %s: %s", line, cmd, fmt.Sprintf(format, args...))
	}
	f := strings.Fields(cmd)
	arg := func(i int) string {
		if i >= len(f) {
			fail("missing argument %d", i)
		}
		return f[i]
	}
	client := func() *scriptClient {
		c := sc.clients[arg(1)]
		if c == nil {
			fail("no client %s", arg(1))
		}
		return c
	}
	addr := func(s string) netip.AddrPort {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			fail("%v", err)
		}
		return ap
	}
	sh := sc.sh
	switch f[0] {
	case "config":
		sc.set = defaultSettings()
		sc.configure(f[1:], fail)
		sc.newCore()
		return nil
	case "client":
		c := &scriptClient{name: arg(1), user: arg(1), pass: arg(1) + "-pw"}
		c.ft = allocation.FiveTuple{Client: addr(arg(2)), Server: testServer, Transport: allocation.TransportUDP}
		for _, kv := range f[3:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "user":
				c.user = v
			case "pass":
				c.pass = v
			case "transport":
				c.ft.Transport = map[string]allocation.Transport{
					"tcp": allocation.TransportTCP, "tls": allocation.TransportTLS, "udp": allocation.TransportUDP,
				}[v]
				if c.ft.Transport == 0 {
					c.ft.Transport = allocation.TransportTCP
				}
			default:
				fail("unknown option %s", kv)
			}
		}
		sc.clients[c.name] = c
		sc.sh.tuples[c.name] = c.ft
		return nil
	case "taken":
		clear(sh.taken)
		for _, p := range f[1:] {
			n, err := strconv.Atoi(p)
			if err != nil {
				fail("%v", err)
			}
			sh.taken[uint16(n)] = true
		}
		return nil
	case "bindfail":
		sh.fail = arg(1) == "on"
		return nil
	case "tick":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			fail("%v", err)
		}
		sh.clock.Advance(d)
		sh.expire()
		return append([]string{"now " + sh.now().Sub(sh.start).String()}, sh.flush()...)
	case "advance":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			fail("%v", err)
		}
		sh.clock.Advance(d)
		return []string{"now " + sh.now().Sub(sh.start).String()}
	case "again":
		c := client()
		if c.last == nil {
			fail("nothing sent yet")
		}
		resp := sh.request(c.name, c.ft, c.last)
		same := "different bytes from the first answer"
		if bytes.Equal(resp, c.lastResp) {
			same = "the same bytes as the first answer"
		}
		return append(sh.flush(), describe(resp), same)
	case "rawreq":
		c := client()
		raw, err := hex.DecodeString(arg(2))
		if err != nil {
			fail("%v", err)
		}
		resp := sh.request(c.name, c.ft, raw)
		return append(sh.flush(), describe(resp))
	case "send":
		c := client()
		sh.request(c.name, c.ft, sc.sendIndication(c, addr(arg(2)), arg(3), len(f) > 4 && f[4] == "df"))
		return sh.flush()
	case "chandata":
		c := client()
		ch, err := strconv.ParseUint(arg(2), 16, 16)
		if err != nil {
			fail("%v", err)
		}
		data := []byte(arg(3))
		frame := make([]byte, 4+len(data))
		frame[0], frame[1] = byte(ch>>8), byte(ch)
		frame[2], frame[3] = byte(len(data)>>8), byte(len(data))
		copy(frame[4:], data)
		sh.channelData(c.ft, frame)
		return sh.flush()
	case "peer":
		sh.fromPeer(addr(arg(1)), addr(arg(2)), []byte(arg(3)))
		return sh.flush()
	case "allocate", "refresh", "permit", "chanbind", "binding", "connect", "connbind":
		return sc.transact(client(), f, fail)
	case "drain":
		sh.core.Drain()
		return nil
	case "dialed":
		id, err := strconv.ParseUint(arg(1), 10, 32)
		if err != nil {
			fail("%v", err)
		}
		conn := sh.conns[ConnID(id)]
		if conn == nil {
			conn = &fakeConn{}
		}
		ok := arg(2) == "ok"
		conn.open = ok
		ans := sh.core.ConnectDone(ConnID(id), conn, ok, sh.now())
		if ans.Close {
			sh.printf("close the late connection")
		}
		if ans.Alloc != nil {
			sh.printf("to %s: %s", ans.Alloc.Ext.(*fakeSession).client, describe(ans.Response))
		}
		return sh.flush()
	case "incoming":
		c, peer := client(), addr(arg(2))
		a := sh.core.Table().Lookup(c.ft, sh.now())
		if a == nil {
			return []string{"no allocation of " + c.name}
		}
		conn := &fakeConn{client: c.name, peer: peer, open: true}
		id, ind, err := sh.core.AcceptPeer(a, peer, conn, sh.now())
		if err != nil {
			return []string{"refuse: " + err.Error()}
		}
		sh.conns[id] = conn
		return []string{fmt.Sprintf("accept as conn %d", id), "to " + c.name + ": " + describe(ind)}
	case "hangup":
		id, err := strconv.ParseUint(arg(1), 10, 32)
		if err != nil {
			fail("%v", err)
		}
		delete(sh.conns, ConnID(id))
		return []string{fmt.Sprintf("known: %v", sh.core.ConnectionClosed(ConnID(id)))}
	}
	fail("unknown command")
	return nil
}

// configure applies config key=value settings.
func (sc *scenario) configure(kvs []string, fail func(string, ...any)) {
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		n, nerr := strconv.Atoi(v)
		switch k {
		case "user-quota":
			sc.set.alloc.UserQuota = n
		case "total-quota":
			sc.set.alloc.TotalQuota = n
		case "max-permissions":
			sc.set.alloc.MaxPermissions = n
		case "ports":
			lo, hi, _ := strings.Cut(v, "-")
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			sc.set.portMin, sc.set.portMax = uint16(a), uint16(b)
			nerr = nil
		case "relay6":
			sc.set.relays6 = nil
			nerr = nil
		case "nonce-lifetime":
			d, err := time.ParseDuration(v)
			if err != nil {
				fail("%v", err)
			}
			sc.set.nonceLife, nerr = d, nil
		case "software":
			sc.set.software, nerr = v, nil
		case "unauth-budget":
			rate, burst, _ := strings.Cut(v, "/")
			sc.set.budget.Rate, nerr = strconv.Atoi(rate)
			if nerr == nil {
				sc.set.budget.Burst, nerr = strconv.Atoi(burst)
			}
		case "alternate":
			sc.set.alternates = append(sc.set.alternates, netip.MustParseAddrPort(v))
			nerr = nil
		case "deny-peers":
			sc.set.denyPeers, nerr = v, nil
		case "legacy-dual":
			sc.set.legacyDual, nerr = true, nil
		case "admit-refuse":
			sc.set.admitRefuse = n
		case "own":
			for _, s := range strings.Split(v, ",") {
				sc.set.own = append(sc.set.own, netip.MustParseAddrPort(s))
			}
			nerr = nil
		case "own-local":
			for _, s := range strings.Split(v, ",") {
				sc.set.ownLocal = append(sc.set.ownLocal, netip.MustParsePrefix(s))
			}
			nerr = nil
		case "permit-deny":
			sc.set.permitDeny, nerr = true, nil
		case "drain":
			sc.set.drain, nerr = true, nil
		case "tcp":
			sc.set.tcp.Enabled, nerr = true, nil
		case "tcp-per-alloc":
			sc.set.tcp.MaxPerAllocation = n
		case "tcp-per-user":
			sc.set.tcp.MaxPerUser = n
		case "tcp-pending":
			sc.set.tcp.MaxPending = n
		case "connect-timeout":
			sc.set.tcp.ConnectTimeout, nerr = time.ParseDuration(v)
		default:
			fail("unknown setting %s", k)
		}
		if nerr != nil {
			fail("%s: %v", kv, nerr)
		}
	}
}

// transact sends a request, answers a challenge once with the nonce it
// brought, and renders what happened.
func (sc *scenario) transact(c *scriptClient, f []string, fail func(string, ...any)) []string {
	sh := sc.sh
	var out []string
	for try := 0; try < 2; try++ {
		raw := sc.buildRequest(c, f, fail)
		c.last = raw
		resp := sh.request(c.name, c.ft, raw)
		c.lastResp = resp
		out = append(out, sh.flush()...)
		out = append(out, describe(resp))
		var m stunmsg.Message
		if resp == nil || m.Parse(resp) != nil {
			return out
		}
		if v, ok := m.Get(stunmsg.AttrReservationToken); ok {
			sc.token = bytes.Clone(v)
		}
		code := 0
		if v, ok := m.Get(stunmsg.AttrErrorCode); ok {
			code, _, _ = stunmsg.DecodeErrorCode(v)
		}
		nonce, hasNonce := m.Get(stunmsg.AttrNonce)
		if f[0] == "binding" || !hasNonce || code != 401 && code != 438 || bytes.Equal(nonce, c.nonce) {
			return out
		}
		c.nonce = bytes.Clone(nonce)
		out = append(out, "(retry with the new nonce)")
	}
	return out
}

// buildRequest encodes the request f describes, with c's credentials.
func (sc *scenario) buildRequest(c *scriptClient, f []string, fail func(string, ...any)) []byte {
	var txid [12]byte
	c.txn++
	copy(txid[:], c.name)
	txid[8], txid[9], txid[10], txid[11] = byte(c.txn>>24), byte(c.txn>>16), byte(c.txn>>8), byte(c.txn)
	method := map[string]stunmsg.Method{
		"allocate": stunmsg.Allocate, "refresh": stunmsg.Refresh, "permit": stunmsg.CreatePermission,
		"chanbind": stunmsg.ChannelBind, "binding": stunmsg.Binding,
		"connect": stunmsg.Connect, "connbind": stunmsg.ConnectionBind,
	}[f[0]]
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 512), stunmsg.MessageType(method, stunmsg.Request), txid)
	switch f[0] {
	case "allocate":
		transport := uint8(stunmsg.ProtoUDP)
		for _, opt := range f[2:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "transport":
				n, _ := strconv.Atoi(v)
				transport = uint8(n)
			}
		}
		b.AddRequestedTransport(transport)
		for _, opt := range f[2:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "lifetime":
				n, _ := strconv.Atoi(v)
				b.AddUint32(stunmsg.AttrLifetime, uint32(n))
			case "even":
				b.AddEvenPort(false)
			case "reserve":
				b.AddEvenPort(true)
			case "token":
				tok := sc.token
				if v != "last" {
					tok, _ = hex.DecodeString(v)
				}
				b.Add(stunmsg.AttrReservationToken, tok)
			case "family":
				b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, familyArg(v))
			case "add6":
				b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6)
			case "df":
				b.Add(stunmsg.AttrDontFragment, nil)
			case "unknown":
				b.Add(0x7F00, []byte{1, 2, 3, 4})
			case "transport":
			default:
				fail("unknown option %s", opt)
			}
		}
	case "refresh":
		for _, opt := range f[2:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "lifetime":
				n, _ := strconv.Atoi(v)
				b.AddUint32(stunmsg.AttrLifetime, uint32(n))
			case "family":
				b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, familyArg(v))
			default:
				fail("unknown option %s", opt)
			}
		}
	case "permit":
		for _, p := range f[2:] {
			ap, err := netip.ParseAddrPort(p)
			if err != nil {
				ap = netip.AddrPortFrom(netip.MustParseAddr(p), 0)
			}
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, ap)
		}
	case "chanbind":
		if len(f) < 4 {
			fail("chanbind NAME CH PEER")
		}
		ch, err := strconv.ParseUint(f[2], 16, 16)
		if err != nil {
			fail("%v", err)
		}
		b.AddChannelNumber(uint16(ch))
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort(f[3]))
	case "connect":
		for _, p := range f[2:] {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort(p))
		}
	case "connbind":
		for _, v := range f[2:] {
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				fail("%v", err)
			}
			b.AddUint32(stunmsg.AttrConnectionID, uint32(id))
		}
	case "binding":
		b.AddFingerprint()
		raw, _ := b.Bytes()
		return raw
	}
	if c.nonce != nil {
		b.Add(stunmsg.AttrUsername, []byte(c.user))
		b.Add(stunmsg.AttrRealm, []byte("example.org"))
		b.Add(stunmsg.AttrNonce, c.nonce)
		key := auth.LongTermKey(c.user, "example.org", c.pass)
		b.AddIntegrity(key[:])
	}
	raw, err := b.Bytes()
	if err != nil {
		fail("build: %v", err)
	}
	return raw
}

// sendIndication encodes a Send indication (RFC 8656 §11.1).
func (sc *scenario) sendIndication(c *scriptClient, peer netip.AddrPort, data string, df bool) []byte {
	var txid [12]byte
	c.txn++
	txid[11] = byte(c.txn)
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 512), stunmsg.MessageType(stunmsg.Send, stunmsg.Indication), txid)
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.Add(stunmsg.AttrData, []byte(data))
	if df {
		b.Add(stunmsg.AttrDontFragment, nil)
	}
	raw, _ := b.Bytes()
	return raw
}

func familyArg(v string) stunmsg.Family {
	if v == "6" {
		return stunmsg.FamilyIPv6
	}
	return stunmsg.FamilyIPv4
}
