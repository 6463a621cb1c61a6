package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"unicode"

	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// Resource is one validated entry of the resources file
// (TURNSTILE_GATEWAY_RESOURCES_FILE, docs/gateway.md "The resources file"):
//
//	{"resources": [
//	  {"name": "voip", "domain": "sip.internal", "users": ["alice", "bob"],
//	   "filters": [{"protocol": "udp", "ports": "5060-5080"}, {"protocol": "icmp"}]},
//	  {"name": "lab", "cidr": "10.9.0.0/24", "users": ["*"]}]}
type Resource struct {
	// Name identifies the resource in logs and errors; unique in a file.
	Name string
	// Domain is the normalized domain or wildcard pattern ("*.media.internal",
	// see normalizeName); empty for a CIDR resource.
	Domain string
	// CIDR is the address range of a CIDR resource; invalid for a domain
	// resource.
	CIDR netip.Prefix
	// Users lists the user names that may use the resource: the
	// allocation's user, as auth.Credentials.Keys gives it (the user part of
	// a TURN REST username, or a static user name); "*" is every
	// authenticated user.
	Users []string
	// Filters restricts the ports; an empty list permits every port.
	Filters Filters
}

// ResourceError locates what is wrong in a resources file.
type ResourceError struct {
	// Index is the resource's position in "resources", or -1 when the error
	// concerns the file as a whole.
	Index int
	// Name is the resource's name when it has one.
	Name string
	// Field is the offending field ("cidr", "filters[1].ports", ...), or
	// empty.
	Field string
	Err   error
}

// Error formats the location then the cause, for example
// `resources[2] ("lab"): cidr: "10.9.0.5/24" is not canonical (10.9.0.0/24)`.
func (e *ResourceError) Error() string {
	var b strings.Builder
	b.WriteString("resources file")
	if e.Index >= 0 {
		fmt.Fprintf(&b, ": resources[%d]", e.Index)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%q)", e.Name)
		}
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *ResourceError) Unwrap() error { return e.Err }

// resourceJSON is the wire form of one resource. Pointers tell a missing
// field from an empty one.
type resourceJSON struct {
	Name    string            `json:"name"`
	Domain  *string           `json:"domain"`
	CIDR    *string           `json:"cidr"`
	Users   []string          `json:"users"`
	Filters []json.RawMessage `json:"filters"`
}

// maxUserLen is the longest USERNAME value (RFC 8489 §14.3).
const maxUserLen = 513

// ParseResources parses and validates a whole resources file. Any error
// rejects the whole file; it is a *ResourceError naming the resource and
// field. Unknown fields are errors, so that a misspelt "filters" cannot
// silently permit every port.
func ParseResources(data []byte) ([]Resource, error) {
	fileErr := func(err error) error { return &ResourceError{Index: -1, Err: err} }
	var file struct {
		Resources *[]json.RawMessage `json:"resources"`
	}
	if err := strictDecode(data, &file); err != nil {
		return nil, fileErr(err)
	}
	if file.Resources == nil {
		return nil, fileErr(errors.New(`missing "resources" list`))
	}
	out := make([]Resource, 0, len(*file.Resources))
	seen := make(map[string]int, len(*file.Resources))
	for i, raw := range *file.Resources {
		r, field, err := parseResource(raw)
		if err == nil {
			if j, dup := seen[r.Name]; dup {
				field, err = "name", fmt.Errorf("duplicate of resources[%d]", j)
			}
		}
		if err != nil {
			return nil, &ResourceError{Index: i, Name: r.Name, Field: field, Err: err}
		}
		seen[r.Name] = i
		out = append(out, r)
	}
	return out, nil
}

// strictDecode decodes one JSON value into v, rejecting unknown fields and
// trailing data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("offset %d: %w", syn.Offset, err)
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// parseResource validates one resource; on error it returns the field at
// fault.
func parseResource(raw json.RawMessage) (r Resource, field string, err error) {
	var in resourceJSON
	if err := strictDecode(raw, &in); err != nil {
		return r, "", err
	}
	r.Name = in.Name
	if err := checkText(in.Name, 128); err != nil {
		return r, "name", err
	}
	switch {
	case in.Domain != nil && in.CIDR != nil:
		return r, "", errors.New(`has both "domain" and "cidr"`)
	case in.Domain != nil:
		if r.Domain, err = parseDomainPattern(*in.Domain); err != nil {
			return r, "domain", err
		}
	case in.CIDR != nil:
		if r.CIDR, err = parseResourceCIDR(*in.CIDR); err != nil {
			return r, "cidr", err
		}
	default:
		return r, "", errors.New(`needs "domain" or "cidr"`)
	}
	if len(in.Users) == 0 {
		return r, "users", errors.New(`needs at least one user ("*" for every authenticated user)`)
	}
	for i, u := range in.Users {
		if err := checkText(u, maxUserLen); err != nil {
			return r, fmt.Sprintf("users[%d]", i), err
		}
	}
	r.Users = in.Users
	for i, raw := range in.Filters {
		var f filterJSON
		if err := strictDecode(raw, &f); err != nil {
			return r, fmt.Sprintf("filters[%d]", i), err
		}
		if err := r.Filters.add(f); err != nil {
			return r, fmt.Sprintf("filters[%d]", i), err
		}
	}
	return r, "", nil
}

// checkText accepts a non-empty string of at most max bytes without control
// characters.
func checkText(s string, max int) error {
	if s == "" {
		return errors.New("missing or empty")
	}
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errors.New("contains control characters")
	}
	return nil
}

// parseDomainPattern validates a resource domain: a host name, or "*." and a
// host name. The last label may not be all digits (RFC 3696 §2), which
// catches an address written where "cidr" was meant.
func parseDomainPattern(s string) (string, error) {
	name, err := normalizeName(s, true)
	if err != nil {
		return "", err
	}
	tld := name[strings.LastIndexByte(name, '.')+1:]
	if strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("%q: the last label is numeric (an address belongs in \"cidr\")", s)
	}
	return name, nil
}

// parseResourceCIDR validates a CIDR resource: a canonical prefix of either
// family, no zone, not IPv4-mapped, not touching addresses a relay must never
// reach (neverReachable).
func parseResourceCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return p, fmt.Errorf("%q: zones and IPv4-mapped prefixes are not accepted", s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%q is not canonical (%s)", s, p.Masked())
	}
	for _, n := range neverReachable {
		if n.Overlaps(p) {
			return p, fmt.Errorf("%q overlaps %s, which a relay never reaches", s, n)
		}
	}
	return p, nil
}

// neverReachableAddr reports whether a lies in neverReachable, read as the
// peer policy reads peers (peerpolicy.Normalize): unmapped, and through every
// IPv4 address it embeds, so that ::127.0.0.1, 64:ff9b::a9fe:a9fe or
// 2002:7f00:1::1 are as unreachable as 127.0.0.1 and 169.254.169.254.
func neverReachableAddr(a netip.Addr) bool {
	n := peerpolicy.Normalize(a)
	if inNeverReachable(n.Addr) {
		return true
	}
	for _, e := range n.Embedded() {
		if inNeverReachable(e) {
			return true
		}
	}
	return false
}

func inNeverReachable(a netip.Addr) bool {
	for _, p := range neverReachable {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// neverReachable are ranges no resource may cover and no resolved address
// may lie in, whatever the operator configures: "this host", loopback,
// link-local (incl. cloud metadata at 169.254.169.254), multicast, reserved
// and broadcast (RFC 6890).
var neverReachable = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}
