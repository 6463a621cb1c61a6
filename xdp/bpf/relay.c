// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//go:build ignore

// turnstile's in-kernel ChannelData relay (docs/xdp.md). It forwards only
// what it is sure about and passes everything else, unchanged, to the
// kernel's stack and the userspace relay, which stays complete: a pass is
// never wrong, a wrong forward is.
//
// Client to peer (RFC 8656 §12.6): UDP ChannelData to a listener becomes
// plain UDP from the allocation's relayed address to the peer.
// Peer to client (RFC 8656 §12.7): UDP from a permitted peer to a relayed
// address becomes ChannelData from the listener to the client.
// Headers move, the payload stays; checksums are updated incrementally
// (RFC 1624); TTL and hop limit are decremented; the frame leaves with
// XDP_TX towards the next hop the kernel's FIB names.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define MAX_LISTENERS 8

// Configuration, set by the loader before the program is loaded.
// Listener ports in host byte order; 0 ends the list.
volatile const __u16 listen_ports[MAX_LISTENERS];
// The accepted channel numbers (RFC 8656 §12: 0x4000-0x4FFF; RFC 5766
// clients may use up to 0x7FFF when the relay allows them).
volatile const __u16 channel_min = 0x4000;
volatile const __u16 channel_max = 0x4FFF;

// Why a frame was passed (index into counters); keep in step with
// passReasons in xdp/counters.go.
enum pass_reason {
	PASS_NOT_IP = 0,     // not IPv4/IPv6 over Ethernet II
	PASS_VLAN,           // 802.1Q/802.1ad tagged
	PASS_NOT_UDP,        // another transport
	PASS_IP_OPTIONS,     // IPv4 header longer than 20 bytes
	PASS_IPV6_EXT,       // IPv6 extension header
	PASS_FRAGMENT,       // IPv4 fragment (MF or offset)
	PASS_BAD_LENGTH,     // lengths that disagree, truncated or GRO-coalesced
	PASS_NOT_CHANNEL,    // to a listener but not ChannelData (STUN)
	PASS_CHANNEL_RANGE,  // channel number outside the configured range
	PASS_MISS,           // no binding for this exact 5-tuple/channel or peer
	PASS_EXPIRED,        // binding past its channel's or permission's deadline
	PASS_CROSS_FAMILY,   // client and peer of different families
	PASS_TTL,            // TTL or hop limit 1 or less
	PASS_ZERO_CHECKSUM,  // IPv6 UDP without checksum (RFC 8200 §8.1)
	PASS_FIB_DISABLED,   // forwarding off on the interface: no FIB answer
	PASS_FIB_LOCAL,      // destination is local (hairpin) or not routed
	PASS_FIB_OTHER,      // no neighbour entry, other interface, blackhole
	PASS_MTU,            // result larger than the route's MTU
	PASS_ADJUST_FAILED,  // not enough headroom to grow or trim
	PASS_REASONS,
};

// Counters after the pass reasons: packets and payload bytes relayed.
enum relayed_counter {
	RELAYED_TO_PEER_PACKETS = PASS_REASONS,
	RELAYED_TO_PEER_BYTES,
	RELAYED_TO_CLIENT_PACKETS,
	RELAYED_TO_CLIENT_BYTES,
	COUNTERS,
};

// Addresses are IPv6 or IPv4-mapped IPv6 (::ffff:a.b.c.d), ports and
// channel numbers in network byte order, as bytes, so packet bytes compare
// directly and no loader can get the byte order wrong. Keys have no
// implicit padding: a hash map compares them bytewise.
struct channel_key {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u8 client_port[2];
	__u8 server_port[2];
	__u8 channel[2];
	__u8 zero[2];
};

// How long the program reuses a binding's FIB answer. A lookup costs about
// as much as the rest of the program, and a flow sends tens of datagrams a
// second to one destination; a route or neighbour change reaches an
// offloaded flow within this time (docs/xdp.md).
#define FIB_CACHE_NS 100000000ULL

// The FIB's last answer for a binding's destination, kept in the binding by
// the program. Userspace writes zeros (no answer) with every install and
// refresh. Each word is written and read whole, so no reader sees half a
// MAC even when two CPUs relay the same binding.
struct next_hop {
	__u64 dmac_len;   // bytes 0-5: the next hop's MAC; 6-7: the largest IP
	                  // length (big-endian) the route's MTU was checked for
	__u64 smac;       // bytes 0-5: the interface's MAC
	__u64 checked_ns; // bpf_ktime_get_ns of the lookup; 0: none
};

struct channel_value {
	__u8 peer_addr[16];
	__u8 relayed_addr[16];
	__u8 peer_port[2];
	__u8 relayed_port[2];
	__u8 zero[4];
	__u64 expires_ns; // bpf_ktime_get_ns deadline: min(channel, permission)
	struct next_hop to_peer;
};

struct peer_key {
	__u8 relayed_addr[16];
	__u8 peer_addr[16];
	__u8 relayed_port[2];
	__u8 peer_port[2];
};

struct peer_value {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u8 client_port[2];
	__u8 server_port[2];
	__u8 channel[2];
	__u8 zero[2];
	__u64 expires_ns;
	struct next_hop to_client;
};

// Plain hash maps, never LRU: an evicted binding would silently reroute.
// The loader sizes them (max_entries) from the relay's channel capacity.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct channel_key);
	__type(value, struct channel_value);
} channels SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct peer_key);
	__type(value, struct peer_value);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += n;
}

static __always_inline int pass(__u32 reason)
{
	count(reason, 1);
	return XDP_PASS;
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). acc holds ~HC plus the
// one's-complement differences of every changed 16-bit word.
static __always_inline __u32 csum_replace16(__u32 acc, __u16 old, __u16 new)
{
	return acc + (__u16)~old + new;
}

static __always_inline __u32 csum_replace_bytes(__u32 acc, const __u8 *old, const __u8 *new, int n)
{
#pragma clang loop unroll(disable)
	for (int i = 0; i < n; i += 2) {
		acc = csum_replace16(acc, ((__u16)old[i] << 8) | old[i + 1], ((__u16)new[i] << 8) | new[i + 1]);
	}
	return acc;
}

static __always_inline __u16 csum_fold(__u32 acc)
{
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)~acc;
}

static __always_inline __u16 be16(const __u8 *b)
{
	return ((__u16)b[0] << 8) | b[1];
}

static __always_inline int is_listener(__u16 port)
{
#pragma unroll
	for (int i = 0; i < MAX_LISTENERS; i++) {
		if (listen_ports[i] == 0)
			return 0;
		if (listen_ports[i] == port)
			return 1;
	}
	return 0;
}

static __always_inline int is_v4_mapped(const __u8 *a)
{
	for (int i = 0; i < 10; i++)
		if (a[i])
			return 0;
	return a[10] == 0xff && a[11] == 0xff;
}

static __always_inline void map_v4(__u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

// Where the UDP payload starts in a frame of each family.
#define CD_OFF_V4 (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
#define CD_OFF_V6 (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr))

// The parsed frame: its headers copied to the stack, where they are
// rewritten before they go back in front of the payload.
struct frame {
	struct ethhdr eth;
	union {
		struct iphdr ip4;
		struct ipv6hdr ip6;
	};
	struct udphdr udp;
	int v6;
	__u32 l3_len;   // IP header length: 20 or 40
	__u32 udp_len;  // UDP length: header and payload
	__u32 trailer;  // bytes after the IP packet (Ethernet minimum-size padding)
};

// next_hop asks the FIB where a packet from src to dst leaves and fills
// the Ethernet addresses. tot_len lets the kernel check the route's MTU.
static __noinline int next_hop(struct xdp_md *ctx, struct frame *f, __u16 tot_len)
{
	struct bpf_fib_lookup fib = {};
	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = IPPROTO_UDP;
	fib.sport = f->udp.source;
	fib.dport = f->udp.dest;
	fib.tot_len = tot_len;
	if (f->v6) {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &f->ip6.saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &f->ip6.daddr, 16);
	} else {
		fib.family = AF_INET;
		fib.tos = f->ip4.tos;
		fib.ipv4_src = f->ip4.saddr;
		fib.ipv4_dst = f->ip4.daddr;
	}
	long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return PASS_FIB_DISABLED;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return PASS_FIB_LOCAL;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return PASS_MTU;
	default:
		return PASS_FIB_OTHER;
	}
	// XDP_TX leaves by the interface the frame came in on.
	if (fib.ifindex != ctx->ingress_ifindex)
		return PASS_FIB_OTHER;
	__builtin_memcpy(f->eth.h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(f->eth.h_source, fib.smac, ETH_ALEN);
	return -1;
}

// cached_next_hop fills the Ethernet addresses from the binding's cached FIB
// answer when it is younger than FIB_CACHE_NS and checked the route's MTU
// for at least tot_len; otherwise it asks the FIB (next_hop) and caches a
// successful answer. It returns -1 or a pass reason, like next_hop.
static __always_inline int cached_next_hop(struct xdp_md *ctx, struct frame *f, __u16 tot_len, struct next_hop *nh, __u64 now)
{
	__u64 checked = *(volatile __u64 *)&nh->checked_ns;
	if (checked && now - checked < FIB_CACHE_NS) {
		__u64 dmac_len = *(volatile __u64 *)&nh->dmac_len;
		__u64 smac = *(volatile __u64 *)&nh->smac;
		__u8 d[8], sm[8];
		__builtin_memcpy(d, &dmac_len, 8);
		__builtin_memcpy(sm, &smac, 8);
		if (tot_len <= be16(d + 6)) {
			__builtin_memcpy(f->eth.h_dest, d, ETH_ALEN);
			__builtin_memcpy(f->eth.h_source, sm, ETH_ALEN);
			return -1;
		}
	}
	int r = next_hop(ctx, f, tot_len);
	if (r >= 0)
		return r;
	__u8 d[8] = {}, sm[8] = {};
	__builtin_memcpy(d, f->eth.h_dest, ETH_ALEN);
	d[6] = tot_len >> 8;
	d[7] = tot_len;
	__builtin_memcpy(sm, f->eth.h_source, ETH_ALEN);
	__u64 dmac_len, smac;
	__builtin_memcpy(&dmac_len, d, 8);
	__builtin_memcpy(&smac, sm, 8);
	*(volatile __u64 *)&nh->dmac_len = dmac_len;
	*(volatile __u64 *)&nh->smac = smac;
	*(volatile __u64 *)&nh->checked_ns = now;
	return -1;
}

// parse validates and copies the headers up to UDP. It returns -1 when the
// frame is a well-formed, unfragmented UDP datagram, else a pass reason.
static __always_inline int parse(struct xdp_md *ctx, struct frame *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 frame_len = end - data;

	if (data + sizeof(struct ethhdr) > end)
		return PASS_NOT_IP;
	__builtin_memcpy(&f->eth, data, sizeof(struct ethhdr));
	__u16 proto = bpf_ntohs(f->eth.h_proto);
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD)
		return PASS_VLAN;
	void *l3 = data + sizeof(struct ethhdr);
	__u32 ip_total;
	if (proto == ETH_P_IP) {
		if (l3 + sizeof(struct iphdr) > end)
			return PASS_BAD_LENGTH;
		__builtin_memcpy(&f->ip4, l3, sizeof(struct iphdr));
		if (f->ip4.version != 4)
			return PASS_BAD_LENGTH;
		if (f->ip4.ihl != 5)
			return f->ip4.ihl > 5 ? PASS_IP_OPTIONS : PASS_BAD_LENGTH;
		if (f->ip4.protocol != IPPROTO_UDP)
			return PASS_NOT_UDP;
		if (f->ip4.frag_off & bpf_htons(0x3fff))
			return PASS_FRAGMENT;
		f->v6 = 0;
		f->l3_len = sizeof(struct iphdr);
		ip_total = bpf_ntohs(f->ip4.tot_len);
		if (ip_total < sizeof(struct iphdr) + sizeof(struct udphdr))
			return PASS_BAD_LENGTH;
	} else if (proto == ETH_P_IPV6) {
		if (l3 + sizeof(struct ipv6hdr) > end)
			return PASS_BAD_LENGTH;
		__builtin_memcpy(&f->ip6, l3, sizeof(struct ipv6hdr));
		if (f->ip6.version != 6)
			return PASS_BAD_LENGTH;
		switch (f->ip6.nexthdr) {
		case IPPROTO_UDP:
			break;
		case 0:   // hop-by-hop
		case 43:  // routing
		case 44:  // fragment
		case 50:  // ESP
		case 51:  // AH
		case 60:  // destination options
		case 135: // mobility
		case 139: // HIP
		case 140: // shim6
			return PASS_IPV6_EXT;
		default:
			return PASS_NOT_UDP;
		}
		f->v6 = 1;
		f->l3_len = sizeof(struct ipv6hdr);
		ip_total = sizeof(struct ipv6hdr) + bpf_ntohs(f->ip6.payload_len);
	} else {
		return PASS_NOT_IP;
	}
	if (sizeof(struct ethhdr) + ip_total > frame_len)
		return PASS_BAD_LENGTH;
	f->trailer = frame_len - sizeof(struct ethhdr) - ip_total;
	// Only an Ethernet minimum-size pad; anything longer is not a frame
	// this program understands.
	if (f->trailer > 64)
		return PASS_BAD_LENGTH;
	void *l4 = l3 + f->l3_len;
	if (l4 + sizeof(struct udphdr) > end)
		return PASS_BAD_LENGTH;
	__builtin_memcpy(&f->udp, l4, sizeof(struct udphdr));
	f->udp_len = bpf_ntohs(f->udp.len);
	// A GRO-coalesced frame in generic mode fails here too: its UDP length
	// names one segment.
	if (f->udp_len != ip_total - f->l3_len || f->udp_len < sizeof(struct udphdr))
		return PASS_BAD_LENGTH;
	return -1;
}

static __always_inline int ttl_expiring(struct frame *f)
{
	return f->v6 ? f->ip6.hop_limit <= 1 : f->ip4.ttl <= 1;
}

// rewrite_ip sets the new addresses, length and TTL of the copied IP
// header, updates its checksum (IPv4), and returns the running UDP
// checksum accumulator with the pseudo-header's changes (RFC 768,
// RFC 8200 §8.1) added to acc.
static __noinline __u32 rewrite_ip(struct frame *f, __u32 acc, const __u8 *src, const __u8 *dst, __u16 new_udp_len)
{
	__u16 old_udp_len = f->udp_len;
	if (f->v6) {
		acc = csum_replace_bytes(acc, (const __u8 *)&f->ip6.saddr, src, 16);
		acc = csum_replace_bytes(acc, (const __u8 *)&f->ip6.daddr, dst, 16);
		__builtin_memcpy(&f->ip6.saddr, src, 16);
		__builtin_memcpy(&f->ip6.daddr, dst, 16);
		f->ip6.payload_len = bpf_htons(new_udp_len);
		f->ip6.hop_limit--;
	} else {
		__u32 ip_acc = (__u16)~bpf_ntohs(f->ip4.check);
		const __u8 *s = src + 12, *d = dst + 12;
		acc = csum_replace_bytes(acc, (const __u8 *)&f->ip4.saddr, s, 4);
		acc = csum_replace_bytes(acc, (const __u8 *)&f->ip4.daddr, d, 4);
		ip_acc = csum_replace_bytes(ip_acc, (const __u8 *)&f->ip4.saddr, s, 4);
		ip_acc = csum_replace_bytes(ip_acc, (const __u8 *)&f->ip4.daddr, d, 4);
		__u16 old_total = bpf_ntohs(f->ip4.tot_len);
		__u16 new_total = new_udp_len + sizeof(struct iphdr);
		ip_acc = csum_replace16(ip_acc, old_total, new_total);
		// TTL is the high byte of the word it shares with the protocol.
		__u16 old_ttl_word = ((__u16)f->ip4.ttl << 8) | f->ip4.protocol;
		f->ip4.ttl--;
		ip_acc = csum_replace16(ip_acc, old_ttl_word, ((__u16)f->ip4.ttl << 8) | f->ip4.protocol);
		__builtin_memcpy(&f->ip4.saddr, s, 4);
		__builtin_memcpy(&f->ip4.daddr, d, 4);
		f->ip4.tot_len = bpf_htons(new_total);
		f->ip4.check = bpf_htons(csum_fold(ip_acc));
	}
	// The UDP length appears twice: in the pseudo-header and the header.
	acc = csum_replace16(acc, old_udp_len, new_udp_len);
	acc = csum_replace16(acc, old_udp_len, new_udp_len);
	f->udp.len = bpf_htons(new_udp_len);
	return acc;
}

static __always_inline __u32 rewrite_ports(struct frame *f, __u32 acc, const __u8 *sport, const __u8 *dport)
{
	acc = csum_replace16(acc, bpf_ntohs(f->udp.source), be16(sport));
	acc = csum_replace16(acc, bpf_ntohs(f->udp.dest), be16(dport));
	__builtin_memcpy(&f->udp.source, sport, 2);
	__builtin_memcpy(&f->udp.dest, dport, 2);
	return acc;
}

// write_headers copies the rewritten headers to the front of the frame.
static __always_inline int write_headers(struct xdp_md *ctx, struct frame *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (f->v6) {
		if (data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr) > end)
			return -1;
		__builtin_memcpy(data, &f->eth, sizeof(struct ethhdr));
		__builtin_memcpy(data + sizeof(struct ethhdr), &f->ip6, sizeof(struct ipv6hdr));
		__builtin_memcpy(data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr), &f->udp, sizeof(struct udphdr));
	} else {
		if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) > end)
			return -1;
		__builtin_memcpy(data, &f->eth, sizeof(struct ethhdr));
		__builtin_memcpy(data + sizeof(struct ethhdr), &f->ip4, sizeof(struct iphdr));
		__builtin_memcpy(data + sizeof(struct ethhdr) + sizeof(struct iphdr), &f->udp, sizeof(struct udphdr));
	}
	return 0;
}

static __always_inline void frame_addrs(struct frame *f, __u8 *src, __u8 *dst)
{
	if (f->v6) {
		__builtin_memcpy(src, &f->ip6.saddr, 16);
		__builtin_memcpy(dst, &f->ip6.daddr, 16);
	} else {
		map_v4(src, f->ip4.saddr);
		map_v4(dst, f->ip4.daddr);
	}
}

// to_peer relays ChannelData from a client (RFC 8656 §12.6).
static __noinline int to_peer(struct xdp_md *ctx, struct frame *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	// A constant per family: the verifier needs a bounded packet offset.
	__u32 cd_off = f->v6 ? CD_OFF_V6 : CD_OFF_V4;
	__u8 *cd = data + cd_off;
	if ((void *)(cd + 4) > end)
		return pass(PASS_NOT_CHANNEL);
	// RFC 8656 §12: the first two bits are 0b01 for ChannelData.
	if ((cd[0] & 0xc0) != 0x40)
		return pass(PASS_NOT_CHANNEL);
	__u16 channel = be16(cd);
	if (channel < channel_min || channel > channel_max)
		return pass(PASS_CHANNEL_RANGE);
	__u32 app_len = be16(cd + 2);
	__u32 udp_payload = f->udp_len - sizeof(struct udphdr);
	if (app_len + 4 > udp_payload)
		return pass(PASS_BAD_LENGTH);
	// Over UDP the padding to 4 bytes may be present (RFC 8656 §12.5); it
	// is trimmed, and anything else after the data is not ChannelData.
	__u32 pad = udp_payload - 4 - app_len;
	if (pad != 0 && pad != ((4 - (app_len & 3)) & 3))
		return pass(PASS_BAD_LENGTH);
	if (f->v6 && f->udp.check == 0)
		return pass(PASS_ZERO_CHECKSUM);

	struct channel_key key = {};
	frame_addrs(f, key.client_addr, key.server_addr);
	__builtin_memcpy(key.client_port, &f->udp.source, 2);
	__builtin_memcpy(key.server_port, &f->udp.dest, 2);
	key.channel[0] = cd[0];
	key.channel[1] = cd[1];
	struct channel_value *v = bpf_map_lookup_elem(&channels, &key);
	if (!v)
		return pass(PASS_MISS);
	struct channel_value b = *v; // a stable copy: userspace may update it
	__u64 now = bpf_ktime_get_ns();
	if (now >= b.expires_ns)
		return pass(PASS_EXPIRED);
	if (is_v4_mapped(b.peer_addr) != !f->v6 || is_v4_mapped(b.relayed_addr) != !f->v6)
		return pass(PASS_CROSS_FAMILY);
	if (ttl_expiring(f))
		return pass(PASS_TTL);

	// The checksum loses the ChannelData header and the padding bytes.
	__u16 cd_words[2] = {channel, (__u16)app_len};
	__u8 padding[4] = {};
	// The length is pad (1-3) written so the verifier sees it is not 0.
	if (pad && bpf_xdp_load_bytes(ctx, cd_off + 4 + app_len, padding, ((pad - 1) & 3) + 1))
		return pass(PASS_BAD_LENGTH);
	int checked = f->udp.check != 0;
	__u32 acc = (__u16)~bpf_ntohs(f->udp.check);
	acc = csum_replace16(acc, cd_words[0], 0);
	acc = csum_replace16(acc, cd_words[1], 0);
	// Padding starts after app_len bytes of data: at an odd offset its
	// first byte is the low half of a 16-bit word.
	for (int i = 0; i < 3; i++) {
		if (i >= (int)pad)
			break;
		__u16 w = ((app_len + i) & 1) ? padding[i] : (__u16)padding[i] << 8;
		acc = csum_replace16(acc, w, 0);
	}

	__u16 new_udp_len = sizeof(struct udphdr) + app_len;
	acc = rewrite_ip(f, acc, b.relayed_addr, b.peer_addr, new_udp_len);
	acc = rewrite_ports(f, acc, b.relayed_port, b.peer_port);
	if (checked) {
		__u16 sum = csum_fold(acc);
		f->udp.check = bpf_htons(sum ? sum : 0xffff);
	}
	int r = cached_next_hop(ctx, f, f->l3_len + new_udp_len, &v->to_peer, now);
	if (r >= 0)
		return pass(r);

	__u32 cut = pad + f->trailer;
	if (cut && bpf_xdp_adjust_tail(ctx, -(int)cut))
		return pass(PASS_ADJUST_FAILED);
	if (bpf_xdp_adjust_head(ctx, 4))
		return pass(PASS_ADJUST_FAILED); // the frame is unchanged but for the tail
	if (write_headers(ctx, f))
		return XDP_DROP; // unreachable: the frame only shrank
	count(RELAYED_TO_PEER_PACKETS, 1);
	count(RELAYED_TO_PEER_BYTES, app_len);
	return XDP_TX;
}

// to_client relays a peer's datagram as ChannelData (RFC 8656 §12.7).
static __noinline int to_client(struct xdp_md *ctx, struct frame *f)
{
	struct peer_key key = {};
	frame_addrs(f, key.peer_addr, key.relayed_addr);
	__builtin_memcpy(key.peer_port, &f->udp.source, 2);
	__builtin_memcpy(key.relayed_port, &f->udp.dest, 2);
	struct peer_value *v = bpf_map_lookup_elem(&peers, &key);
	if (!v)
		return pass(PASS_MISS);
	struct peer_value b = *v;
	__u64 now = bpf_ktime_get_ns();
	if (now >= b.expires_ns)
		return pass(PASS_EXPIRED);
	if (is_v4_mapped(b.client_addr) != !f->v6 || is_v4_mapped(b.server_addr) != !f->v6)
		return pass(PASS_CROSS_FAMILY);
	if (f->v6 && f->udp.check == 0)
		return pass(PASS_ZERO_CHECKSUM);
	if (ttl_expiring(f))
		return pass(PASS_TTL);

	__u32 app_len = f->udp_len - sizeof(struct udphdr);
	int checked = f->udp.check != 0;
	__u32 acc = (__u16)~bpf_ntohs(f->udp.check);
	acc = csum_replace16(acc, 0, be16(b.channel));
	acc = csum_replace16(acc, 0, (__u16)app_len);
	__u16 new_udp_len = f->udp_len + 4;
	acc = rewrite_ip(f, acc, b.server_addr, b.client_addr, new_udp_len);
	acc = rewrite_ports(f, acc, b.server_port, b.client_port);
	if (checked) {
		__u16 sum = csum_fold(acc);
		f->udp.check = bpf_htons(sum ? sum : 0xffff);
	}
	int r = cached_next_hop(ctx, f, f->l3_len + new_udp_len, &v->to_client, now);
	if (r >= 0)
		return pass(r);

	if (f->trailer && bpf_xdp_adjust_tail(ctx, -(int)f->trailer))
		return pass(PASS_ADJUST_FAILED);
	if (bpf_xdp_adjust_head(ctx, -4))
		return pass(PASS_ADJUST_FAILED);
	if (write_headers(ctx, f))
		return XDP_DROP; // unreachable: the frame grew by 4 bytes
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *cd = data + (f->v6 ? CD_OFF_V6 : CD_OFF_V4);
	if ((void *)(cd + 4) > end)
		return XDP_DROP; // unreachable, as above
	cd[0] = b.channel[0];
	cd[1] = b.channel[1];
	cd[2] = app_len >> 8;
	cd[3] = app_len;
	count(RELAYED_TO_CLIENT_PACKETS, 1);
	count(RELAYED_TO_CLIENT_BYTES, app_len);
	return XDP_TX;
}

SEC("xdp")
int turnstile_relay(struct xdp_md *ctx)
{
	struct frame f = {};
	int r = parse(ctx, &f);
	if (r >= 0)
		return pass(r);
	if (is_listener(bpf_ntohs(f.udp.dest)))
		return to_peer(ctx, &f);
	return to_client(ctx, &f);
}

char __license[] SEC("license") = "Dual MIT/GPL";
