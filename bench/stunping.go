package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v2"
)

// stunPing sends one STUN Binding request (RFC 8489 §3) over UDP to addr and
// waits for the matching success response, up to 200 ms or ctx's deadline.
// All three servers answer Binding without authentication, so it tells when
// a server has bound its listener and is serving.
func stunPing(ctx context.Context, addr netip.AddrPort) error {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return err
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(200 * time.Millisecond)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := conn.Write(req.Raw); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		if !stun.IsMessage(buf[:n]) {
			continue
		}
		resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := resp.Decode(); err != nil {
			continue
		}
		if resp.TransactionID != req.TransactionID {
			continue
		}
		if resp.Type != stun.BindingSuccess {
			return fmt.Errorf("binding answered with %v", resp.Type)
		}
		return nil
	}
}

// errNoFreePort is returned when freeUDPPort cannot find a port.
var errNoFreePort = errors.New("no free UDP port on 127.0.0.1")

// freeUDPPort asks the kernel for a free UDP port on 127.0.0.1 outside
// [avoidMin, avoidMax] (the relayed-port ranges), by binding port 0 and
// closing the socket. Another process may take the port before the server
// binds it; the server then fails to start and the caller reports it.
func freeUDPPort(avoidMin, avoidMax uint16) (uint16, error) {
	for range 20 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
		if port < avoidMin || port > avoidMax {
			return port, nil
		}
	}
	return 0, errNoFreePort
}
