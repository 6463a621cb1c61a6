// Package netnslab builds the four-namespace world the XDP fast path is
// tested and measured in: a client and a peer that reach the relay only
// through a router, over veth pairs, so every datagram arrives at the
// relay's interface as it would from a network (docs/xdp.md). The xdp
// package's end-to-end test and turnstile-bench's netns profile both use
// it. It runs ip(8) and needs root; it exists only on Linux.
package netnslab
