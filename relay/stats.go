package relay

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/turncore"
)

// Drop is the typed reason a datagram or frame was discarded. Every drop is a
// counter, never a log line per packet (the input is hostile and cheap to
// send). The reasons are turncore's, which decides most of them; their
// String values are metric label values: a fixed, bounded set.
type Drop = turncore.Drop

// Drop reasons (see turncore.Drop).
const (
	DropNotTURN               = turncore.DropNotTURN
	DropMalformedSTUN         = turncore.DropMalformedSTUN
	DropUnexpectedClass       = turncore.DropUnexpectedClass
	DropSourcePortZero        = turncore.DropSourcePortZero
	DropTruncated             = turncore.DropTruncated
	DropChannelDataMalformed  = turncore.DropChannelDataMalformed
	DropNoAllocation          = turncore.DropNoAllocation
	DropChannelUnbound        = turncore.DropChannelUnbound
	DropSendMalformed         = turncore.DropSendMalformed
	DropSendUnknownAttr       = turncore.DropSendUnknownAttr
	DropSendDontFragment      = turncore.DropSendDontFragment
	DropNoPermission          = turncore.DropNoPermission
	DropPeerDenied            = turncore.DropPeerDenied
	DropPeerFamily            = turncore.DropPeerFamily
	DropSendFailed            = turncore.DropSendFailed
	DropStreamFrame           = turncore.DropStreamFrame
	DropStreamBackpressure    = turncore.DropStreamBackpressure
	DropStreamWriteBudget     = turncore.DropStreamWriteBudget
	DropStreamSourceLimit     = turncore.DropStreamSourceLimit
	DropICMPNoPermission      = turncore.DropICMPNoPermission
	DropICMPIgnored           = turncore.DropICMPIgnored
	DropICMPRateLimited       = turncore.DropICMPRateLimited
	DropUnauthBudget          = turncore.DropUnauthBudget
	DropPeerOwnSocket         = turncore.DropPeerOwnSocket
	DropStreamConnectionLimit = turncore.DropStreamConnectionLimit
	dropCount                 = turncore.DropCount
)

// Drops lists every drop reason, for metric registration.
func Drops() []Drop {
	out := make([]Drop, dropCount)
	for i := range out {
		out[i] = Drop(i)
	}
	return out
}

// Direction of relayed data.
type Direction uint8

const (
	ToPeer   Direction = iota // client → peer
	ToClient                  // peer → client
)

func (d Direction) String() string {
	if d == ToPeer {
		return "to_peer"
	}
	return "to_client"
}

// counters is one goroutine group's share of the relay's counters. Each packet
// loop owns one, so increments are uncontended atomic adds on a cache line no
// other core writes; readers sum them (Server.Stats).
type counters struct {
	drops   [dropCount]atomic.Uint64
	packets [2][numTransports]atomic.Uint64
	bytes   [2][numTransports]atomic.Uint64
	icmp    [2][numICMPKinds]atomic.Uint64 // forwarded, by family (ipv4, ipv6) and kind
	// coalesced counts datagrams that arrived inside a UDP GRO receive, by
	// the socket that took them (listener, relayed).
	coalesced [numGROSockets]atomic.Uint64
	// lane is the group's lane for the extension's data-path hooks
	// (Extension.Start): 0 outside the packet loops, i+1 for worker i.
	lane int
	_    [64]byte // keep the next group's counters off this cache line
}

func (c *counters) drop(d Drop) { c.drops[d].Add(1) }

func (c *counters) relayed(dir Direction, t transportIndex, n int) {
	c.packets[dir][t].Add(1)
	c.bytes[dir][t].Add(uint64(n))
}

// groSocket names the two kinds of UDP socket that receive with GRO.
type groSocket uint8

const (
	groListener groSocket = iota // a client-facing listener
	groRelayed                   // an allocation's relayed socket
	numGROSockets
)

func (g groSocket) String() string {
	if g == groListener {
		return "listener"
	}
	return "relayed"
}

// transportIndex indexes per-transport counters.
type transportIndex uint8

const (
	transportUDP transportIndex = iota
	transportTCP
	transportTLS
	numTransports
)

// allocationTransport is t as package allocation names it.
func (t transportIndex) allocationTransport() allocation.Transport {
	switch t {
	case transportTCP:
		return allocation.TransportTCP
	case transportTLS:
		return allocation.TransportTLS
	}
	return allocation.TransportUDP
}

func (t transportIndex) String() string {
	switch t {
	case transportUDP:
		return "udp"
	case transportTCP:
		return "tcp"
	}
	return "tls"
}

// Stats is a snapshot of the relay's counters, summed over all loops. Every
// map key is a label from a fixed, bounded set (never a user or address).
type Stats struct {
	// Drops counts discarded datagrams and frames by Drop label.
	Drops map[string]uint64
	// Packets and Bytes count relayed application data by direction
	// ("to_peer", "to_client") and client transport ("udp", "tcp", "tls").
	Packets, Bytes map[string]map[string]uint64
	// Requests counts answered requests by method ("allocate", ...) and
	// result ("success" or the error code, "other" for uncounted codes).
	Requests map[string]map[string]uint64
	// AuthFailures counts failed authentications by auth.Reason label.
	// The challenge (no_integrity) is not a failure and is not counted
	// here but in Challenges.
	AuthFailures map[string]uint64
	// Challenges counts 401 challenges to requests without credentials
	// (RFC 8489 §9.2.4): the normal first leg of every client's
	// authentication.
	Challenges uint64
	// PeerDenials counts peers refused by the policy, by reason label.
	PeerDenials map[string]uint64
	// ICMPForwarded counts ICMP errors forwarded to clients (RFC 8656 §11.5);
	// ICMPForwardedByType splits them by family ("ipv4", "ipv6") and kind
	// ("dest_unreachable", "time_exceeded", "packet_too_big").
	ICMPForwarded       uint64
	ICMPForwardedByType map[string]map[string]uint64
	// Retransmits counts requests answered from the transaction cache.
	Retransmits uint64
	// Coalesced counts datagrams the kernel handed over coalesced by UDP
	// GRO, several in one receive, by socket ("listener", "relayed"); it
	// stays 0 with Config.NoUDPOffload.
	Coalesced map[string]uint64
	// TCPConnections is the number of open TCP and TLS client connections.
	TCPConnections int64
	// Allocations are the table's gauges.
	Allocations allocation.Stats
	// TCPRelay counts TCP relaying (RFC 6062); zero while it is off.
	TCPRelay TCPRelayStats
	// ExtensionCounts are the counters of Config.Extension by two labels
	// (Extension.AddCounts; the gateway's verdicts by action and reason),
	// non-zero entries only; empty on a relay without extension.
	ExtensionCounts map[string]map[string]uint64
	// OffloadedPackets and OffloadedBytes are the part of Packets and
	// Bytes that Config.Observer's data path relayed itself (Observer.
	// Relayed), by direction and transport; nil without an Observer.
	OffloadedPackets, OffloadedBytes map[string]map[string]uint64
	// ObserverCounts are Config.Observer's own counters by name and label
	// (Observer.AddCounts; the XDP program's pass reasons); nil without
	// an Observer.
	ObserverCounts map[string]map[string]uint64
}

// Stats returns a snapshot of the counters. Safe for concurrent use; it
// allocates (maps) and is meant for scrapes, not the data path.
func (s *Server) Stats() Stats {
	st := Stats{
		Drops:          make(map[string]uint64, dropCount),
		Packets:        make(map[string]map[string]uint64, 2),
		Bytes:          make(map[string]map[string]uint64, 2),
		Requests:       make(map[string]map[string]uint64, len(countedMethods)),
		AuthFailures:   make(map[string]uint64),
		PeerDenials:    make(map[string]uint64),
		Retransmits:    s.core.Retransmits(),
		Coalesced:      make(map[string]uint64, numGROSockets),
		Challenges:     s.challenges.Load(),
		TCPConnections: s.connCount.Load(),
		Allocations:    s.table.Stats(),
		TCPRelay:       s.TCPRelayStats(),
	}
	st.ExtensionCounts = make(map[string]map[string]uint64)
	if x := s.cfg.Extension; x != nil {
		x.AddCounts(st.ExtensionCounts)
	}
	st.ICMPForwardedByType = make(map[string]map[string]uint64, 2)
	for _, family := range []string{"ipv4", "ipv6"} {
		st.ICMPForwardedByType[family] = make(map[string]uint64, numICMPKinds)
		for _, kind := range icmpKindLabels {
			st.ICMPForwardedByType[family][kind] = 0
		}
	}
	groups := []*counters{&s.streamCounters, &s.extCounters}
	for _, w := range s.workers {
		groups = append(groups, &w.c)
	}
	for _, d := range Drops() {
		st.Drops[d.String()] = 0
	}
	for _, dir := range []Direction{ToPeer, ToClient} {
		st.Packets[dir.String()] = make(map[string]uint64, numTransports)
		st.Bytes[dir.String()] = make(map[string]uint64, numTransports)
		for t := transportIndex(0); t < numTransports; t++ {
			st.Packets[dir.String()][t.String()] = 0
			st.Bytes[dir.String()][t.String()] = 0
		}
	}
	for _, c := range groups {
		for g := groSocket(0); g < numGROSockets; g++ {
			st.Coalesced[g.String()] += c.coalesced[g].Load()
		}
		for d := Drop(0); d < dropCount; d++ {
			st.Drops[d.String()] += c.drops[d].Load()
		}
		for _, dir := range []Direction{ToPeer, ToClient} {
			for t := transportIndex(0); t < numTransports; t++ {
				st.Packets[dir.String()][t.String()] += c.packets[dir][t].Load()
				st.Bytes[dir.String()][t.String()] += c.bytes[dir][t].Load()
			}
		}
		for f, family := range []string{"ipv4", "ipv6"} {
			for k := icmpKind(0); k < numICMPKinds; k++ {
				n := c.icmp[f][k].Load()
				st.ICMPForwardedByType[family][icmpKindLabels[k]] += n
				st.ICMPForwarded += n
			}
		}
	}
	if o := s.cfg.Observer; o != nil {
		// What the observer's data path relayed itself counts as relayed.
		st.OffloadedPackets = make(map[string]map[string]uint64, 2)
		st.OffloadedBytes = make(map[string]map[string]uint64, 2)
		for _, dir := range []Direction{ToPeer, ToClient} {
			st.OffloadedPackets[dir.String()] = make(map[string]uint64, numTransports)
			st.OffloadedBytes[dir.String()] = make(map[string]uint64, numTransports)
			for t := transportIndex(0); t < numTransports; t++ {
				packets, bytes := o.Relayed(dir, t.allocationTransport())
				st.Packets[dir.String()][t.String()] += packets
				st.Bytes[dir.String()][t.String()] += bytes
				st.OffloadedPackets[dir.String()][t.String()] = packets
				st.OffloadedBytes[dir.String()][t.String()] = bytes
			}
		}
		st.ObserverCounts = make(map[string]map[string]uint64)
		o.AddCounts(st.ObserverCounts)
	}
	for i, m := range countedMethods {
		byCode := make(map[string]uint64, numResults)
		for j := 0; j < numResults; j++ {
			byCode[resultLabel(j)] = s.requests.n[i][j].Load()
		}
		st.Requests[m.String()] = byCode
	}
	for _, r := range auth.Reasons() {
		if int(r) < len(s.authFailures.n) {
			if n := s.authFailures.n[r].Load(); n > 0 {
				st.AuthFailures[r.String()] = n
			}
		}
	}
	s.peerDenials.mu.Lock()
	for label, c := range s.peerDenials.labels {
		st.PeerDenials[label] = c.Load()
	}
	s.peerDenials.mu.Unlock()
	return st
}

// resultLabel names result index j: "success", an error code, or "other".
func resultLabel(j int) string {
	if j >= len(resultCodes) {
		return "other"
	}
	if resultCodes[j] == 0 {
		return "success"
	}
	return strconv.Itoa(resultCodes[j])
}

// resultCodes are the response codes counted per method; anything else is
// counted as "other". 0 is success.
var resultCodes = [...]int{0, 300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 446, 447, 486, 500, 508}

const numResults = len(resultCodes) + 1 // + other

var countedMethods = [...]stunmsg.Method{
	stunmsg.Binding, stunmsg.Allocate, stunmsg.Refresh, stunmsg.CreatePermission, stunmsg.ChannelBind,
	stunmsg.Connect, stunmsg.ConnectionBind, // RFC 6062
}

// requestCounters count answered requests by method and result code.
type requestCounters struct {
	n [len(countedMethods)][numResults]atomic.Uint64
}

func methodIndex(m stunmsg.Method) int {
	for i, cm := range countedMethods {
		if cm == m {
			return i
		}
	}
	return -1
}

func resultIndex(code int) int {
	for i, c := range resultCodes {
		if c == code {
			return i
		}
	}
	return numResults - 1
}

func (s *Server) countRequest(m stunmsg.Method, code int) {
	if i := methodIndex(m); i >= 0 {
		s.requests.n[i][resultIndex(code)].Add(1)
	}
}

// authCounters count authentication failures by auth.Reason.
type authCounters struct {
	n [64]atomic.Uint64
}

// logAuthFailure logs a refused authentication for forensics (RFC 8656
// §21.3.2), at most authLogLimit lines a second per reason with the number
// suppressed in between. The normal first leg of the challenge (no
// integrity) is not a failure worth a line. The username is client-supplied
// and logged through logging.Untrusted.
func (s *Server) logAuthFailure(from *clientPath, d *auth.Decision, now mono.Time) {
	if d.Reason == auth.ReasonNoIntegrity {
		return
	}
	ok, suppressed := s.authLog.Allow(logging.SampleKey(d.Reason), now)
	if !ok {
		return
	}
	s.log.Warn("authentication failed",
		"reason", d.Reason.String(), "code", d.Code,
		"client", from.ft.Client.String(), "transport", from.ft.Transport.String(),
		logging.Untrusted("username", d.Username), logging.SuppressedAttr(suppressed))
}

// logLegacyChannel tells the operator, at most once per
// legacyChannelLogInterval with the number suppressed in between, that a
// ChannelBind was refused for a channel number of RFC 5766's range
// 0x5000–0x7FFF (RFC 8656 §12 reserves it): old clients such as coturn's
// turnutils_uclient pick from it, and the 400 alone points nowhere.
func (s *Server) logLegacyChannel(from *clientPath, now mono.Time) {
	ok, suppressed := s.legacyChannelLog.Allow(0, now)
	if !ok {
		return
	}
	s.log.Warn("ChannelBind refused: channel number in 0x5000-0x7FFF, which RFC 8656 reserves; TURNSTILE_LEGACY_CHANNELS=true (relay.Config.LegacyChannels) accepts it for old clients",
		"client", from.ft.Client.String(), "transport", from.ft.Transport.String(),
		logging.SuppressedAttr(suppressed))
}

// countAuthFailure counts a refused authentication by reason; a request
// without credentials is the challenge every client gets first (RFC 8489
// §9.2.4), counted apart so that failures mean something is wrong.
func (s *Server) countAuthFailure(r auth.Reason) {
	if r == auth.ReasonNoIntegrity {
		s.challenges.Add(1)
		return
	}
	if int(r) < len(s.authFailures.n) {
		s.authFailures.n[r].Add(1)
	}
}

// peerDenialCounters count peers refused by the policy, by reason label.
// Reason labels come from a bounded set (peerpolicy verdicts, or an
// embedder's Refusal reasons); at most maxDenialLabels distinct labels are
// kept and the rest are counted as "other".
type peerDenialCounters struct {
	mu     sync.Mutex
	labels map[string]*atomic.Uint64
}

const maxDenialLabels = 64

func (s *Server) countPeerDenied(err error) {
	label := "policy"
	var r *Refusal
	if errors.As(err, &r) && r.Reason != "" {
		label = r.Reason
	}
	d := &s.peerDenials
	d.mu.Lock()
	if d.labels == nil {
		d.labels = make(map[string]*atomic.Uint64)
	}
	c, ok := d.labels[label]
	if !ok {
		if len(d.labels) >= maxDenialLabels {
			label = "other"
			c = d.labels[label]
		}
		if c == nil {
			c = new(atomic.Uint64)
			d.labels[label] = c
		}
	}
	d.mu.Unlock()
	c.Add(1)
}
