package gateway

import (
	"context"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Resolver resolves resource domains for the gateway. The relay implements
// it (TURNSTILE_GATEWAY_RESOLVER, default the system resolver) and calls it
// with a context bounded by ResolveTimeout; the gateway core never calls it.
// It returns the A and AAAA results; an error, a timeout or an empty answer
// all count as "no records" for the family (docs/gateway.md "DNS and
// flows"). It must be
// safe for concurrent use.
type Resolver interface {
	Resolve(ctx context.Context, domain string) (v4, v6 []netip.Addr, err error)
}

// ednsPayloadSize is the UDP payload size advertised in answers' OPT record
// (RFC 6891 §6.2.5; 1232 avoids fragmentation, DNS flag day 2020). Answers
// are a few hundred bytes at most.
const ednsPayloadSize = 1232

// rcodeBadVersion is the extended RCODE BADVERS (RFC 6891 §9).
const rcodeBadVersion = 16

// Query is a DNS query for a resource domain waiting for resolution: the
// relay resolves Domain and hands the Query back to Session.Resolved. It is
// a self-contained value (no references into the datagram), so the relay
// may keep it while the datagram's buffer is reused.
type Query struct {
	id       uint16
	opcode   dnsmessage.OpCode
	rd, cd   bool
	edns     bool
	question dnsmessage.Question
	domain   string
	index    int // into Session.domains
	started  mono.Time
}

// Domain returns the normalized name to resolve.
func (q *Query) Domain() string { return q.domain }

// Query handles a datagram sent to the DNS sentinel (after Outbound returned
// ActionDNS). msg is the UDP payload; the answer, if any, is appended to
// out[:0] and returned (it aliases out when out has room; 512 bytes always
// suffice). It returns:
//   - ActionDrop, ReasonDNSMalformed: not a well-formed query; send nothing.
//   - ActionAnswer: send the returned bytes to the client from the sentinel.
//     ReasonDNSRefused (REFUSED: not a resource this user may use, or not a
//     host name), ReasonDNSDomainLimit (REFUSED: Config.MaxDomains reached),
//     ReasonDNSNoData (NOERROR, no records: a resource asked for a type
//     other than A/AAAA), ReasonDNSNotImplemented (NOTIMP), and
//     ReasonDNSBadVersion (BADVERS).
//   - ActionResolve, ReasonDNSResolve: resolve q.Domain() (A and AAAA, with
//     ResolveTimeout), then call Resolved with q and the results.
//
// Every A/AAAA query for a resource re-resolves (docs/gateway.md "DNS and
// flows"). The
// only state a query can create is the domain's proxy-IP slot, at most
// Config.MaxDomains per allocation; a flood of queries grows nothing else.
// Coalescing concurrent resolutions of one domain is left to the relay.
func (s *Session) Query(msg []byte, now mono.Time, out []byte) (v Verdict, q Query, answer []byte) {
	if s.closed {
		return Verdict{Action: ActionDrop, Reason: ReasonClosed}, q, nil
	}
	q, version, ok := parseQuery(msg)
	if !ok {
		return Verdict{Action: ActionDrop, Reason: ReasonDNSMalformed}, Query{}, nil
	}
	q.started = now
	switch {
	case q.opcode != 0:
		return s.reply(&q, dnsmessage.RCodeNotImplemented, ReasonDNSNotImplemented, out)
	case q.edns && version != 0:
		return s.reply(&q, rcodeBadVersion, ReasonDNSBadVersion, out)
	case q.question.Class != dnsmessage.ClassINET:
		return s.reply(&q, dnsmessage.RCodeRefused, ReasonDNSRefused, out)
	}
	name, err := normalizeName(q.question.Name.String(), false)
	if err != nil || !s.gw.snap.Load().domainAccess(name, s.user) {
		return s.reply(&q, dnsmessage.RCodeRefused, ReasonDNSRefused, out)
	}
	if t := q.question.Type; t != dnsmessage.TypeA && t != dnsmessage.TypeAAAA {
		return s.reply(&q, dnsmessage.RCodeSuccess, ReasonDNSNoData, out)
	}
	i, ok := s.assignDomain(name)
	if !ok {
		return s.reply(&q, dnsmessage.RCodeRefused, ReasonDNSDomainLimit, out)
	}
	q.domain, q.index = name, i
	return Verdict{Action: ActionResolve, Reason: ReasonDNSResolve}, q, nil
}

// reply builds an answer without records.
func (s *Session) reply(q *Query, rcode dnsmessage.RCode, r Reason, out []byte) (Verdict, Query, []byte) {
	b, err := appendReply(out, q, rcode, nil, 0)
	if err != nil {
		return Verdict{Action: ActionDrop, Reason: ReasonDNSMalformed}, Query{}, nil
	}
	return Verdict{Action: ActionAnswer, Reason: r}, *q, b
}

// Resolved completes a query after resolution: v4 and v6 are the resolver's
// A and AAAA results (nil on failure or timeout). It maps the domain's IPv4
// proxies round-robin onto the usable IPv4 results and the IPv6 proxies onto
// the IPv6 results — for new flows only; live flows keep their real IP — and
// returns the answer: the domain's ProxiesPerFamily proxy IPs of the asked
// family, TTL AnswerTTL, whether or not that family resolved. Results from a
// resolution that started before the one already applied only answer; they
// do not replace the newer mapping.
//
// Results that a relay must never reach (see neverReachable), proxy-range
// and sentinel addresses are ignored. The answer is appended to out[:0]. It
// returns ActionAnswer with ReasonDNSAnswered, or ReasonDNSRefused if a
// reload revoked the user's access meanwhile; ActionDrop with ReasonClosed
// or, for a Query not made by this session, ReasonDNSMalformed. v4 and v6 are
// not retained.
func (s *Session) Resolved(q Query, v4, v6 []netip.Addr, out []byte) (Verdict, []byte) {
	if s.closed {
		return Verdict{Action: ActionDrop, Reason: ReasonClosed}, nil
	}
	if q.index < 0 || q.index >= len(s.domains) || s.domains[q.index].name != q.domain || q.domain == "" {
		return Verdict{Action: ActionDrop, Reason: ReasonDNSMalformed}, nil
	}
	d := &s.domains[q.index]
	if !s.gw.snap.Load().domainAccess(d.name, s.user) {
		v, _, b := s.reply(&q, dnsmessage.RCodeRefused, ReasonDNSRefused, out)
		return v, b
	}
	if !d.resolved || q.started >= d.applied {
		s.mapFamily(&d.real[0], v4, false)
		s.mapFamily(&d.real[1], v6, true)
		d.applied, d.resolved = q.started, true
	}
	b, err := appendReply(out, &q, dnsmessage.RCodeSuccess, &s.gw.geo, d.slot)
	if err != nil {
		return Verdict{Action: ActionDrop, Reason: ReasonDNSMalformed}, nil
	}
	return Verdict{Action: ActionAnswer, Reason: ReasonDNSAnswered}, b
}

// mapFamily maps the proxies of one family round-robin onto the usable
// results of that family: proxy i gets result i mod n. With no usable result
// every proxy maps to nothing.
func (s *Session) mapFamily(dst *[ProxiesPerFamily]netip.Addr, results []netip.Addr, v6 bool) {
	var good [ProxiesPerFamily]netip.Addr
	n := 0
	for _, a := range results {
		if n == ProxiesPerFamily {
			break
		}
		a = a.WithZone("")
		if !v6 {
			a = a.Unmap()
		}
		if (v6 && (!a.Is6() || a.Is4In6())) || (!v6 && !a.Is4()) || !s.reachable(a) {
			continue
		}
		good[n] = a
		n++
	}
	for i := range dst {
		dst[i] = netip.Addr{}
		if n > 0 {
			dst[i] = good[i%n]
		}
	}
}

// reachable reports whether a resolved address may be a flow's real IP.
func (s *Session) reachable(a netip.Addr) bool {
	return !neverReachableAddr(a) && !s.gw.geo.inRanges(a) && !s.gw.cfg.DNS.isIP(a)
}

// assignDomain returns the index of name's entry, creating it with a free
// slot (its preferred slot, or the next free one) unless the allocation
// already holds Config.MaxDomains domains. Config.Validate guarantees far
// more usable slots than domains, so the probe ends quickly.
func (s *Session) assignDomain(name string) (int, bool) {
	for i := range s.domains {
		if s.domains[i].name == name {
			return i, true
		}
	}
	if len(s.domains) >= s.gw.cfg.MaxDomains {
		return -1, false
	}
	g := &s.gw.geo
	slot := g.home(name)
	for !g.usable(slot) || s.slotTaken(slot) {
		slot = g.next(slot)
	}
	s.domains = append(s.domains, domainEntry{name: name, slot: slot})
	return len(s.domains) - 1, true
}

func (s *Session) slotTaken(slot uint32) bool {
	for i := range s.domains {
		if s.domains[i].slot == slot {
			return true
		}
	}
	return false
}

// parseQuery parses a DNS query (RFC 1035 §4.1): header with QR clear,
// exactly one question, answer and authority sections that parse, and at
// most one OPT record whose owner is the root (RFC 6891 §6.1.1). It returns
// the EDNS version when an OPT record is present. Anything else is malformed.
func parseQuery(msg []byte) (q Query, ednsVersion uint8, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return q, 0, false
	}
	q.id, q.opcode, q.rd, q.cd = h.ID, h.OpCode, h.RecursionDesired, h.CheckingDisabled
	if q.question, err = p.Question(); err != nil {
		return q, 0, false
	}
	if p.SkipQuestion() != dnsmessage.ErrSectionDone {
		return q, 0, false // a second question (or garbage where it would be)
	}
	if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return q, 0, false
	}
	for {
		rh, err := p.AdditionalHeader()
		if err == dnsmessage.ErrSectionDone {
			return q, ednsVersion, true
		}
		if err != nil {
			return q, 0, false
		}
		if rh.Type == dnsmessage.TypeOPT {
			if q.edns || rh.Name.Length != 1 {
				return q, 0, false // a second OPT, or one not owned by the root
			}
			q.edns = true
			ednsVersion = uint8(rh.TTL >> 16)
		}
		if p.SkipAdditional() != nil {
			return q, 0, false
		}
	}
}

// appendReply appends the response to q to out[:0]: the question echoed as
// received, and, when geo is not nil, the ProxiesPerFamily proxy IPs of slot
// in the asked family with TTL AnswerTTL. rcode may be an extended RCODE
// (RFC 6891 §6.1.3), carried in the OPT record when q had one.
func appendReply(out []byte, q *Query, rcode dnsmessage.RCode, geo *geometry, slot uint32) ([]byte, error) {
	b := dnsmessage.NewBuilder(out[:0], dnsmessage.Header{
		ID:                 q.id,
		Response:           true,
		OpCode:             q.opcode,
		Authoritative:      rcode == dnsmessage.RCodeSuccess,
		RecursionDesired:   q.rd,
		RecursionAvailable: true,
		CheckingDisabled:   q.cd,
		RCode:              rcode & 0xF,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q.question); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if geo != nil {
		h := dnsmessage.ResourceHeader{Name: q.question.Name, Class: dnsmessage.ClassINET, TTL: AnswerTTL}
		v6 := q.question.Type == dnsmessage.TypeAAAA
		for i := 0; i < ProxiesPerFamily; i++ {
			a := geo.addr(slot, i, v6)
			var err error
			if v6 {
				err = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: a.As16()})
			} else {
				err = b.AResource(h, dnsmessage.AResource{A: a.As4()})
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if q.edns {
		if err := b.StartAdditionals(); err != nil {
			return nil, err
		}
		var h dnsmessage.ResourceHeader
		if err := h.SetEDNS0(ednsPayloadSize, rcode, false); err != nil {
			return nil, err
		}
		if err := b.OPTResource(h, dnsmessage.OPTResource{}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
