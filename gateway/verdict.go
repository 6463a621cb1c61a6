package gateway

import (
	"fmt"
	"net/netip"
)

// Action is what the relay does with a datagram, an ICMP error, a permission
// request or a DNS query after asking the gateway. Each Session method
// documents which actions it can return.
type Action uint8

const (
	// ActionPass: the address is not a gateway address. The relay applies its
	// ordinary rules unchanged: the default peer policy for outbound data and
	// CreatePermission/ChannelBind, the permission check for inbound data and
	// ICMP errors (RFC 8656 §9, §11.5).
	ActionPass Action = iota
	// ActionSend: send the payload from the relayed socket to Verdict.Addr
	// (the real IP:port, or the CIDR resource address itself). The gateway has
	// authorized it; the default peer policy must not be applied.
	ActionSend
	// ActionDeliver: deliver the peer datagram or the ICMP error to the client
	// with peer address Verdict.Addr (a proxy IP:port, or the CIDR resource
	// address). The relay then runs its permission check and channel lookup
	// on Verdict.Addr, exactly as for an ordinary peer.
	ActionDeliver
	// ActionRefuse: do not send; instead give the client a Data indication with
	// XOR-PEER-ADDRESS = Verdict.Addr and ICMP = Verdict.ICMP (RFC 8656 §11.5,
	// §18.13; error data 0). The ICMP family is Verdict.Addr's family.
	ActionRefuse
	// ActionDrop: discard silently.
	ActionDrop
	// ActionDNS: the datagram is a query for the gateway's DNS sentinel; pass
	// its payload to Session.Query.
	ActionDNS
	// ActionAnswer: the DNS answer bytes returned alongside are ready; send
	// them to the client as a datagram from the sentinel address.
	ActionAnswer
	// ActionResolve: resolve Query.Domain (Resolver, ResolveTimeout), then
	// call Session.Resolved with the results.
	ActionResolve
	// ActionAllow: CreatePermission or ChannelBind on a gateway address is
	// allowed; the default peer policy must not be applied.
	ActionAllow
	// ActionForbid: CreatePermission or ChannelBind fails with 403 (Forbidden,
	// RFC 8656 §10.2, §12.2).
	ActionForbid
)

var actionNames = [...]string{
	ActionPass:    "pass",
	ActionSend:    "send",
	ActionDeliver: "deliver",
	ActionRefuse:  "refuse",
	ActionDrop:    "drop",
	ActionDNS:     "dns",
	ActionAnswer:  "answer",
	ActionResolve: "resolve",
	ActionAllow:   "allow",
	ActionForbid:  "forbid",
}

// String returns a lower-case name suitable as a metric label value.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Reason says why the gateway decided as it did. Every Verdict carries one;
// its String is a stable snake_case metric label value.
type Reason uint8

const (
	// ReasonNotGateway: the address is neither the sentinel, a proxy IP nor
	// inside a CIDR resource.
	ReasonNotGateway Reason = iota
	// ReasonTranslated: a DNS-resource flow, translated by the NAT table.
	ReasonTranslated
	// ReasonDirect: a CIDR resource address, reached without translation.
	ReasonDirect
	// ReasonSentinel: the address is the DNS sentinel.
	ReasonSentinel
	// ReasonSentinelPort: a datagram to the sentinel IP on a port other than
	// the sentinel's.
	ReasonSentinelPort
	// ReasonProxy: a permission on a proxy IP the user may use.
	ReasonProxy
	// ReasonFilterDenied: the resources' filters do not permit the port.
	ReasonFilterDenied
	// ReasonNoAccess: the user is not listed on any resource for the address,
	// or no longer is after a reload ("access expired").
	ReasonNoAccess
	// ReasonUnknownProxy: an address in the proxy ranges that this allocation
	// never handed out.
	ReasonUnknownProxy
	// ReasonNoRecords: the proxy IP has no real IP of its family (the domain
	// has no records of that family or did not resolve).
	ReasonNoRecords
	// ReasonFlowCollision: the new flow would share its real IP:port with a
	// live flow of the same allocation; see Session.Outbound.
	ReasonFlowCollision
	// ReasonFlowLimit: the allocation already has Config.MaxFlows live flows.
	ReasonFlowLimit
	// ReasonICMPRateLimited: a synthesized ICMP error was suppressed by the
	// per-allocation rate limit (Config.ICMPRate, Config.ICMPBurst).
	ReasonICMPRateLimited
	// ReasonNoFlow: an ICMP error quoting a gateway address no live flow uses.
	ReasonNoFlow
	// ReasonExpiredFlow: a reply or ICMP error for a flow that has expired and
	// is still remembered (tombstone).
	ReasonExpiredFlow
	// ReasonProxySource: a peer datagram whose source lies in the proxy ranges
	// or is the sentinel; delivering it would be indistinguishable from
	// translated traffic.
	ReasonProxySource
	// ReasonMappedAddress: an IPv4-mapped IPv6 address whose IPv4 form is a
	// gateway address; the gateway accepts gateway addresses only in their
	// own family.
	ReasonMappedAddress
	// ReasonClosed: the Session was closed.
	ReasonClosed
	// ReasonDNSMalformed: the sentinel received something that is not a
	// well-formed DNS query (RFC 1035 §4.1).
	ReasonDNSMalformed
	// ReasonDNSRefused: the name is not a resource this user may use, or is
	// not a valid host name; answered REFUSED (RFC 1035 §4.1.1).
	ReasonDNSRefused
	// ReasonDNSDomainLimit: the allocation already holds proxy IPs for
	// Config.MaxDomains domains; answered REFUSED.
	ReasonDNSDomainLimit
	// ReasonDNSNotImplemented: an opcode other than QUERY; answered NOTIMP.
	ReasonDNSNotImplemented
	// ReasonDNSBadVersion: an EDNS version other than 0; answered BADVERS
	// (RFC 6891 §6.1.3).
	ReasonDNSBadVersion
	// ReasonDNSNoData: a resource name asked for a type other than A or
	// AAAA; answered NOERROR with no records (RFC 2308 §2.2).
	ReasonDNSNoData
	// ReasonDNSResolve: a resource name asked for A or AAAA; resolve it.
	ReasonDNSResolve
	// ReasonDNSAnswered: proxy IPs answered after resolution.
	ReasonDNSAnswered
)

var reasonNames = [...]string{
	ReasonNotGateway:        "not_gateway",
	ReasonTranslated:        "translated",
	ReasonDirect:            "direct",
	ReasonSentinel:          "sentinel",
	ReasonSentinelPort:      "sentinel_port",
	ReasonProxy:             "proxy",
	ReasonFilterDenied:      "filter_denied",
	ReasonNoAccess:          "no_access",
	ReasonUnknownProxy:      "unknown_proxy",
	ReasonNoRecords:         "no_records",
	ReasonFlowCollision:     "flow_collision",
	ReasonFlowLimit:         "flow_limit",
	ReasonICMPRateLimited:   "icmp_rate_limited",
	ReasonNoFlow:            "no_flow",
	ReasonExpiredFlow:       "expired_flow",
	ReasonProxySource:       "proxy_source",
	ReasonMappedAddress:     "mapped_address",
	ReasonClosed:            "closed",
	ReasonDNSMalformed:      "dns_malformed",
	ReasonDNSRefused:        "dns_refused",
	ReasonDNSDomainLimit:    "dns_domain_limit",
	ReasonDNSNotImplemented: "dns_not_implemented",
	ReasonDNSBadVersion:     "dns_bad_version",
	ReasonDNSNoData:         "dns_no_data",
	ReasonDNSResolve:        "dns_resolve",
	ReasonDNSAnswered:       "dns_answered",
}

// String returns a snake_case name suitable as a metric label value.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// ICMP is an ICMP error as the ICMP attribute (0x8004) of a Data indication
// carries it (RFC 8656 §18.13): type, code, and error data. The family
// (ICMPv4 or ICMPv6) is that of the peer address it goes with.
type ICMP struct {
	Type, Code uint8
	// Data is the attribute's error data: the next-hop MTU for ICMPv4
	// type 3 code 4 and ICMPv6 type 2 (packet too big), zero otherwise.
	// Errors the gateway synthesizes carry zero.
	Data uint32
}

// The ICMP errors the gateway synthesizes (docs/gateway.md "ICMP errors";
// RFC 792 and RFC 1812 §5.2.7.1 for ICMPv4, RFC 4443 §3.1 for
// ICMPv6).
var (
	// ICMPv4Prohibited is destination unreachable, communication
	// administratively prohibited (type 3, code 13, RFC 1812 §5.2.7.1).
	ICMPv4Prohibited = ICMP{Type: 3, Code: 13}
	// ICMPv4NetUnreachable is destination unreachable, net unreachable
	// (type 3, code 0).
	ICMPv4NetUnreachable = ICMP{Type: 3, Code: 0}
	// ICMPv6Prohibited is destination unreachable, communication with
	// destination administratively prohibited (type 1, code 1).
	ICMPv6Prohibited = ICMP{Type: 1, Code: 1}
	// ICMPv6AddressUnreachable is destination unreachable, address
	// unreachable (type 1, code 3).
	ICMPv6AddressUnreachable = ICMP{Type: 1, Code: 3}
)

// prohibitedFor returns the "administratively prohibited" error in addr's
// family.
func prohibitedFor(addr netip.Addr) ICMP {
	if addr.Is4() {
		return ICMPv4Prohibited
	}
	return ICMPv6Prohibited
}

// unreachableFor returns the "net/address unreachable" error in addr's family.
func unreachableFor(addr netip.Addr) ICMP {
	if addr.Is4() {
		return ICMPv4NetUnreachable
	}
	return ICMPv6AddressUnreachable
}

// Verdict is the gateway's decision on one input. It is a small value type;
// returning it never allocates.
type Verdict struct {
	Action Action
	Reason Reason
	// Addr is the address the action applies to: the destination for
	// ActionSend, the peer address to show the client for ActionDeliver and
	// ActionRefuse, the input address otherwise.
	Addr netip.AddrPort
	// ICMP is the error to send the client: the synthesized one for
	// ActionRefuse, the received one (unchanged) for InboundICMP's
	// ActionDeliver; zero otherwise.
	ICMP ICMP
}

// String formats the verdict for logs and test transcripts, for example
// "refuse(filter_denied) [fd00::1]:7000 icmp 1/1", or
// "deliver(translated) 100.96.0.4:5061 icmp 3/4 data 1400".
func (v Verdict) String() string {
	s := fmt.Sprintf("%s(%s)", v.Action, v.Reason)
	if v.Addr.IsValid() {
		s += " " + v.Addr.String()
	}
	if v.ICMP != (ICMP{}) {
		s += fmt.Sprintf(" icmp %d/%d", v.ICMP.Type, v.ICMP.Code)
		if v.ICMP.Data != 0 {
			s += fmt.Sprintf(" data %d", v.ICMP.Data)
		}
	}
	return s
}
