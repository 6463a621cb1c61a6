package gateway

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzQuery feeds arbitrary datagrams to the DNS sentinel. It asserts: no
// panic; malformed input gets no answer; every answer parses, is a response
// to the query's ID and echoes its single question; answers after
// resolution carry exactly ProxiesPerFamily records of the asked type with
// TTL AnswerTTL; state never exceeds Config.MaxDomains domains.
// Seeds: testdata/fuzz/FuzzQuery.
func FuzzQuery(f *testing.F) {
	gw := newTestGateway(f, exampleResources, func(c *Config) { c.MaxDomains = 4 })
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := gw.NewSession("alice")
		for round := range 3 { // repeat: later rounds hit existing domains
			v, q, ans := s.Query(msg, at(float64(round)), make([]byte, 0, 512))
			switch v.Action {
			case ActionDrop:
				if ans != nil {
					t.Fatalf("drop with an answer")
				}
				return
			case ActionAnswer:
				checkAnswer(t, msg, ans, -1)
			case ActionResolve:
				if q.Domain() == "" {
					t.Fatal("resolve without a domain")
				}
				v, ans = s.Resolved(q, addrs("192.0.2.1", "::ffff:192.0.2.2", "127.0.0.1"), addrs("2001:db8::1", "fe80::1"), nil)
				if v.Action != ActionAnswer || v.Reason != ReasonDNSAnswered {
					t.Fatalf("Resolved: %v", v)
				}
				checkAnswer(t, msg, ans, ProxiesPerFamily)
			default:
				t.Fatalf("unexpected %v", v)
			}
			if len(s.domains) > gw.cfg.MaxDomains {
				t.Fatalf("%d domains", len(s.domains))
			}
		}
	})
}

// checkAnswer checks an answer to query; records < 0: any number.
func checkAnswer(t *testing.T, query, ans []byte, records int) {
	t.Helper()
	var qm, am dnsmessage.Message
	if err := qm.Unpack(query); err != nil {
		// dnsmessage.Message.Unpack is stricter about record bodies than
		// the Parser the sentinel uses; the header and question suffice.
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			t.Fatalf("answered a query without a header: %v", err)
		}
		q, err := p.Question()
		if err != nil {
			t.Fatalf("answered a query without a question: %v", err)
		}
		qm.Header, qm.Questions = h, []dnsmessage.Question{q}
	}
	if err := am.Unpack(ans); err != nil {
		t.Fatalf("answer does not parse: %v (%x)", err, ans)
	}
	if !am.Response || am.ID != qm.ID || len(am.Questions) != 1 || am.Questions[0] != qm.Questions[0] {
		t.Fatalf("answer %+v does not match query %+v", am.Header, qm.Header)
	}
	if records < 0 {
		return
	}
	if len(am.Answers) != records {
		t.Fatalf("%d records, want %d", len(am.Answers), records)
	}
	for _, r := range am.Answers {
		if r.Header.Type != qm.Questions[0].Type || r.Header.TTL != AnswerTTL {
			t.Fatalf("record %v", r.Header)
		}
	}
}

// FuzzParseResources feeds arbitrary files to the resources parser. It
// asserts: no panic; errors are *ResourceError; a valid file survives a
// round trip through its own encoding unchanged; Reload agrees with
// ParseResources except for the checks against the configuration.
// Seeds: testdata/fuzz/FuzzParseResources.
func FuzzParseResources(f *testing.F) {
	gw := newTestGateway(f, `{"resources": []}`, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseResources(data)
		var rerr *ResourceError
		if err != nil {
			if !errors.As(err, &rerr) {
				t.Fatalf("error %T is not a *ResourceError: %v", err, err)
			}
			if gw.Reload(data) == nil {
				t.Fatal("Reload accepted a file ParseResources rejects")
			}
			return
		}
		again, err := ParseResources(encodeResources(t, list))
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if !reflect.DeepEqual(list, again) {
			t.Fatalf("round trip changed the resources:\n%+v\n%+v", list, again)
		}
		if err := gw.Reload(data); err != nil && !errors.As(err, &rerr) {
			t.Fatalf("Reload error %T: %v", err, err)
		}
	})
}

// encodeResources writes resources back in the file format.
func encodeResources(t *testing.T, list []Resource) []byte {
	t.Helper()
	type filter struct {
		Protocol string `json:"protocol"`
		Ports    string `json:"ports,omitempty"`
	}
	type resource struct {
		Name    string   `json:"name"`
		Domain  string   `json:"domain,omitempty"`
		CIDR    string   `json:"cidr,omitempty"`
		Users   []string `json:"users"`
		Filters []filter `json:"filters,omitempty"`
	}
	out := struct {
		Resources []resource `json:"resources"`
	}{Resources: []resource{}}
	for _, r := range list {
		e := resource{Name: r.Name, Domain: r.Domain, Users: r.Users}
		if r.CIDR.IsValid() {
			e.CIDR = r.CIDR.String()
		}
		for _, pr := range r.Filters.UDP {
			e.Filters = append(e.Filters, filter{"udp", pr.String()})
		}
		for _, pr := range r.Filters.TCP {
			e.Filters = append(e.Filters, filter{"tcp", pr.String()})
		}
		if r.Filters.ICMP {
			e.Filters = append(e.Filters, filter{Protocol: "icmp"})
		}
		out.Resources = append(out.Resources, e)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
