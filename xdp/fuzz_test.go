package xdp

import (
	"bytes"
	"testing"
)

// FuzzProgram runs arbitrary frames through the program in the kernel,
// with bindings installed for the table's IPv4 and IPv6 clients and peers
// (the seeds are frames that hit them). Whatever the frame: the verdict is
// XDP_PASS or XDP_TX, never a drop or an abort; a passed frame leaves
// unchanged; a relayed frame whose input had correct checksums leaves
// with correct checksums. Needs root like the table.
func FuzzProgram(f *testing.F) {
	data := []byte("hello, peer")
	for _, seed := range []frameSpec{
		in(client4, listener4, 64, channelData(0x4001, data)),
		in(peer4, relayed4, 64, data),
		in(client6, listener6, 64, channelData(0x4002, data)),
		in(peer6, relayed6, 64, data),
		in(client4, listener4, 64, channelData(0x4001, []byte("abcde"), 1, 2, 3)),
		with(in(peer4, relayed4, 64, data), func(f *frameSpec) { f.zeroChecksum = true }),
		in(client4, listener4, 2, channelData(0x4001, data)),
	} {
		f.Add(seed.build())
	}
	ns := enterTableNamespace(f)
	p := requireBPF(f, ProgramConfig{ListenPorts: []uint16{3478, 3479}, ChannelMax: 0x4FFF, MaxBindings: 64})
	for _, b := range []binding{bind4, bind6} {
		e := newEntry(b.client, b.server, b.channel, b.peer, b.relayed, b.expiresNs)
		if err := p.put(&e); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 3000 {
			return // the kernel refuses test runs outside these sizes
		}
		ns.join(t)
		out, verdict := runProgram(t, p, ns.ifindex, frame)
		switch verdict {
		case xdpPass:
			if !bytes.Equal(out, frame) {
				t.Fatalf("passed a changed frame:\n in %x\nout %x", frame, out)
			}
		case xdpTX:
			if checksumProblem(frame) == "" {
				if problem := checksumProblem(out); problem != "" {
					t.Fatalf("relayed a frame with correct checksums into one with %s:\n in %x\nout %x", problem, frame, out)
				}
			}
		default:
			t.Fatalf("verdict %d for %x", verdict, frame)
		}
	})
}
