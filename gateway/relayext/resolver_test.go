package relayext

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNSServer answers A and AAAA queries on a loopback UDP port from
// records (name with trailing dot → addresses); other names get NXDOMAIN,
// names in silent get no answer at all. It returns the server's address.
func fakeDNSServer(t *testing.T, records map[string][]string, silent ...string) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			name := q.Name.String()
			if slices.Contains(silent, name) {
				continue
			}
			addrs, known := records[name]
			resp := dnsmessage.Message{
				Header:    dnsmessage.Header{ID: m.Header.ID, Response: true, RecursionAvailable: true, RCode: dnsmessage.RCodeNameError},
				Questions: m.Questions,
			}
			if known {
				resp.Header.RCode = dnsmessage.RCodeSuccess
			}
			for _, s := range addrs {
				a := netip.MustParseAddr(s)
				h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}
				switch {
				case a.Is4() && q.Type == dnsmessage.TypeA:
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
				case a.Is6() && q.Type == dnsmessage.TypeAAAA:
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
				}
			}
			out, err := resp.Pack()
			if err == nil {
				conn.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestDNSResolver: the resolver behind TURNSTILE_GATEWAY_RESOLVER asks the
// configured server for A and AAAA; one family without records leaves the
// other usable; a name that does not exist, or a server that does not
// answer within the context, is an error (no records).
func TestDNSResolver(t *testing.T) {
	t.Parallel()
	server := fakeDNSServer(t, map[string][]string{
		"both.test.": {"192.0.2.1", "192.0.2.2", "2001:db8::1"},
		"v4.test.":   {"192.0.2.3"},
	}, "slow.test.")
	r := NewDNSResolver(server)
	for _, tc := range []struct {
		name    string
		v4, v6  []string
		wantErr bool
	}{
		{"both.test", []string{"192.0.2.1", "192.0.2.2"}, []string{"2001:db8::1"}, false},
		{"v4.test", []string{"192.0.2.3"}, nil, false},
		{"missing.test", nil, nil, true},
		{"slow.test", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			v4, v6, err := r.Resolve(ctx, tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if !sameAddrs(v4, tc.v4) || !sameAddrs(v6, tc.v6) {
				t.Fatalf("got %v %v, want %v %v", v4, v6, tc.v4, tc.v6)
			}
		})
	}
}

// sameAddrs compares addresses with their text forms, ignoring order.
func sameAddrs(got []netip.Addr, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, a := range got {
		if !slices.Contains(want, a.String()) {
			return false
		}
	}
	return true
}
