package relay

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/sourcebudget"
)

// reflectorSource is the spoofed source of the burst: any address but the
// fake client's and outside loopback, which sourcebudget never budgets.
var reflectorSource = netip.MustParseAddrPort("198.18.0.66:4000")

// TestFakeNetworkBurstFromOneSourceIsNotReflected: 2000 unauthenticated
// 20-byte requests from one source (Binding and header-only Refresh,
// CreatePermission and ChannelBind, which earn a 401 with REALM and NONCE)
// get back fewer bytes than they brought (issue 15: before the budget
// every one was answered, up to 6.4 times its size), the rest are dropped
// and counted as unauthenticated_budget, and a client from another source
// allocates in the middle of the burst without the clock moving: the
// budget is per source (docs/protocol.md, "Unauthenticated answers").
func TestFakeNetworkBurstFromOneSourceIsNotReflected(t *testing.T) {
	const burst = 2000
	f := newFakeRelay(t, func(c *Config) { c.Software = testSoftware })
	// Every request of the burst must reach the relay for the byte count
	// to mean anything: the fake socket queue holds them all.
	f.network.SetQueueLen(2 * burst)
	attacker := f.listen(t, reflectorSource)

	methods := []stunmsg.Method{stunmsg.Binding, stunmsg.Refresh, stunmsg.CreatePermission, stunmsg.ChannelBind}
	bytesIn := 0
	send := func(from, to int) {
		for i := from; i < to; i++ {
			req := encodeRaw(stunmsg.MessageType(methods[i%len(methods)], stunmsg.Request), newTxID())
			if _, err := attacker.WriteToUDPAddrPort(req, fakeListen); err != nil {
				t.Fatal(err)
			}
			bytesIn += len(req)
		}
	}

	send(0, burst/2)
	// The other source is answered at once: its 401, its authenticated
	// Allocate and a Binding, with the fake clock standing still.
	f.client.allocate()
	if m := f.client.roundTrip(encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), newTxID())); errorCode(m) != 0 {
		t.Fatalf("the other source's Binding got code %d", errorCode(m))
	}
	send(burst/2, burst)

	answers, bytesOut := 0, 0
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(10 * time.Second); answers+int(f.dropsOf(DropUnauthBudget)) < burst; {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d answers and %d unauthenticated_budget drops of %d requests",
				answers, f.dropsOf(DropUnauthBudget), burst)
		}
		attacker.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, _, err := attacker.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		answers++
		bytesOut += n
	}
	if lost := f.network.Dropped(); lost != 0 {
		t.Fatalf("the fake network lost %d datagrams to full queues", lost)
	}
	t.Logf("%d requests, %d bytes in; %d answers, %d bytes out", burst, bytesIn, answers, bytesOut)
	if bytesOut > bytesIn {
		t.Fatalf("%d bytes out for %d bytes in (%d answers to %d requests): the relay reflects",
			bytesOut, bytesIn, answers, burst)
	}
	if answers > sourcebudget.Defaults.Burst {
		t.Fatalf("%d answers to one source with the clock standing still, want at most the burst of %d",
			answers, sourcebudget.Defaults.Burst)
	}

	// A second later the source has earned the default rate back, no more.
	f.clock.Advance(time.Second)
	dropsBefore := f.dropsOf(DropUnauthBudget)
	send(0, 2*sourcebudget.Defaults.Rate)
	again := 0
	for deadline := time.Now().Add(10 * time.Second); again+int(f.dropsOf(DropUnauthBudget)-dropsBefore) < 2*sourcebudget.Defaults.Rate; {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d answers and %d drops of %d requests", again, f.dropsOf(DropUnauthBudget)-dropsBefore, 2*sourcebudget.Defaults.Rate)
		}
		attacker.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, _, err := attacker.ReadFromUDPAddrPort(buf); err == nil {
			again++
		}
	}
	if again != sourcebudget.Defaults.Rate {
		t.Fatalf("a second after the burst the source got %d answers, want the rate of %d", again, sourcebudget.Defaults.Rate)
	}
}
