// Package gateway is the decision core of turnstile's gateway module: DNS
// resources behind the relay (docs/gateway.md). An authenticated
// TURN client asks the gateway's DNS sentinel, through its own allocation,
// for a resource's name and gets proxy IPs; it then permits, binds and sends
// to those proxy IPs like any peer. The gateway authorizes the user for the
// resource, translates proxy IP:port to the real IP the name resolved to
// (DNS-resource NAT), checks the resource's filters, translates replies and
// ICMP errors back to the proxy address, and when it refuses or cannot
// reach, tells the client with a synthesized ICMP error.
//
// The package does no I/O: no sockets, goroutines, timers or clock. Time is
// a mono.Time argument; every outcome is a Verdict with an Action (what the
// relay does) and a Reason (why; Action.String and Reason.String are metric
// label values). The relay — sockets, the sentinel's transport, SIGHUP, the
// real Resolver — drives it as follows.
//
// # Start and reload
//
//	cfg := gateway.DefaultConfig()
//	env.Parse(&cfg)                  // github.com/caarlos0/env/v11; fields name their variables
//	gw, err := gateway.New(cfg)      // validates, errors name the variable
//	err = gw.Reload(resourcesFile)   // at start: fatal on error
//	// on SIGHUP: if err := gw.Reload(data); err != nil { log it; the previous snapshot stays }
//
// Reload publishes an immutable Snapshot through an atomic pointer; sessions
// read it lock-free. What a reload does to live allocations is documented
// on Reload: proxy IPs and flows stay, every later decision uses the new
// snapshot, so revoked access turns into ICMP "administratively prohibited"
// (3/13, 1/1), dropped replies, 403 and REFUSED.
//
// # Per allocation
//
// sess := gw.NewSession(user) when the allocation is created, with the
// allocation's user (the user part auth.Credentials.Keys gives, which the
// allocation's quota counts too); sess.Close() when it ends. A Session is not safe for
// concurrent use: call it under the allocation's lock. Then:
//
// (a) A client datagram (Send indication or ChannelData) to peer P, after the
// relay's permission check: sess.Outbound(P, now).
//   - ActionPass: not a gateway address; apply the default peer policy.
//   - ActionSend: send from the relayed socket to Verdict.Addr (bypassing
//     the default peer policy).
//   - ActionRefuse: send nothing; send the client a Data indication with
//     XOR-PEER-ADDRESS = Verdict.Addr (= P) and ICMP = Verdict.ICMP
//     (RFC 8656 §11.5, §18.13).
//   - ActionDNS: P is the sentinel. v, q, answer := sess.Query(payload, now,
//     buf). ActionAnswer: send answer to the client as a datagram from P
//     (Data indication, or ChannelData if a channel is bound to P).
//     ActionResolve: resolve q.Domain() with the Resolver under a
//     ResolveTimeout context (off the lock), then, under the lock,
//     v, answer := sess.Resolved(q, v4, v6, buf) and send answer likewise.
//     ActionDrop: nothing.
//   - ActionDrop: nothing (the Reason says why).
//
// (b) A datagram on the relayed socket from S: sess.Inbound(S, now).
// ActionDeliver: run the permission check and channel lookup on
// Verdict.Addr (the proxy IP:port) and deliver with that peer address;
// ActionPass: the ordinary path with S; ActionDrop: nothing.
//
// (c) An ICMP error from the relayed socket's error queue whose quoted
// datagram went to D: sess.InboundICMP(D, icmp, now). ActionDeliver: a Data
// indication with XOR-PEER-ADDRESS = Verdict.Addr and ICMP = Verdict.ICMP
// (even when a channel is bound); ActionPass: ordinary §11.5 handling;
// ActionDrop: nothing.
//
// (d) CreatePermission or ChannelBind for peer IP A: sess.Permit(A).
// ActionAllow: allowed (skip the default peer policy); ActionForbid: 403;
// ActionPass: apply the default peer policy.
//
// (e) Timers: after each batch, read sess.NextDeadline() into the relay's
// deadline queue and call sess.Expire(now) when it passes. Decisions do not
// depend on Expire having run (lookups treat overdue flows as expired); it
// reclaims memory and, once Config.MaxTombstones is reached, decides which
// expired flows are forgotten first.
//
// # Bounded state
//
// Per allocation: at most Config.MaxDomains domains (each a fixed-size record
// with ProxiesPerFamily IPv4 and IPv6 proxy IPs and their real IPs, whatever
// the resolver returns), Config.MaxFlows live flows and Config.MaxTombstones
// expired flows. A query flood, a flow flood or an ICMP flood cannot grow
// anything else; synthesized ICMP errors are rate-limited per allocation.
//
// # Costs
//
// Outbound, Inbound and InboundICMP on an existing flow allocate nothing
// (TestZeroAllocationsOnExistingFlows, BenchmarkTranslatedDatagram): two
// map lookups and a comparison that caches the flow's authorization per
// snapshot. DNS queries allocate a little (name strings, the answer builder).
package gateway
