package turnwire

import (
	"net/netip"
	"testing"
)

// The data path runs once per packet: it must not allocate.
func TestDataPathAllocatesNothing(t *testing.T) {
	peer := netip.MustParseAddrPort("127.0.0.1:4000")
	txid := [12]byte{1}
	buf := make([]byte, 2048)
	di := buildDataIndication(t, make([]byte, 100))
	cd := make([]byte, ChannelDataSize(100, true))
	PutChannelDataHeader(cd, ChannelMin, 100)
	f := NewFramer(2048, 8192)
	stream := append(append([]byte(nil), cd...), di...)

	tests := map[string]func(){
		"PutSendIndication":   func() { PutSendIndication(buf, &txid, peer, 100) },
		"ParseDataIndication": func() { ParseDataIndication(di) },
		"ParseChannelData":    func() { ParseChannelData(cd) },
		"Classify":            func() { Classify(di) },
		"Framer": func() {
			n := copy(f.Space(), stream)
			f.Advance(n)
			for fr, _ := f.Next(); fr != nil; fr, _ = f.Next() {
			}
		},
	}
	for name, fn := range tests {
		if allocs := testing.AllocsPerRun(100, fn); allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, allocs)
		}
	}
}

func BenchmarkPutSendIndication(b *testing.B) {
	peer := netip.MustParseAddrPort("127.0.0.1:4000")
	txid := [12]byte{1}
	buf := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		PutSendIndication(buf, &txid, peer, 100)
	}
}

func BenchmarkParseDataIndication(b *testing.B) {
	di := buildDataIndication(b, make([]byte, 100))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseDataIndication(di); !ok {
			b.Fatal("parse failed")
		}
	}
}

func BenchmarkParseChannelData(b *testing.B) {
	cd := make([]byte, 104)
	PutChannelDataHeader(cd, ChannelMin, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := ParseChannelData(cd); !ok {
			b.Fatal("parse failed")
		}
	}
}

func BenchmarkFramer(b *testing.B) {
	cd := make([]byte, 104)
	PutChannelDataHeader(cd, ChannelMin, 100)
	var stream []byte
	for i := 0; i < 32; i++ {
		stream = append(stream, cd...)
	}
	f := NewFramer(2048, 8192)
	b.ReportAllocs()
	for b.Loop() {
		n := copy(f.Space(), stream)
		f.Advance(n)
		for fr, _ := f.Next(); fr != nil; fr, _ = f.Next() {
		}
	}
}
