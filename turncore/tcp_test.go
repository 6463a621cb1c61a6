package turncore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// connectIDs makes n Connects from one TCP allocation to distinct peers,
// lets each succeed, and returns the CONNECTION-IDs the core chose.
func connectIDs(t *testing.T, sc *scenario, n int) []ConnID {
	t.Helper()
	sc.do("client alice 192.0.2.10:40000 transport=tcp")
	if got := lastLine(sc.do("allocate alice transport=6")); !strings.HasPrefix(got, "allocate success") {
		t.Fatalf("allocate: %s", got)
	}
	var ids []ConnID
	for i := range n {
		out := sc.do(fmt.Sprintf("connect alice 198.51.100.%d:22", i+1))
		var id ConnID
		if _, err := fmt.Sscanf(out[0], "dial alice -> 198.51.100.%d:22 as conn %d", new(int), &id); err != nil {
			t.Fatalf("connect %d: %q", i, out)
		}
		ids = append(ids, id)
	}
	return ids
}

// RFC 6062 §5.2 only asks for a unique ID; this relay also makes it
// unguessable (the default source is crypto/rand), so that a client cannot
// bind a connection it did not ask for by counting. Distinct, not a
// progression, and spread over the whole 32 bits.
func TestConnectionIDsAreRandom(t *testing.T) {
	set := defaultSettings()
	set.tcp.Enabled = true
	set.randomConnIDs = true
	sc := newTestScenario(t, set)
	ids := connectIDs(t, sc, 48)
	seen := map[ConnID]bool{}
	var high int
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("ID %d handed out twice: %v", id, ids)
		}
		seen[id] = true
		if i > 0 && (id-ids[i-1] == 1 || ids[i-1]-id == 1) {
			t.Fatalf("IDs %d and %d are neighbours: %v", ids[i-1], id, ids)
		}
		if id >= 1<<24 {
			high++
		}
	}
	// Random 32-bit IDs below 2^24 are one in 256; 40 of 48 is far below
	// what chance allows, and far above what a counter reaches.
	if high < 40 {
		t.Fatalf("only %d of %d IDs use the high byte: %v", high, len(ids), ids)
	}
}

// A Connect installs the permission for its peer's IP (RFC 6062 §5.2), so a
// data-plane observer and later incoming connections see it.
func TestConnectInstallsPermission(t *testing.T) {
	set := defaultSettings()
	set.tcp.Enabled = true
	sc := newTestScenario(t, set)
	connectIDs(t, sc, 1)
	want := []string{"permitted alice 198.51.100.1:0"}
	if !slices.Equal(sc.sh.installed, want) {
		t.Fatalf("installed %q, want %q", sc.sh.installed, want)
	}
	if got := sc.do("incoming alice 198.51.100.1:6000"); !strings.HasPrefix(got[0], "accept as conn") {
		t.Fatalf("incoming from the connected peer's IP: %q", got)
	}
}

// The core's counts follow connections from Connect to close, so the
// shell's gauge and the limits agree.
func TestTCPStatsFollowConnections(t *testing.T) {
	set := defaultSettings()
	set.tcp.Enabled = true
	sc := newTestScenario(t, set)
	ids := connectIDs(t, sc, 2)
	if got := sc.sh.core.TCPStats(); got != (TCPStats{Connections: 2, Unbound: 2}) {
		t.Fatalf("after two Connects: %+v", got)
	}
	sc.do(fmt.Sprintf("dialed %d ok", ids[0]))
	sc.do("client alice-data 192.0.2.10:40001 transport=tcp user=alice pass=alice-pw")
	if got := lastLine(sc.do(fmt.Sprintf("connbind alice-data %d", ids[0]))); got != "connection_bind success MI" {
		t.Fatalf("bind: %s", got)
	}
	if got := sc.sh.core.TCPStats(); got != (TCPStats{Connections: 2, Unbound: 1}) {
		t.Fatalf("after a bind: %+v", got)
	}
	sc.do(fmt.Sprintf("hangup %d", ids[0]))
	sc.do(fmt.Sprintf("dialed %d fail", ids[1]))
	if got := sc.sh.core.TCPStats(); got != (TCPStats{}) {
		t.Fatalf("after both ended: %+v", got)
	}
}

// A ConnectionBind may carry the nonce its client got on the control
// connection (pion and coturn reuse it on the new data connection) when
// it comes from the same IP; from another IP that nonce is refused (438)
// like any nonce minted for someone else.
func TestConnectionBindAcceptsTheControlConnectionsNonce(t *testing.T) {
	set := defaultSettings()
	set.tcp.Enabled = true
	sc := newTestScenario(t, set)
	ids := connectIDs(t, sc, 2)
	sc.do(fmt.Sprintf("dialed %d ok", ids[0]))
	sc.do(fmt.Sprintf("dialed %d ok", ids[1]))
	control := sc.clients["alice"]

	sc.do("client elsewhere 192.0.2.99:40001 transport=tcp user=alice pass=alice-pw")
	sc.clients["elsewhere"].nonce = control.nonce
	if got := sc.do(fmt.Sprintf("connbind elsewhere %d", ids[0])); got[0] != "connection_bind error 438 NONCE" {
		t.Fatalf("the control connection's nonce from another IP: %q", got)
	}

	sc.do("client alice-data 192.0.2.10:40001 transport=tcp user=alice pass=alice-pw")
	sc.clients["alice-data"].nonce = control.nonce
	got := sc.do(fmt.Sprintf("connbind alice-data %d", ids[1]))
	if len(got) != 2 || got[1] != "connection_bind success MI" {
		t.Fatalf("the control connection's nonce from the same IP: %q", got)
	}
}
