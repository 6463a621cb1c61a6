package xdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// Mode is how the program is attached (TURNSTILE_XDP).
type Mode string

const (
	// ModeOff: no program; the userspace relay does everything.
	ModeOff Mode = "off"
	// ModeNative attaches in the driver and fails the start when it cannot.
	ModeNative Mode = "native"
	// ModeGeneric attaches after the kernel built an skb (any driver,
	// slower) and fails the start when it cannot.
	ModeGeneric Mode = "generic"
	// ModeAuto attaches natively where every interface allows it, else
	// runs without the program after one warning.
	ModeAuto Mode = "auto"
)

// Config is what Start needs.
type Config struct {
	Mode Mode
	// Addrs are the relay's addresses (relayed and UDP listener
	// addresses); the program is attached to every interface holding one.
	Addrs   []netip.Addr
	Program ProgramConfig
	Log     *slog.Logger
}

// Offload is the fast path as a relay.Observer: it installs a channel
// binding in the program's maps when the relay says it is usable and
// removes it when it is not. One goroutine owns every map write (two
// writers could interleave the two maps of a binding); the observer's
// calls hand it their change and wait until it is done: BindingUsable
// installs before the ChannelBind success leaves, BindingUnusable removes
// before the relay moves on.
type Offload struct {
	prog  *Program
	links []link.Link
	log   *slog.Logger

	ops  chan op
	done chan struct{}

	notOffloaded [numNotOffloaded]atomic.Uint64

	closeOnce sync.Once
}

var _ relay.Observer = (*Offload)(nil)

// NotOffloaded is why a usable binding stayed on the userspace path.
type NotOffloaded int

const (
	// NotOffloadedFull: a map was at max_entries (no eviction).
	NotOffloadedFull NotOffloaded = iota
	// NotOffloadedTransport: the client is on TCP or TLS.
	NotOffloadedTransport
	// NotOffloadedFamily: client and peer of different families.
	NotOffloadedFamily
	// NotOffloadedError: the kernel refused the map write otherwise.
	NotOffloadedError
	numNotOffloaded
)

// String is the reason's metric label.
func (n NotOffloaded) String() string {
	return [...]string{"map_full", "transport", "cross_family", "map_error"}[n]
}

type opKind uint8

const (
	opPut opKind = iota
	opRemove
	opStop
)

type op struct {
	kind opKind
	key  relayChannelKey // identifies the binding among the installed ones
	e    entry
	done chan error // opPut, opRemove: the result; nil for opStop
}

// Start loads the program, attaches it as c.Mode says and starts the map
// writer. In ModeAuto a failure to attach natively returns (nil, nil)
// after logging one warning: the relay runs without it. ModeOff returns
// (nil, nil) at once.
func Start(c Config) (*Offload, error) {
	if c.Mode == ModeOff || c.Mode == "" {
		return nil, nil
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	o, err := start(c)
	if err != nil && c.Mode == ModeAuto {
		c.Log.Warn("XDP fast path unavailable, relaying in userspace only", "error", err.Error())
		return nil, nil
	}
	return o, err
}

func start(c Config) (*Offload, error) {
	var flags link.XDPAttachFlags
	switch c.Mode {
	case ModeNative, ModeAuto:
		flags = link.XDPDriverMode
	case ModeGeneric:
		flags = link.XDPGenericMode
	default:
		return nil, fmt.Errorf("xdp: unknown mode %q", c.Mode)
	}
	ifaces, err := interfacesHolding(c.Addrs)
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("xdp: raising RLIMIT_MEMLOCK: %w", err)
	}
	prog, err := LoadProgram(c.Program)
	if err != nil {
		return nil, err
	}
	o := newOffload(prog, c.Log)
	for _, ifc := range ifaces {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog.objs.TurnstileRelay, Interface: ifc.Index, Flags: flags})
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("xdp: attaching in %s mode to %s: %w", c.Mode, ifc.Name, err)
		}
		o.links = append(o.links, l)
		o.warnForwarding(ifc.Name)
	}
	names := make([]string, len(ifaces))
	for i, ifc := range ifaces {
		names[i] = ifc.Name
	}
	c.Log.Info("XDP fast path attached", "mode", string(c.Mode), "interfaces", fmt.Sprint(names))
	return o, nil
}

// newOffload starts the map writer of a loaded program.
func newOffload(prog *Program, log *slog.Logger) *Offload {
	o := &Offload{prog: prog, log: log, ops: make(chan op, 256), done: make(chan struct{})}
	go o.write()
	return o
}

// interfacesHolding returns the interfaces that hold any of addrs (each
// once); an address held by none is an error, as is the unspecified
// address (it names no interface).
func interfacesHolding(addrs []netip.Addr) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("xdp: listing interfaces: %w", err)
	}
	var out []net.Interface
	for _, want := range addrs {
		want = want.Unmap()
		if want.IsUnspecified() {
			return nil, fmt.Errorf("xdp: %v names no interface; set the relay and listener addresses explicitly", want)
		}
		found := false
		for _, ifc := range all {
			as, err := ifc.Addrs()
			if err != nil {
				return nil, fmt.Errorf("xdp: addresses of %s: %w", ifc.Name, err)
			}
			for _, a := range as {
				p, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				if ip, ok := netip.AddrFromSlice(p.IP); ok && ip.Unmap() == want {
					found = true
					if !slices.ContainsFunc(out, func(i net.Interface) bool { return i.Index == ifc.Index }) {
						out = append(out, ifc)
					}
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("xdp: no interface holds %v", want)
		}
	}
	return out, nil
}

// warnForwarding says once per interface when the kernel will not answer
// the program's FIB lookups there (docs/xdp.md): the relay works, every
// frame is passed. turnstile never changes the sysctl itself.
func (o *Offload) warnForwarding(ifname string) {
	for _, fam := range []string{"ipv4", "ipv6"} {
		b, err := os.ReadFile("/proc/sys/net/" + fam + "/conf/" + ifname + "/forwarding")
		if err == nil && len(b) > 0 && b[0] == '0' {
			o.log.Warn("XDP fast path: forwarding is off on the interface, so the kernel answers no FIB lookup and every packet takes the userspace path (docs/xdp.md)",
				"interface", ifname, "sysctl", "net."+fam+".conf."+ifname+".forwarding")
		}
	}
}

// write is the one goroutine that writes the maps.
func (o *Offload) write() {
	defer close(o.done)
	installed := make(map[relayChannelKey]entry)
	for op := range o.ops {
		switch op.kind {
		case opPut:
			err := o.prog.put(&op.e)
			if err == nil {
				installed[op.key] = op.e
			} else if old, ok := installed[op.key]; ok {
				// A refresh that failed leaves nothing behind: put
				// removed both halves, and the binding is not offloaded.
				_ = o.prog.remove(&old)
				delete(installed, op.key)
			}
			op.done <- err
		case opRemove:
			if e, ok := installed[op.key]; ok {
				if err := o.prog.remove(&e); err != nil {
					o.log.Error("XDP fast path: removing a binding", "error", err.Error())
				}
				delete(installed, op.key)
			}
			op.done <- nil
		case opStop:
			for _, e := range installed {
				_ = o.prog.remove(&e)
			}
			return
		}
	}
}

// BindingUsable installs or refreshes b (relay.Observer). It returns once
// the maps hold it, or it was not offloaded.
func (o *Offload) BindingUsable(b relay.Binding, now mono.Time) {
	if b.Client.Transport != allocation.TransportUDP {
		o.notOffloaded[NotOffloadedTransport].Add(1)
		return
	}
	if !b.Relayed.IsValid() || b.Client.Client.Addr().Unmap().Is4() != b.Peer.Addr().Unmap().Is4() {
		o.notOffloaded[NotOffloadedFamily].Add(1)
		return
	}
	left := b.Expires.Sub(now)
	if left <= 0 {
		return
	}
	// The kernel's clock is CLOCK_MONOTONIC; the relay's (possibly a
	// test's fake) only gives the time left.
	e := bindingEntry(b, monotonicNow()+uint64(left))
	done := make(chan error, 1)
	o.ops <- op{kind: opPut, key: e.chanKey, e: e, done: done}
	switch err := <-done; {
	case err == nil:
	case errors.Is(err, ErrFull):
		o.notOffloaded[NotOffloadedFull].Add(1)
	default:
		o.notOffloaded[NotOffloadedError].Add(1)
		o.log.Error("XDP fast path: installing a binding", "error", err.Error())
	}
}

// BindingUnusable removes b (relay.Observer) and returns once it is gone,
// so data stops the moment the relay says so, not only at the kernel's
// copy of the deadline.
func (o *Offload) BindingUnusable(b relay.Binding, why relay.Unusable, now mono.Time) {
	if b.Client.Transport != allocation.TransportUDP {
		return
	}
	e := bindingEntry(b, 0)
	done := make(chan error, 1)
	o.ops <- op{kind: opRemove, key: e.chanKey, done: done}
	<-done
}

func bindingEntry(b relay.Binding, expiresNs uint64) entry {
	return newEntry(b.Client.Client, b.Client.Server, b.Channel, b.Peer, b.Relayed, expiresNs)
}

// Relayed reports the program's relayed packets and payload bytes
// (relay.Observer); only UDP clients are offloaded.
func (o *Offload) Relayed(dir relay.Direction, t allocation.Transport) (packets, bytes uint64) {
	if t != allocation.TransportUDP {
		return 0, 0
	}
	c, err := o.prog.Counters()
	if err != nil {
		return 0, 0
	}
	if dir == relay.ToPeer {
		return c.ToPeerPackets, c.ToPeerBytes
	}
	return c.ToClientPackets, c.ToClientBytes
}

// AddCounts reports the program's pass reasons as "passed" and the bindings
// left in userspace as "not_offloaded" (relay.Observer), non-zero only.
func (o *Offload) AddCounts(out map[string]map[string]uint64) {
	passed := make(map[string]uint64)
	if c, err := o.prog.Counters(); err == nil {
		for r, n := range c.Passed {
			if n > 0 {
				passed[PassReason(r).String()] = n
			}
		}
	}
	out["passed"] = passed
	notOffloaded := make(map[string]uint64)
	for i := range o.notOffloaded {
		if n := o.notOffloaded[i].Load(); n > 0 {
			notOffloaded[NotOffloaded(i).String()] = n
		}
	}
	out["not_offloaded"] = notOffloaded
}

// Counters are the program's counters (for metrics).
func (o *Offload) Counters() (Counters, error) { return o.prog.Counters() }

// NotOffloadedCounts are the usable bindings that stayed in userspace, by
// reason.
func (o *Offload) NotOffloadedCounts() map[string]uint64 {
	out := make(map[string]uint64, numNotOffloaded)
	for i := range o.notOffloaded {
		out[NotOffloaded(i).String()] = o.notOffloaded[i].Load()
	}
	return out
}

// Close removes every installed binding, detaches the program and unloads
// it. Call it after the relay closed (it must not be told anything more).
func (o *Offload) Close() error {
	var err error
	o.closeOnce.Do(func() {
		o.ops <- op{kind: opStop}
		<-o.done
		o.closeLinks()
		err = o.prog.Close()
	})
	return err
}

func (o *Offload) closeLinks() {
	for _, l := range o.links {
		_ = l.Close()
	}
	o.links = nil
}
