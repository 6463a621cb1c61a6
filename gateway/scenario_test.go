package gateway

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/scripttest"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Gateway flows as data (testdata/scenarios/*.txt). A script is a list of
// blocks:
//
//	command args
//	optional input lines
//	----
//	expected output lines
//	(blank line)
//
// Commands:
//
//	config key=value...   new gateway (max-flows, max-domains, max-tombstones,
//	                      icmp-rate, icmp-burst, tombstone-lifetime)
//	resources             reload with the JSON input; prints ok or the error
//	session USER          a new allocation for USER (the current one)
//	tick DURATION         advance the clock (Go duration) and call Expire
//	dns NAME TYPE [v4=A,B] [v6=C]   query the sentinel, resolve with those
//	                      results, print the verdicts and the answer
//	send ADDR:PORT        Outbound
//	recv ADDR:PORT        Inbound
//	icmp ADDR:PORT T/C [MTU]   InboundICMP
//	permit ADDR           Permit
//	flows                 the session's live flows and tombstones
//
// Proxy IPs are written NAME#4.i / NAME#6.i (proxy i of that family of a
// domain the session resolved), in input and output, so scripts do not
// depend on where the hash puts a domain. Run
//
//	go test ./gateway -run TestScenarios -rewrite
//
// to regenerate the expected outputs, and review the diff.
func TestScenarios(t *testing.T) {
	scripttest.Run(t, "testdata/scenarios/*.txt", "go test ./gateway -run TestScenarios -rewrite", runScript)
}

// scenario is the state a script drives.
type scenario struct {
	t   *testing.T
	cfg Config
	gw  *Gateway
	s   *Session
	now mono.Time
}

// runScript executes every block and returns the script with the outputs
// replaced by what the run produced.
func runScript(t *testing.T, script string) string {
	sc := &scenario{t: t, cfg: DefaultConfig()}
	sc.newGateway()
	var out strings.Builder
	lines := strings.Split(strings.TrimRight(script, "\n"), "\n")
	for i := 0; i < len(lines); {
		if line := strings.TrimSpace(lines[i]); line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(lines[i] + "\n")
			i++
			continue
		}
		start := i
		for i < len(lines) && lines[i] != "----" {
			i++
		}
		if i == len(lines) {
			t.Fatalf("line %d: block without ----", start+1)
		}
		block := lines[start:i]
		for i++; i < len(lines) && lines[i] != ""; i++ { // skip the old output
		}
		result := sc.run(start+1, block[0], strings.Join(block[1:], "\n"))
		out.WriteString(strings.Join(block, "\n") + "\n----\n")
		if result != "" {
			out.WriteString(result + "\n")
		}
		out.WriteString("\n")
		for i < len(lines) && lines[i] == "" {
			i++
		}
	}
	return strings.TrimRight(out.String(), "\n") + "\n"
}

func (sc *scenario) newGateway() {
	gw, err := New(sc.cfg)
	if err != nil {
		sc.t.Fatalf("config: %v", err)
	}
	sc.gw, sc.s = gw, gw.NewSession("")
}

func (sc *scenario) run(line int, cmd, input string) string {
	fail := func(format string, args ...any) {
		sc.t.Helper()
		sc.t.Fatalf("line %d: %s: %s", line, cmd, fmt.Sprintf(format, args...))
	}
	f := strings.Fields(cmd)
	arg := func(i int) string {
		if i >= len(f) {
			fail("missing argument %d", i)
		}
		return f[i]
	}
	switch f[0] {
	case "config":
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			d, derr := time.ParseDuration(v)
			switch {
			case k == "tombstone-lifetime" && derr == nil:
				sc.cfg.TombstoneLifetime = d
			case err != nil:
				fail("%s: %v", kv, err)
			case k == "max-flows":
				sc.cfg.MaxFlows = n
			case k == "max-domains":
				sc.cfg.MaxDomains = n
			case k == "max-tombstones":
				sc.cfg.MaxTombstones = n
			case k == "icmp-rate":
				sc.cfg.ICMPRate = n
			case k == "icmp-burst":
				sc.cfg.ICMPBurst = n
			default:
				fail("unknown setting %s", k)
			}
		}
		sc.newGateway()
		return ""
	case "resources":
		if err := sc.gw.Reload([]byte(input)); err != nil {
			return err.Error()
		}
		return "ok"
	case "session":
		sc.s = sc.gw.NewSession(arg(1))
		return ""
	case "tick":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			fail("%v", err)
		}
		sc.now = sc.now.Add(d)
		sc.s.Expire(sc.now)
		return "now " + time.Duration(sc.now).String()
	case "dns":
		return sc.dns(arg(1), arg(2), f[3:], fail)
	case "send":
		return sc.verdict(sc.s.Outbound(sc.addrPort(arg(1), fail), sc.now))
	case "recv":
		return sc.verdict(sc.s.Inbound(sc.addrPort(arg(1), fail), sc.now))
	case "icmp":
		var icmp ICMP
		if _, err := fmt.Sscanf(arg(2), "%d/%d", &icmp.Type, &icmp.Code); err != nil {
			fail("%v", err)
		}
		if len(f) > 3 {
			mtu, err := strconv.ParseUint(f[3], 10, 32)
			if err != nil {
				fail("%v", err)
			}
			icmp.Data = uint32(mtu)
		}
		return sc.verdict(sc.s.InboundICMP(sc.addrPort(arg(1), fail), icmp, sc.now))
	case "permit":
		return sc.verdict(sc.s.Permit(sc.addrPort(arg(1)+":0", fail).Addr()))
	case "flows":
		return sc.flows()
	}
	fail("unknown command")
	return ""
}

func (sc *scenario) dns(name, typ string, results []string, fail func(string, ...any)) string {
	qtype := map[string]dnsmessage.Type{"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "TXT": dnsmessage.TypeTXT}[typ]
	if qtype == 0 {
		fail("type %s", typ)
	}
	var v4, v6 []netip.Addr
	for _, r := range results {
		k, list, _ := strings.Cut(r, "=")
		for a := range strings.SplitSeq(list, ",") {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				fail("%v", err)
			}
			if k == "v4" {
				v4 = append(v4, addr)
			} else {
				v6 = append(v6, addr)
			}
		}
	}
	v, q, ans := sc.s.Query(buildQuery(sc.t, 1, name, qtype), sc.now, nil)
	out := v.String()
	if v.Action == ActionResolve {
		v, ans = sc.s.Resolved(q, v4, v6, nil)
		out += "\n" + v.String()
	}
	if ans != nil {
		m, got := parseAnswer(sc.t, ans)
		out += "\n" + m.RCode.String()
		for _, a := range got {
			out += " " + sc.name(a)
		}
	}
	return out
}

// addrPort parses ADDR:PORT where ADDR may be a symbolic proxy NAME#F.I.
func (sc *scenario) addrPort(s string, fail func(string, ...any)) netip.AddrPort {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		fail("%q: no port", s)
	}
	host, port := strings.Trim(s[:i], "[]"), s[i+1:]
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		fail("%v", err)
	}
	if name, proxy, ok := strings.Cut(host, "#"); ok {
		var fam, idx int
		if _, err := fmt.Sscanf(proxy, "%d.%d", &fam, &idx); err != nil || (fam != 4 && fam != 6) || idx < 0 || idx >= ProxiesPerFamily {
			fail("%q: want NAME#4.i or NAME#6.i", host)
		}
		for _, d := range sc.s.domains {
			if d.name == name {
				return netip.AddrPortFrom(sc.gw.geo.addr(d.slot, idx, fam == 6), uint16(p))
			}
		}
		fail("%s has no proxy IPs in this session", name)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		fail("%v", err)
	}
	return netip.AddrPortFrom(a, uint16(p))
}

// name writes a proxy IP of the session symbolically, other addresses as is.
func (sc *scenario) name(a netip.Addr) string {
	if slot, i, ok := sc.gw.geo.locate(a); ok {
		for _, d := range sc.s.domains {
			if d.slot == slot {
				return fmt.Sprintf("%s#%d.%d", d.name, 4+2*familyIndex(a), i)
			}
		}
	}
	return a.String()
}

func (sc *scenario) addrPortName(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return sc.name(ap.Addr()) + ":" + strconv.Itoa(int(ap.Port()))
}

func (sc *scenario) verdict(v Verdict) string {
	s := fmt.Sprintf("%s(%s) %s", v.Action, v.Reason, sc.addrPortName(v.Addr))
	if v.ICMP != (ICMP{}) {
		s += fmt.Sprintf(" icmp %d/%d", v.ICMP.Type, v.ICMP.Code)
		if v.ICMP.Data != 0 {
			s += fmt.Sprintf(" mtu %d", v.ICMP.Data)
		}
	}
	return s
}

func (sc *scenario) flows() string {
	var lines []string
	for _, e := range sc.s.nat.entries {
		switch e.state {
		case entryLive:
			lines = append(lines, fmt.Sprintf("live %s -> %s expires %v", sc.addrPortName(e.client), e.real,
				time.Duration(e.deadline())))
		case entryTomb:
			lines = append(lines, fmt.Sprintf("tombstone %s -> %s until %v", sc.addrPortName(e.client), e.real,
				time.Duration(e.tombEnd)))
		}
	}
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "\n")
}
