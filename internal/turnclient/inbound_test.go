package turnclient

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

var (
	peer4 = netip.MustParseAddrPort("192.0.2.7:5004")
	peer6 = netip.MustParseAddrPort("[2001:db8::7]:5006")
)

// boundChannels is the channel table of the decode tests: 0x4001 and the
// legacy-range 0x7001 are bound.
func boundChannels(ch uint16) (netip.AddrPort, bool) {
	switch ch {
	case 0x4001:
		return peer4, true
	case 0x7001:
		return peer6, true
	}
	return netip.AddrPort{}, false
}

// indication builds a Data indication (or, with method, another message)
// with the given attributes.
func indication(t testing.TB, method stunmsg.Method, class stunmsg.Class, attrs func(b *stunmsg.Builder)) []byte {
	t.Helper()
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 512), stunmsg.MessageType(method, class), [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	attrs(&b)
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestDecodeInbound covers every kind of message a relay sends a client.
func TestDecodeInbound(t *testing.T) {
	withPeer := func(p netip.AddrPort, more func(b *stunmsg.Builder)) func(b *stunmsg.Builder) {
		return func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, p)
			more(b)
		}
	}
	data := func(b *stunmsg.Builder) { b.Add(stunmsg.AttrData, []byte("hello")) }
	icmp := func(typ, code uint8, mtu uint32) func(b *stunmsg.Builder) {
		return func(b *stunmsg.Builder) { b.AddICMP(typ, code, mtu) }
	}
	cd := func(ch uint16, payload string, pad int) []byte {
		b := []byte{byte(ch >> 8), byte(ch), 0, byte(len(payload))}
		b = append(b, payload...)
		return append(b, make([]byte, pad)...)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		kind inboundKind
		want inbound
	}{
		{"Data indication", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, data)), inboundEvent,
			inbound{kind: EventData, peer: peer4, payload: []byte("hello")}},
		{"Data indication, IPv6 peer", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer6, data)), inboundEvent,
			inbound{kind: EventData, peer: peer6, payload: []byte("hello")}},
		{"ICMPv4 fragmentation needed", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, icmp(3, 4, 1300))), inboundEvent,
			inbound{kind: EventICMP, icmp: ICMPEvent{Peer: peer4, Family: FamilyIPv4, Type: 3, Code: 4, MTU: 1300}}},
		{"ICMPv6 packet too big", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer6, icmp(2, 0, 1280))), inboundEvent,
			inbound{kind: EventICMP, icmp: ICMPEvent{Peer: peer6, Family: FamilyIPv6, Type: 2, Code: 0, MTU: 1280}}},
		{"ICMP wins over DATA", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, func(b *stunmsg.Builder) {
			b.Add(stunmsg.AttrData, []byte("x"))
			b.AddICMP(3, 3, 0)
		})), inboundEvent, inbound{kind: EventICMP, icmp: ICMPEvent{Peer: peer4, Family: FamilyIPv4, Type: 3, Code: 3}}},
		{"ICMP value too short", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, func(b *stunmsg.Builder) {
			b.Add(stunmsg.AttrICMP, []byte{0, 0, 3})
		})), inboundIgnored, inbound{}},
		{"no XOR-PEER-ADDRESS", indication(t, stunmsg.Data, stunmsg.Indication, data), inboundIgnored, inbound{}},
		{"empty XOR-PEER-ADDRESS", indication(t, stunmsg.Data, stunmsg.Indication, func(b *stunmsg.Builder) {
			b.Add(stunmsg.AttrXORPeerAddress, nil)
			data(b)
		}), inboundIgnored, inbound{}},
		{"neither DATA nor ICMP", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, func(*stunmsg.Builder) {})), inboundIgnored, inbound{}},
		{"Send indication", indication(t, stunmsg.Send, stunmsg.Indication, withPeer(peer4, data)), inboundIgnored, inbound{}},
		{"request", indication(t, stunmsg.Binding, stunmsg.Request, func(*stunmsg.Builder) {}), inboundIgnored, inbound{}},
		{"success response", indication(t, stunmsg.Allocate, stunmsg.Success, func(*stunmsg.Builder) {}), inboundResponse, inbound{}},
		{"error response", indication(t, stunmsg.Refresh, stunmsg.Error, func(b *stunmsg.Builder) { b.AddErrorCode(437, "") }), inboundResponse, inbound{}},
		{"ChannelData", cd(0x4001, "abc", 0), inboundEvent, inbound{kind: EventData, peer: peer4, channel: 0x4001, payload: []byte("abc")}},
		{"ChannelData, padded", cd(0x4001, "abc", 1), inboundEvent, inbound{kind: EventData, peer: peer4, channel: 0x4001, payload: []byte("abc")}},
		{"ChannelData, legacy number", cd(0x7001, "", 0), inboundEvent, inbound{kind: EventData, peer: peer6, channel: 0x7001, payload: []byte{}}},
		{"ChannelData, unbound", cd(0x4002, "abc", 0), inboundUnboundChannel, inbound{}},
		{"ChannelData, short", cd(0x4001, "abc", 0)[:5], inboundIgnored, inbound{}},
		{"first byte 0x80", []byte{0x80, 0, 0, 0}, inboundIgnored, inbound{}},
		{"empty", nil, inboundIgnored, inbound{}},
		{"truncated STUN", indication(t, stunmsg.Data, stunmsg.Indication, withPeer(peer4, data))[:30], inboundIgnored, inbound{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m stunmsg.Message
			got, kind := decodeInbound(&m, tc.msg, boundChannels)
			if kind != tc.kind {
				t.Fatalf("kind %d, want %d", kind, tc.kind)
			}
			if got.kind != tc.want.kind || got.peer != tc.want.peer || got.channel != tc.want.channel ||
				got.icmp != tc.want.icmp || !bytes.Equal(got.payload, tc.want.payload) {
				t.Fatalf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzDecodeInbound: no input panics, and every event is self-consistent.
func FuzzDecodeInbound(f *testing.F) {
	f.Add(indication(f, stunmsg.Data, stunmsg.Indication, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer6)
		b.AddICMP(2, 0, 1280)
	}))
	f.Add(indication(f, stunmsg.Data, stunmsg.Indication, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer4)
		b.Add(stunmsg.AttrData, []byte("payload"))
	}))
	f.Add([]byte{0x40, 0x01, 0x00, 0x02, 0xAA, 0xBB, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var m stunmsg.Message
		in, kind := decodeInbound(&m, msg, boundChannels)
		if kind != inboundEvent {
			return
		}
		switch in.kind {
		case EventData:
			if !in.peer.IsValid() || len(in.payload) > len(msg) {
				t.Fatalf("bad data event %+v", in)
			}
		case EventICMP:
			if in.icmp.Family != FamilyOf(in.icmp.Peer.Addr()) {
				t.Fatalf("family %v for peer %v", in.icmp.Family, in.icmp.Peer)
			}
		default:
			t.Fatalf("event of kind %d", in.kind)
		}
	})
}
