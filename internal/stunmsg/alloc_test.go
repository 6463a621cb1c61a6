package stunmsg

import (
	"net/netip"
	"testing"
)

// allocTestMessage is a CreatePermission request with several peers, an
// unknown attribute and integrity: the shapes the hot paths walk.
func allocTestMessage(t testing.TB) []byte {
	var b Builder
	b.Reset(make([]byte, 0, 512), MessageType(CreatePermission, Request), testTxID)
	b.AddXORAddress(AttrXORPeerAddress, peer4)
	b.AddXORAddress(AttrXORPeerAddress, peer6)
	b.AddXORAddress(AttrXORPeerAddress, netip.MustParseAddrPort("192.0.2.44:1"))
	b.Add(0x7777, []byte{1})
	b.AddText(AttrUsername, "1735689600:alice")
	b.AddText(AttrRealm, "example.org")
	b.AddText(AttrNonce, "obMatJos2AAAB3f4a")
	b.AddIntegrity(testKey)
	b.AddFingerprint()
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertNoAllocs fails if f allocates: the codec is on the relay's hot path,
// which allocates nothing (docs/architecture.md).
func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Errorf("%s allocates %.1f times per run", name, n)
	}
}

func TestZeroAllocations(t *testing.T) {
	raw := allocTestMessage(t)
	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	malformed := append([]byte(nil), raw...)
	malformed[len(malformed)-1] ^= 1
	unknown := make([]uint16, 0, MaxAttributes)
	channelData := []byte{0x40, 0x01, 0, 4, 'd', 'a', 't', 'a'}
	indication := make([]byte, DataIndicationMaxHead+1500+3)
	xorValue, _ := m.Get(AttrXORPeerAddress)
	var b Builder
	buf := make([]byte, 0, 512)
	var sink int

	assertNoAllocs(t, "Parse", func() {
		if m.Parse(raw) != nil {
			t.Fatal("Parse failed")
		}
	})
	assertNoAllocs(t, "Parse of a malformed message", func() {
		if m.Parse(malformed) != ReasonBadFingerprint {
			t.Fatal("malformed accepted")
		}
	})
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	assertNoAllocs(t, "Get", func() {
		v, _ := m.Get(AttrNonce)
		sink += len(v)
	})
	assertNoAllocs(t, "All", func() {
		for v := range m.All(AttrXORPeerAddress) {
			ap, _ := DecodeXORAddress(v, m.TransactionID)
			sink += int(ap.Port())
		}
	})
	assertNoAllocs(t, "Attrs/Value", func() {
		for _, a := range m.Attrs() {
			sink += len(m.Value(a))
		}
	})
	assertNoAllocs(t, "UnknownRequired", func() {
		sink += len(m.UnknownRequired(unknown[:0]))
	})
	assertNoAllocs(t, "DecodeXORAddress", func() {
		ap, err := DecodeXORAddress(xorValue, testTxID)
		if err != nil || ap != peer4 {
			t.Fatal("DecodeXORAddress")
		}
	})
	assertNoAllocs(t, "DecodeXORAddress error", func() {
		if _, err := DecodeXORAddress(nil, testTxID); err == nil {
			t.Fatal("empty accepted")
		}
	})
	assertNoAllocs(t, "ParseChannelData", func() {
		_, p, _ := ParseChannelData(channelData)
		sink += len(p)
	})
	assertNoAllocs(t, "PutChannelDataHeader", func() {
		PutChannelDataHeader(channelData, 0x4001, 4)
	})
	assertNoAllocs(t, "PutDataIndication", func() {
		if _, _, ok := PutDataIndication(indication, DataIndicationMaxHead, 1500, peer6, testTxID); !ok {
			t.Fatal("PutDataIndication")
		}
	})
	assertNoAllocs(t, "FrameLength/Classify", func() {
		n, _ := FrameLength(raw)
		sink += n + int(Classify(channelData))
	})
	assertNoAllocs(t, "Builder without integrity", func() {
		b.Reset(buf, MessageType(Allocate, Error), testTxID)
		b.AddErrorCode(CodeUnknownAttribute, "")
		b.AddUnknownAttributes(unknown[:1])
		b.AddXORAddress(AttrXORMappedAddress, peer6)
		b.AddText(AttrSoftware, "turnstile")
		b.AddFingerprint()
		if _, err := b.Bytes(); err != nil {
			t.Fatal(err)
		}
	})
	assertNoAllocs(t, "Builder overflow", func() {
		b.Reset(buf[:0:24], bindingRequest, testTxID)
		b.AddUint32(AttrLifetime, 1)
		if b.Err() != ReasonBufferTooSmall {
			t.Fatal("overflow not reported")
		}
	})
	_ = sink
}

func BenchmarkParse(b *testing.B) {
	raw := allocTestMessage(b)
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndWalk(b *testing.B) {
	raw := allocTestMessage(b)
	var m Message
	unknown := make([]uint16, 0, MaxAttributes)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
		for v := range m.All(AttrXORPeerAddress) {
			if _, err := DecodeXORAddress(v, m.TransactionID); err != nil {
				b.Fatal(err)
			}
		}
		unknown = m.UnknownRequired(unknown[:0])
	}
}

func BenchmarkCheckIntegrity(b *testing.B) {
	raw := allocTestMessage(b)
	var m Message
	if err := m.Parse(raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !m.CheckIntegrity(testKey) {
			b.Fatal("integrity")
		}
	}
}

func BenchmarkParseChannelData(b *testing.B) {
	pkt := make([]byte, 4+1200)
	PutChannelDataHeader(pkt, 0x4001, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, _, ok := ParseChannelData(pkt); !ok {
			b.Fatal("ParseChannelData")
		}
	}
}

func BenchmarkPutChannelDataHeader(b *testing.B) {
	pkt := make([]byte, 4+1200)
	b.ReportAllocs()
	for b.Loop() {
		PutChannelDataHeader(pkt, 0x4001, 1200)
	}
}

func BenchmarkPutDataIndication(b *testing.B) {
	buf := make([]byte, DataIndicationMaxHead+1200+3)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := PutDataIndication(buf, DataIndicationMaxHead, 1200, peer6, testTxID); !ok {
			b.Fatal("PutDataIndication")
		}
	}
}

func BenchmarkDecodeXORAddress(b *testing.B) {
	v := []byte{0, 2, 0xa1, 0x47, 1, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeXORAddress(v, rfc5769TxID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildErrorResponse(b *testing.B) {
	buf := make([]byte, 0, 256)
	var bld Builder
	b.ReportAllocs()
	for b.Loop() {
		bld.Reset(buf, MessageType(Allocate, Error), testTxID)
		bld.AddErrorCode(CodeAllocationQuotaReached, "")
		bld.AddText(AttrSoftware, "turnstile")
		bld.AddFingerprint()
		if _, err := bld.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildWithIntegrity(b *testing.B) {
	buf := make([]byte, 0, 256)
	var bld Builder
	b.ReportAllocs()
	for b.Loop() {
		bld.Reset(buf, MessageType(Allocate, Success), testTxID)
		bld.AddXORAddress(AttrXORRelayedAddress, peer4)
		bld.AddUint32(AttrLifetime, 600)
		bld.AddXORAddress(AttrXORMappedAddress, peer4)
		bld.AddIntegrity(testKey)
		bld.AddFingerprint()
		if _, err := bld.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}
