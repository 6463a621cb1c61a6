package xdp

import (
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkProgram runs the program in the kernel (BPF_PROG_TEST_RUN) on
// one frame at a time, with the binding installed and its FIB answer
// cached after the first frame, as in a steady flow. ns/frame is the time
// spent in the program, from the kernel's BPF run-time statistics; ns/op
// adds the system call around it.
func BenchmarkProgram(b *testing.B) {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		if inCI() {
			b.Fatalf("enabling BPF run-time statistics under CI: %v", err)
		}
		b.Skipf("cannot enable BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	ns := enterTableNamespace(b)
	p := requireBPF(b, ProgramConfig{ListenPorts: []uint16{3478}, ChannelMax: 0x4FFF, MaxBindings: 64})
	for _, bd := range []binding{bind4, bind6} {
		e := newEntry(bd.client, bd.server, bd.channel, bd.peer, bd.relayed, bd.expiresNs)
		if err := p.put(&e); err != nil {
			b.Fatal(err)
		}
	}
	// 160 bytes: an audio frame's size in the realistic load.
	payload := make([]byte, 160)
	for _, c := range []struct {
		name    string
		frame   []byte
		verdict uint32
	}{
		{"v4-to-peer", in(client4, listener4, 64, channelData(0x4001, payload)).build(), xdpTX},
		{"v4-to-client", in(peer4, relayed4, 64, payload).build(), xdpTX},
		{"v6-to-peer", in(client6, listener6, 64, channelData(0x4002, payload)).build(), xdpTX},
		{"v6-to-client", in(peer6, relayed6, 64, payload).build(), xdpTX},
		{"miss", in(peer4, hairpin4, 64, payload).build(), xdpPass},
	} {
		b.Run(c.name, func(b *testing.B) {
			ns.join(b)
			out := make([]byte, len(c.frame)+64)
			opts := ebpf.RunOptions{
				Data: c.frame, DataOut: out,
				Context: xdpMD{DataEnd: uint32(len(c.frame)), IngressIfindex: uint32(ns.ifindex)},
			}
			prog := p.objs.TurnstileRelay
			// The first frame fills the FIB cache.
			if verdict, err := prog.Run(&opts); err != nil || verdict != c.verdict {
				b.Fatalf("verdict %d, %v; want %d", verdict, err, c.verdict)
			}
			before, err := prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := prog.Run(&opts); err != nil {
					b.Fatal(err)
				}
			}
			after, err := prog.Stats()
			if err != nil {
				b.Fatal(err)
			}
			if runs := after.RunCount - before.RunCount; runs > 0 {
				b.ReportMetric(float64((after.Runtime-before.Runtime).Nanoseconds())/float64(runs), "ns/frame")
			}
		})
	}
}
