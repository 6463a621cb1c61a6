package loadtest

import (
	"context"
	"fmt"
	"net/netip"
)

// maxEchoDatagram is the largest datagram a stand-alone echo peer answers
// whole: it does not know the load's payload size.
const maxEchoDatagram = 65535

// ServeEcho runs n echo peers on ip, and nothing else, until ctx ends:
// the peers of a load whose clients run in another process or network
// namespace (Config.Peers). ready receives their addresses once they
// listen. It returns how many datagrams they echoed, the datagrams that
// reached the peers.
func ServeEcho(ctx context.Context, ip netip.Addr, n int, ready func([]netip.AddrPort)) (uint64, error) {
	if !ip.IsValid() || n < 1 || n > 256 {
		return 0, fmt.Errorf("loadtest: echo peers need an address and 1 to 256 sockets (got %v, %d)", ip, n)
	}
	p, err := startEchoPool(ip, n, maxEchoDatagram, false)
	if err != nil {
		return 0, fmt.Errorf("loadtest: %w", err)
	}
	ready(append([]netip.AddrPort(nil), p.addrs...))
	<-ctx.Done()
	p.close()
	return p.total(), nil
}

// externalPeers stands for echo peers another process runs
// (Config.Peers): the load only addresses them, and their echoes are
// counted where they run.
func externalPeers(addrs []netip.AddrPort) *echoPool {
	return &echoPool{addrs: append([]netip.AddrPort(nil), addrs...)}
}
