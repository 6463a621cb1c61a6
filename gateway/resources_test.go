package gateway

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseResourcesExample(t *testing.T) {
	got, err := ParseResources([]byte(exampleResources))
	if err != nil {
		t.Fatal(err)
	}
	want := []Resource{
		{Name: "voip", Domain: "sip.internal", Users: []string{"alice", "bob"},
			Filters: Filters{Restricted: true, UDP: []PortRange{{5060, 5080}}, ICMP: true}},
		{Name: "media", Domain: "*.media.internal", Users: []string{"*"}},
		{Name: "lab", CIDR: netip.MustParsePrefix("10.9.0.0/24"), Users: []string{"alice"},
			Filters: Filters{Restricted: true, UDP: []PortRange{{9000, 9000}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseResourcesNormalizes(t *testing.T) {
	got, err := ParseResources([]byte(`{"resources": [
		{"name": "a", "domain": "SIP.Internal.", "users": ["*"], "filters": []},
		{"name": "b", "domain": "*.Media.internal", "users": ["x"],
		 "filters": [{"protocol": "tcp", "ports": "443"}, {"protocol": "udp"}]},
		{"name": "c", "cidr": "2001:db8::/32", "users": ["y"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Domain != "sip.internal" || got[0].Filters.Restricted {
		t.Errorf("a: %+v", got[0])
	}
	if got[1].Domain != "*.media.internal" || !reflect.DeepEqual(got[1].Filters.TCP, []PortRange{{443, 443}}) ||
		!reflect.DeepEqual(got[1].Filters.UDP, []PortRange{allPorts}) {
		t.Errorf("b: %+v", got[1])
	}
	if got[2].CIDR != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("c: %+v", got[2])
	}
}

func TestParseResourcesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		index      int
		field      string
		message    string
	}{
		{"not json", `resources`, -1, "", "invalid character"},
		{"syntax error offset", `{"resources": [}`, -1, "", "offset 16"},
		{"trailing data", `{"resources": []} x`, -1, "", "trailing data"},
		{"missing list", `{}`, -1, "", `missing "resources"`},
		{"unknown top-level field", `{"resources": [], "version": 2}`, -1, "", `unknown field "version"`},
		{"list of strings", `{"resources": ["a"]}`, 0, "", "cannot unmarshal"},
		{"missing name", `{"resources": [{"domain": "a.internal", "users": ["*"]}]}`, 0, "name", "missing or empty"},
		{"control character in name", `{"resources": [{"name": "a\u0007", "domain": "a.internal", "users": ["*"]}]}`, 0, "name", "control"},
		{"long name", `{"resources": [{"name": "` + strings.Repeat("n", 129) + `", "domain": "a.internal", "users": ["*"]}]}`, 0, "name", "longer than 128"},
		{"neither domain nor cidr", `{"resources": [{"name": "a", "users": ["*"]}]}`, 0, "", `needs "domain" or "cidr"`},
		{"both", `{"resources": [{"name": "a", "domain": "a.internal", "cidr": "10.0.0.0/8", "users": ["*"]}]}`, 0, "", "both"},
		{"empty domain", `{"resources": [{"name": "a", "domain": "", "users": ["*"]}]}`, 0, "domain", "empty name"},
		{"wildcard in the middle", `{"resources": [{"name": "a", "domain": "a.*.internal", "users": ["*"]}]}`, 0, "domain", `label "*"`},
		{"bare wildcard", `{"resources": [{"name": "a", "domain": "*", "users": ["*"]}]}`, 0, "domain", `label "*"`},
		{"empty label", `{"resources": [{"name": "a", "domain": "a..internal", "users": ["*"]}]}`, 0, "domain", "1-63"},
		{"hyphen edge", `{"resources": [{"name": "a", "domain": "-a.internal", "users": ["*"]}]}`, 0, "domain", "'-'"},
		{"space", `{"resources": [{"name": "a", "domain": "a b.internal", "users": ["*"]}]}`, 0, "domain", "not allowed"},
		{"long label", `{"resources": [{"name": "a", "domain": "` + strings.Repeat("a", 64) + `.internal", "users": ["*"]}]}`, 0, "domain", "1-63"},
		{"long domain", `{"resources": [{"name": "a", "domain": "` + strings.Repeat("abcdefgh.", 30) + `internal", "users": ["*"]}]}`, 0, "domain", "longer than 253"},
		{"address as domain", `{"resources": [{"name": "a", "domain": "10.9.0.1", "users": ["*"]}]}`, 0, "domain", "numeric"},
		{"bad cidr", `{"resources": [{"name": "a", "cidr": "10.9.0.0/33", "users": ["*"]}]}`, 0, "cidr", "prefix length out of range"},
		{"noncanonical cidr", `{"resources": [{"name": "lab", "cidr": "10.9.0.5/24", "users": ["*"]}]}`, 0, "cidr", "not canonical (10.9.0.0/24)"},
		{"mapped cidr", `{"resources": [{"name": "a", "cidr": "::ffff:10.0.0.0/104", "users": ["*"]}]}`, 0, "cidr", "IPv4-mapped"},
		{"zone", `{"resources": [{"name": "a", "cidr": "fe80::%eth0/64", "users": ["*"]}]}`, 0, "cidr", "zones"},
		{"loopback", `{"resources": [{"name": "a", "cidr": "127.0.0.0/8", "users": ["*"]}]}`, 0, "cidr", "127.0.0.0/8"},
		{"metadata", `{"resources": [{"name": "a", "cidr": "169.254.169.254/32", "users": ["*"]}]}`, 0, "cidr", "169.254.0.0/16"},
		{"everything", `{"resources": [{"name": "a", "cidr": "0.0.0.0/0", "users": ["*"]}]}`, 0, "cidr", "overlaps"},
		{"no users", `{"resources": [{"name": "a", "domain": "a.internal"}]}`, 0, "users", "at least one user"},
		{"empty user", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["alice", ""]}]}`, 0, "users[1]", "missing or empty"},
		{"unknown resource field", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filter": []}]}`, 0, "", `unknown field "filter"`},
		{"unknown filter field", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "port": "1"}]}]}`, 0, "filters[0]", `unknown field "port"`},
		{"protocol missing", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{}]}]}`, 0, "filters[0]", "protocol: missing"},
		{"protocol unknown", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "sctp"}]}]}`, 0, "filters[0]", `"sctp"`},
		{"icmp ports", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp"}, {"protocol": "icmp", "ports": "1"}]}]}`, 0, "filters[1]", "not allowed for icmp"},
		{"port zero", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "0-10"}]}]}`, 0, "filters[0]", "outside 1-65535"},
		{"port too big", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "65536"}]}]}`, 0, "filters[0]", "outside 1-65535"},
		{"port reversed", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "tcp", "ports": "90-80"}]}]}`, 0, "filters[0]", "first port above last"},
		{"port sign", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "+80"}]}]}`, 0, "filters[0]", "not a port"},
		{"port spaces", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "80 - 90"}]}]}`, 0, "filters[0]", "not a port"},
		{"port open range", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "80-"}]}]}`, 0, "filters[0]", "not a port"},
		{"ports as number", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": 80}]}]}`, 0, "filters[0]", "cannot unmarshal"},
		{"duplicate name", `{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"]}, {"name": "a", "domain": "b.internal", "users": ["*"]}]}`, 1, "name", "duplicate of resources[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResources([]byte(tc.file))
			var rerr *ResourceError
			if !errors.As(err, &rerr) {
				t.Fatalf("error %v is not a *ResourceError", err)
			}
			if rerr.Index != tc.index || rerr.Field != tc.field || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("got index %d field %q: %v\nwant index %d field %q containing %q",
					rerr.Index, rerr.Field, err, tc.index, tc.field, tc.message)
			}
		})
	}
}

func TestResourceErrorNamesTheResource(t *testing.T) {
	_, err := ParseResources([]byte(`{"resources": [{"name": "ok", "domain": "a.internal", "users": ["*"]},
		{"name": "lab", "cidr": "10.9.0.5/24", "users": ["*"]}]}`))
	const want = `resources file: resources[1] ("lab"): cidr: "10.9.0.5/24" is not canonical (10.9.0.0/24)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestReloadKeepsPreviousSnapshotOnError(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	before := gw.Snapshot()
	for name, file := range map[string]string{
		"syntax":            `{"resources": [`,
		"cidr in proxy":     `{"resources": [{"name": "x", "cidr": "100.64.0.0/10", "users": ["*"]}]}`,
		"cidr in v6 proxy":  `{"resources": [{"name": "x", "cidr": "fd00:2021:1111::/48", "users": ["*"]}]}`,
		"contains sentinel": `{"resources": [{"name": "x", "cidr": "fd00:2021:1111:8000:100::/80", "users": ["*"]}]}`,
	} {
		err := gw.Reload([]byte(file))
		var rerr *ResourceError
		if !errors.As(err, &rerr) {
			t.Errorf("%s: %v", name, err)
		}
		if gw.Snapshot() != before {
			t.Errorf("%s: snapshot replaced by an invalid file", name)
		}
	}
	if got := gw.Snapshot().Len(); got != 3 {
		t.Errorf("snapshot has %d resources", got)
	}
	if got := gw.Snapshot().Resources(); got[2].Name != "lab" {
		t.Errorf("Resources() = %+v", got)
	}
}

func TestSnapshotMatching(t *testing.T) {
	gw := newTestGateway(t, `{"resources": [
		{"name": "exact", "domain": "sip.internal", "users": ["alice"], "filters": [{"protocol": "udp", "ports": "5060"}]},
		{"name": "again", "domain": "sip.internal", "users": ["bob"], "filters": [{"protocol": "udp", "ports": "5070"}]},
		{"name": "wild", "domain": "*.internal", "users": ["carol"]},
		{"name": "deep", "domain": "*.b.internal", "users": ["dave"], "filters": [{"protocol": "tcp", "ports": "1-65535"}]},
		{"name": "net", "cidr": "192.0.2.0/24", "users": ["alice"], "filters": [{"protocol": "udp", "ports": "9000"}]}]}`, nil)
	s := gw.Snapshot()
	for _, tc := range []struct {
		name, user string
		access     bool
	}{
		{"sip.internal", "alice", true},
		{"sip.internal", "bob", true},
		{"sip.internal", "carol", true}, // via the wildcard
		{"sip.internal", "dave", false},
		{"a.b.internal", "dave", true},
		{"b.internal", "dave", false}, // a wildcard does not cover its apex
		{"internal", "carol", false},
		{"x.y.z.internal", "carol", true},
		{"sip.internal.com", "alice", false},
	} {
		if got := s.domainAccess(tc.name, tc.user); got != tc.access {
			t.Errorf("domainAccess(%s, %s) = %v", tc.name, tc.user, got)
		}
	}
	real := netip.MustParseAddr("192.0.2.5")
	for _, tc := range []struct {
		user    string
		real    netip.Addr
		port    uint16
		permits bool
	}{
		{"alice", netip.Addr{}, 5060, true},
		{"alice", netip.Addr{}, 5070, false}, // bob's resource
		{"bob", netip.Addr{}, 5070, true},
		{"alice", real, 9000, true}, // the CIDR covering the DNS result
		{"alice", netip.Addr{}, 9000, false},
		{"bob", real, 9000, false},
		{"carol", netip.Addr{}, 1234, true}, // unfiltered wildcard
	} {
		if got := s.permitsProxy("sip.internal", tc.real, tc.user, tc.port); got != tc.permits {
			t.Errorf("permitsProxy(sip.internal, %v, %s, %d) = %v", tc.real, tc.user, tc.port, got)
		}
	}
	if s.permitsProxy("a.b.internal", netip.Addr{}, "dave", 80) {
		t.Error("tcp ranges permitted UDP")
	}
}
