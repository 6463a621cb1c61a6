package main

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// gatewayResourcesV2 adds a second resource to gatewayResourcesV1.
const gatewayResourcesV2 = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}]},
  {"name": "lab", "domain": "lab.test.internal", "users": ["alice"]}
]}`

// gatewayResourcesBroken is gatewayResourcesV2 with a third resource whose
// port range is invalid: the whole file must be rejected, the valid part
// included.
const gatewayResourcesBroken = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"]},
  {"name": "lab", "domain": "lab.test.internal", "users": ["alice"]},
  {"name": "broken", "domain": "broken.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "70000"}]}
]}`

// recordingDNS is a DNS server on loopback that answers every A query
// with 192.0.2.10 and every other query with no records, and records the
// names it was asked for.
type recordingDNS struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	names []string
}

func newRecordingDNS(t *testing.T) *recordingDNS {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d := &recordingDNS{addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
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
			d.mu.Lock()
			d.names = append(d.names, q.Name.String())
			d.mu.Unlock()
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: m.Header.ID, Response: true}, Questions: m.Questions}
			if q.Type == dnsmessage.TypeA {
				resp.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30},
					Body:   &dnsmessage.AResource{A: [4]byte{192, 0, 2, 10}},
				}}
			}
			if out, err := resp.Pack(); err == nil {
				conn.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	return d
}

func (d *recordingDNS) asked(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.names, name)
}

// sentinel is the default IPv4 DNS sentinel (TURNSTILE_GATEWAY_DNS).
var sentinel = netip.MustParseAddrPort("100.100.111.1:53")

// askGateway sends an A query for name to the sentinel through c and
// returns the answer's RCODE and number of records.
func askGateway(t *testing.T, c *turnclient.Client, id uint16, name string) (dnsmessage.RCode, int) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	query, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendIndication(sentinel, query, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 2048)
	ev, err := c.Receive(ctx, buf)
	if err != nil {
		t.Fatalf("query for %s: %v", name, err)
	}
	var m dnsmessage.Message
	if ev.Kind != turnclient.EventData || ev.Data.Peer != sentinel || m.Unpack(ev.Data.Payload) != nil || m.Header.ID != id {
		t.Fatalf("query for %s: got %v %+v, want the answer from the sentinel", name, ev.Kind, ev.Data)
	}
	return m.Header.RCode, len(m.Answers)
}

// TestGatewayReloadOnSIGHUP runs the daemon with a gateway: a client gets
// proxy IPs for its resource through the sentinel, resolved with the
// configured TURNSTILE_GATEWAY_RESOLVER; a valid resources file reloaded on
// SIGHUP takes effect (a new resource answers); an invalid one is rejected
// whole with a log line naming the problem, and the previous resources
// stay; the verdicts are exported as metrics.
func TestGatewayReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeFile(t, dir, "resources.json", gatewayResourcesV1)
	dns := newRecordingDNS(t)
	p := startDaemon(t, map[string]string{
		"TURNSTILE_AUTH_SECRETS":           testSecret,
		"TURNSTILE_GATEWAY_RESOURCES_FILE": file,
		"TURNSTILE_GATEWAY_RESOLVER":       dns.addr.String(),
	})
	if l := p.waitLog(t, "gateway enabled", 5*time.Second); l["resources"] != 1.0 || l["resolver"] != dns.addr.String() {
		t.Fatalf("start line %v, want 1 resource and resolver %v", l, dns.addr)
	}

	user, pass := auth.MintREST([]byte(testSecret), "alice", time.Hour, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := turnclient.Dial(ctx, turnclient.Config{Server: p.udp, Username: user, Password: pass, RTO: 100 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel.Addr()); err != nil {
		t.Fatalf("CreatePermission for the sentinel: %v", err)
	}
	expect := func(id uint16, name string, rcode dnsmessage.RCode, records int) {
		t.Helper()
		if gotCode, got := askGateway(t, c, id, name); gotCode != rcode || got != records {
			t.Fatalf("%s: rcode %v with %d records, want %v with %d", name, gotCode, got, rcode, records)
		}
	}
	expect(1, "sip.test.internal.", dnsmessage.RCodeSuccess, 4)
	if !dns.asked("sip.test.internal.") {
		t.Fatal("the configured resolver was not asked for sip.test.internal")
	}
	expect(2, "lab.test.internal.", dnsmessage.RCodeRefused, 0)

	writeFile(t, dir, "resources.json", gatewayResourcesV2)
	p.signal(t, syscall.SIGHUP)
	if l := p.waitLog(t, "gateway resources reloaded", 5*time.Second); l["resources"] != 2.0 {
		t.Fatalf("reload line %v, want 2 resources", l)
	}
	expect(3, "lab.test.internal.", dnsmessage.RCodeSuccess, 4)

	writeFile(t, dir, "resources.json", gatewayResourcesBroken)
	p.signal(t, syscall.SIGHUP)
	l := p.waitLog(t, "gateway resources file rejected; keeping the previous resources", 5*time.Second)
	if msg, _ := l["error"].(string); !strings.Contains(msg, `resources[2] ("broken")`) || !strings.Contains(msg, "filters[0]: ports") || l["severity"] != "ERROR" {
		t.Fatalf("rejection line %v, want an ERROR naming resources[2] and its ports", l)
	}
	expect(4, "lab.test.internal.", dnsmessage.RCodeSuccess, 4)
	expect(5, "broken.test.internal.", dnsmessage.RCodeRefused, 0)

	fams := p.scrape(t)
	if n := sample(t, fams, "turnstile_gateway_verdicts_total", "action=answer,reason=dns_answered"); n < 3 {
		t.Fatalf("%v answered queries counted, want at least 3", n)
	}
	if n := sample(t, fams, "turnstile_gateway_verdicts_total", "action=answer,reason=dns_refused"); n < 2 {
		t.Fatalf("%v refused queries counted, want at least 2", n)
	}
}
