package turncore

import (
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
)

// benchRequest prepares an authenticated client with an allocation and
// returns the request cmd encodes, for measuring Handle.
func benchRequest(tb testing.TB, cmd []string) (*fakeShell, allocation.FiveTuple, []byte) {
	set := defaultSettings()
	set.nonceLife = time.Hour
	sc := newTestScenario(&testing.T{}, set)
	sc.do("client alice 192.0.2.10:5000 transport=tcp")
	sc.do("allocate alice lifetime=3600")
	c := sc.clients["alice"]
	return sc.sh, c.ft, sc.buildRequest(c, cmd, tb.Fatalf)
}

// BenchmarkHandleRefresh measures one authenticated Refresh (over TCP, so
// the transaction cache does not answer it): parsing, the credential check,
// the table and the response with MESSAGE-INTEGRITY.
func BenchmarkHandleRefresh(b *testing.B) {
	sh, ft, raw := benchRequest(b, []string{"refresh", "alice", "lifetime=3600"})
	now, wall := sh.now(), sh.clock.Wall()
	b.ReportAllocs()
	for b.Loop() {
		sh.proc.Handle(ft, raw, now, wall)
	}
}

// BenchmarkHandleChannelBind measures one authenticated ChannelBind
// refreshing its channel.
func BenchmarkHandleChannelBind(b *testing.B) {
	sh, ft, raw := benchRequest(b, []string{"chanbind", "alice", "4000", "198.51.100.7:7000"})
	now, wall := sh.now(), sh.clock.Wall()
	b.ReportAllocs()
	for b.Loop() {
		sh.proc.Handle(ft, raw, now, wall)
	}
}
