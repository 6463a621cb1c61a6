package relay

import (
	"bytes"
	"os/exec"
	"strconv"
	"testing"
)

// coturn 4.6's turnutils_uclient -Z asks for a dual allocation with the
// codepoints of the draft that became RFC 8656 — ADDITIONAL-ADDRESS-FAMILY
// as 0x8032 (RFC 8656 §18.11 assigns 0x8000), ADDRESS-ERROR-CODE as 0x8033
// (0x8001) — as a capture of its Allocate shows:
//
//	0x0019 REQUESTED-TRANSPORT, 0x000D LIFETIME, 0x0018 EVEN-PORT (R=0),
//	0x8032 02000000, 0x8028 FINGERPRINT
//
// A strict relay ignores 0x8032 (an unknown comprehension-optional
// attribute, RFC 8489 §14), so uclient gets IPv4-only allocations; its test
// Refresh then names a random family and, for IPv6, rightly gets 443
// (TestUclientDraftDualAllocationIsIgnored). Config.LegacyDualAllocation
// makes the relay read the draft codepoint too (TestUclientDualAllocation).

// TestUclientDualAllocation: with the legacy codepoint accepted,
// turnutils_uclient -Z gets dual allocations — every allocation has an IPv4
// and an IPv6 relayed address, every Refresh naming either family succeeds
// — and relays between two clients without loss, over channels and with
// Send indications. uclient uses the IPv4 relayed addresses as peers.
func TestUclientDualAllocation(t *testing.T) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"channels", []string{"-Z"}},
		{"Send indications", []string{"-Z", "-s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, func(c *Config) { c.LegacyChannels, c.LegacyDualAllocation = true, true })
			runUclient(t, uclient, srv.udp.Port(), tc.flags...)
			allocs := createdAllocations(srv)
			if len(allocs) < 2 {
				t.Fatalf("uclient made %d allocations, want at least 2", len(allocs))
			}
			for _, a := range allocs {
				if !a.Relayed4.IsValid() || !a.Relayed6.IsValid() {
					t.Fatalf("allocation relayed on %v / %v, want both families", a.Relayed4, a.Relayed6)
				}
			}
			if n := srv.Stats().Requests["refresh"]["443"]; n != 0 {
				t.Fatalf("%d of uclient's Refresh requests were refused with 443", n)
			}
		})
	}
}

// TestUclientDraftDualAllocationIsIgnored: by default uclient -Z's draft
// attribute is ignored and every allocation is IPv4-only; the relay
// answers uclient's Refresh requests naming IPv6 with 443 (uclient picks
// the family at random, so the run may or may not stop early).
func TestUclientDraftDualAllocationIsIgnored(t *testing.T) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
	user, pass := restCredentials("uclient")
	out, _ := exec.Command(uclient, "-y", "-Z", "-u", user, "-w", pass, "-p", strconv.Itoa(int(srv.udp.Port())),
		"-n", "5", "-m", "2", "-z", "5", "127.0.0.1").CombinedOutput()
	allocs := createdAllocations(srv)
	if len(allocs) == 0 {
		t.Fatalf("uclient made no allocation:\n%s", out)
	}
	for _, a := range allocs {
		if !a.Relayed4.IsValid() || a.Relayed6.IsValid() {
			t.Fatalf("allocation relayed on %v / %v, want IPv4 only", a.Relayed4, a.Relayed6)
		}
	}
	// uclient does not always read its test Refresh's answer, so a 443 it
	// reports must have come from the relay, not the other way round.
	if bytes.Contains(out, []byte("error 443")) && srv.Stats().Requests["refresh"]["443"] == 0 {
		t.Fatalf("uclient reports a 443 the relay did not send:\n%s", out)
	}
}
