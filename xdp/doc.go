// Package xdp is turnstile's in-kernel ChannelData fast path: an XDP
// program (bpf/relay.c, compiled with bpf2go into relay_bpfel.o, which is
// committed so a build needs no clang) that relays ChannelData between
// clients and peers whose channel bindings userspace installed, and passes
// every other frame to the kernel's stack and the userspace relay.
// docs/xdp.md describes the design, its limits and how to run it.
//
// It is a shell: it loads programs, attaches them to interfaces and writes
// maps. Regenerate the object with `make xdp-gen`; `make xdp-check` proves
// the committed one is what the source gives.
package xdp
