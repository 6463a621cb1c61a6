package stunmsg

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/pion/stun/v2"
)

// unhex decodes a hex dump, ignoring whitespace and "|" separators, so test
// vectors can be laid out like RFC 5769 prints them.
func unhex(t testing.TB, dump string) []byte {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\t' || r == '|' {
			return -1
		}
		return r
	}, dump)
	b, err := hex.DecodeString(clean)
	if err != nil {
		t.Fatalf("bad hex in test vector: %v", err)
	}
	return b
}

// pionDecode decodes a copy of raw with pion/stun/v2, the independent
// oracle. The copy matters: pion's integrity checks rewrite the header.
func pionDecode(t testing.TB, raw []byte) *stun.Message {
	t.Helper()
	pm := &stun.Message{Raw: append([]byte(nil), raw...)}
	if err := pm.Decode(); err != nil {
		t.Fatalf("pion rejects a message we accept or built: %v\n%x", err, raw)
	}
	return pm
}

// pionAttrType maps a type to what pion/stun/v2 reports after decoding: it
// rewrites the pre-RFC 5389 XOR-MAPPED-ADDRESS 0x8020 to 0x0020.
func pionAttrType(t uint16) uint16 {
	if t == 0x8020 {
		return AttrXORMappedAddress
	}
	return t
}

// pionRecorded returns pion's attributes that our Parse records: those up to
// the integrity attributes, then only MESSAGE-INTEGRITY-SHA256 after
// MESSAGE-INTEGRITY, and FINGERPRINT (RFC 8489 §9). This is an independent
// restatement of the rule, applied to pion's attribute list.
func pionRecorded(pm *stun.Message) []stun.RawAttribute {
	var out []stun.RawAttribute
	seenMI, seenSHA := false, false
	for _, a := range pm.Attributes {
		t := uint16(a.Type)
		keep := false
		switch {
		case t == AttrFingerprint:
			keep = true
		case seenSHA:
		case seenMI:
			keep = t == AttrMessageIntegritySHA256
			seenSHA = keep
		default:
			keep = true
			seenMI = t == AttrMessageIntegrity
			seenSHA = t == AttrMessageIntegritySHA256
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}

// agreeWithPion fails t unless pion decodes m.Raw to the same type,
// transaction ID and recorded attribute list, and (when m has FINGERPRINT)
// pion's fingerprint check passes.
func agreeWithPion(t testing.TB, m *Message) {
	t.Helper()
	pm := pionDecode(t, m.Raw)
	if pm.Type.Value() != m.Type {
		t.Fatalf("type: pion %#04x, ours %#04x", pm.Type.Value(), m.Type)
	}
	if pm.TransactionID != m.TransactionID {
		t.Fatalf("transaction ID: pion %x, ours %x", pm.TransactionID, m.TransactionID)
	}
	want := pionRecorded(pm)
	got := m.Attrs()
	if len(want) != len(got) {
		t.Fatalf("attribute count: pion %d, ours %d\n%x", len(want), len(got), m.Raw)
	}
	for i, a := range got {
		if uint16(want[i].Type) != pionAttrType(a.Type) || string(want[i].Value) != string(m.Value(a)) {
			t.Fatalf("attribute %d: pion %v %x, ours %#04x %x", i, want[i].Type, want[i].Value, a.Type, m.Value(a))
		}
	}
	if m.FingerprintAt >= 0 {
		if err := stun.Fingerprint.Check(pm); err != nil {
			t.Fatalf("pion rejects a FINGERPRINT we accepted: %v", err)
		}
	}
}
