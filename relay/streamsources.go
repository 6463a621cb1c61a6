package relay

import (
	"net/netip"
	"sync"
)

// DefaultTCPMaxConnectionsPerSource is Config.TCPMaxConnectionsPerSource
// when it is zero. TURN over TCP and TLS is what clients behind restrictive
// corporate firewalls use, and a whole office shares one NAT address, so
// the default is generous: a tenth of the default TCPMaxConnections, which
// a single address cannot exhaust.
const DefaultTCPMaxConnectionsPerSource = 1000

// streamSources counts the open TCP/TLS connections of each source, so
// that one source cannot take every slot of Config.TCPMaxConnections. It
// is asked once per accepted and once per closed connection, never on the
// data path. The map holds only sources with an open connection, so it is
// bounded by TCPMaxConnections.
type streamSources struct {
	limit int
	mu    sync.Mutex
	open  map[netip.Prefix]int
}

func newStreamSources(limit int) *streamSources {
	return &streamSources{limit: limit, open: make(map[netip.Prefix]int)}
}

// sourceOf is the unit a limit applies to: an IPv4 address, or the /64 of
// an IPv6 address, since one IPv6 host usually has a whole /64 to pick
// source addresses from (RFC 4291 §2.5.1 interface identifiers, RFC 8981
// temporary addresses).
func sourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// acquire counts a new connection from a; false, with nothing counted, when
// its source already holds the limit.
func (l *streamSources) acquire(a netip.Addr) bool {
	src := sourceOf(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[src] >= l.limit {
		return false
	}
	l.open[src]++
	return true
}

// release forgets one connection from a that acquire counted.
func (l *streamSources) release(a netip.Addr) {
	src := sourceOf(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[src]; n > 1 {
		l.open[src] = n - 1
	} else {
		delete(l.open, src)
	}
}
