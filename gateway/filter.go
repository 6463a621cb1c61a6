package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of ports, First ≤ Last, both non-zero.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether port lies in r.
func (r PortRange) Contains(port uint16) bool { return port >= r.First && port <= r.Last }

// String returns "5060-5080", or "9000" for a one-port range.
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// allPorts is the range a filter without "ports" covers.
var allPorts = PortRange{First: 1, Last: 65535}

// parsePortRange parses "5060-5080" or "9000": decimal, no sign, no spaces,
// 1–65535, first ≤ last.
func parsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parsePort(first)
	if err != nil {
		return PortRange{}, err
	}
	b := a
	if isRange {
		if b, err = parsePort(last); err != nil {
			return PortRange{}, err
		}
	}
	if a > b {
		return PortRange{}, fmt.Errorf("%q: first port above last", s)
	}
	return PortRange{First: a, Last: b}, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%q is not a port", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a port", s)
		}
	}
	n, _ := strconv.Atoi(s) // at most 5 digits: cannot fail
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is outside 1-65535", n)
	}
	return uint16(n), nil
}

// Filters is a resource's traffic filter list (docs/gateway.md "The
// resources file").
//
// An empty list (Restricted false) permits everything. Otherwise UDP
// datagrams are permitted only on the listed UDP ranges and RFC 6062 TCP
// connections only on the listed TCP ranges; neither permits the other. ICMP is the "icmp"
// entry; ICMP errors about a flow are judged by the flow, not by this flag
// (docs/gateway.md "ICMP errors"), and a TURN UDP
// allocation carries no other ICMP, so the flag is reported, not consulted.
type Filters struct {
	Restricted bool
	UDP, TCP   []PortRange
	ICMP       bool
}

// PermitsUDP reports whether a UDP datagram on port (the destination port
// outbound, the source port inbound) is permitted.
func (f *Filters) PermitsUDP(port uint16) bool {
	if !f.Restricted {
		return true
	}
	for _, r := range f.UDP {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

// PermitsTCP reports whether a TCP connection to port (RFC 6062 Connect)
// is permitted.
func (f *Filters) PermitsTCP(port uint16) bool {
	if !f.Restricted {
		return true
	}
	for _, r := range f.TCP {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

// filterJSON is one entry of a resource's "filters" list.
type filterJSON struct {
	Protocol string  `json:"protocol"`
	Ports    *string `json:"ports"`
}

// add validates one filter entry and merges it into f. An entry for udp or
// tcp without "ports" covers every port.
func (f *Filters) add(e filterJSON) error {
	f.Restricted = true
	switch e.Protocol {
	case "icmp":
		if e.Ports != nil {
			return errors.New("ports: not allowed for icmp")
		}
		f.ICMP = true
		return nil
	case "udp", "tcp":
	case "":
		return errors.New("protocol: missing (udp, tcp or icmp)")
	default:
		return fmt.Errorf("protocol: %q is not udp, tcp or icmp", e.Protocol)
	}
	r := allPorts
	if e.Ports != nil {
		var err error
		if r, err = parsePortRange(*e.Ports); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	if e.Protocol == "udp" {
		f.UDP = append(f.UDP, r)
	} else {
		f.TCP = append(f.TCP, r)
	}
	return nil
}
