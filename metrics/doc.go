// Package metrics exports the relay's counters to Prometheus and serves
// /metrics, /healthz and /readyz (docs/operations.md).
//
// Nothing here runs per packet. The relay keeps its counters as atomics
// owned by each packet loop (relay.Stats); a custom collector reads one
// snapshot of them per scrape. Allocation lifecycle events arrive through
// relay.Config.Events into Lifecycle, whose Observe does a few atomic adds.
// Each Metrics has its own registry; the package has no global state.
//
// Every label value comes from a fixed set, is checked to be a short
// snake_case identifier or a decimal code, and a family keeps at most 128
// label combinations (the rest are counted under "other"): never a
// username, a realm or an address.
//
// # Metrics
//
//	Name                                    Type       Labels               Meaning
//	turnstile_dropped_total                 counter    reason               datagrams/frames discarded, by typed reason (relay.Drop)
//	turnstile_relayed_packets_total         counter    direction, transport application data packets relayed; direction to_peer|to_client,
//	                                           datapath             transport udp|tcp|tls (the client's transport), datapath
//	                                                                        userspace|xdp (xdp only with TURNSTILE_XDP, docs/xdp.md)
//	turnstile_relayed_bytes_total           counter    direction, transport application payload bytes relayed (no TURN/UDP/IP headers)
//	                                           datapath
//	turnstile_requests_total                counter    method, result       requests answered; method binding|allocate|refresh|
//	                                                                        create_permission|channel_bind|connect|connection_bind, result success|<error code>|other
//	turnstile_auth_failures_total           counter    reason               requests refused by authentication, by auth.Reason
//	                                                                        (bad_integrity, stale_nonce, ...; never the challenge)
//	turnstile_auth_challenges_total         counter                         401 challenges to requests without credentials, the
//	                                                                        first leg of every client's authentication
//	turnstile_peer_denied_total             counter    reason               peers refused by the peer policy, by verdict (loopback, private, ...)
//	turnstile_icmp_forwarded_total          counter   family, type          ICMP errors forwarded to clients (RFC 8656 §11.5)
//	turnstile_retransmissions_total         counter                         retransmitted requests answered from the transaction cache
//	turnstile_allocations                   gauge                           allocations in the table
//	turnstile_relayed_addresses             gauge      family               relayed addresses of live allocations; family ipv4|ipv6
//	turnstile_permissions                   gauge      family               installed permissions, by peer family
//	turnstile_channels                      gauge      family               live channel bindings, by peer family
//	turnstile_tcp_connections               gauge                           open TCP and TLS client connections
//	turnstile_tcp_relayed_connections       gauge                           relayed TCP connections (RFC 6062) bound and copying bytes
//	turnstile_tcp_relay_connections_total   counter    outcome              TCP relaying's peer connections by outcome: connected|failed|
//	                                                                        timeout|accepted|refused|bound|bind_timeout|closed
//	turnstile_tcp_relayed_bytes_total       counter    direction            bytes copied over relayed TCP connections; to_peer|to_client
//	turnstile_draining                      gauge                           1 while draining (new allocations refused), else 0
//	turnstile_gateway_verdicts_total        counter    action, reason       gateway decisions (relay.Stats.ExtensionCounts), e.g. send/translated,
//	                                                                        refuse/filter_denied, drop/expired_flow; no series without gateway
//	turnstile_xdp_passed_total              counter    reason               frames the XDP fast path passed to userspace (miss, expired, ...);
//	                                                                        no series without TURNSTILE_XDP
//	turnstile_xdp_not_offloaded_total       counter    reason               usable bindings left to userspace (map_full, transport, ...)
//	turnstile_allocations_created_total     counter                         allocations created
//	turnstile_allocations_ended_total       counter    reason               allocations ended; reason deleted|expired|closed
//	turnstile_allocation_lifetime_seconds   histogram  le                   creation-to-end time of ended allocations (LifetimeBuckets)
//
// Counters move while traffic flows, not when sessions end. Allocations
// refused at Allocate show as turnstile_requests_total{method="allocate"}
// with their error code (486 quota, 403 policy or draining, 300 redirected
// while draining, 508 capacity). The Go runtime (go_*) and process
// (process_*) collectors keep their standard names, so stock dashboards
// work.
package metrics
