package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const exposition = "# HELP turnstile_relayed_packets_total Packets.\n" +
	"# TYPE turnstile_relayed_packets_total counter\n" +
	`turnstile_relayed_packets_total{datapath="xdp",direction="to_peer",transport="udp"} 100` + "\n" +
	`turnstile_relayed_packets_total{datapath="xdp",direction="to_client",transport="udp"} 250` + "\n" +
	`turnstile_relayed_packets_total{datapath="userspace",direction="to_peer",transport="udp"} 7` + "\n" +
	`turnstile_relayed_packets_total_extra{datapath="xdp"} 1000` + "\n" +
	`turnstile_relayed_bytes_total{datapath="xdp",direction="to_peer",transport="udp"} 9000` + "\n" +
	`odd_labels{path="a\"b,c}",note="x\\y"} 3 1700000000000` + "\n" +
	"plain_counter 1.2e+07\n"

// TestSeriesSum: a selector adds up exactly the samples of its name that
// carry its labels, whatever their other labels; matching nothing or a
// value that is no number is an error.
func TestSeriesSum(t *testing.T) {
	for _, c := range []struct {
		selector string
		want     float64
	}{
		{`turnstile_relayed_packets_total{datapath="xdp"}`, 350},
		{`turnstile_relayed_packets_total{datapath="xdp", direction="to_client"}`, 250},
		{`turnstile_relayed_packets_total`, 357},
		{`turnstile_relayed_packets_total{}`, 357},
		{`odd_labels{path="a\"b,c}"}`, 3},
		{`odd_labels{note="x\\y"}`, 3},
		{`plain_counter`, 12_000_000},
	} {
		sel, err := parseSelector(c.selector)
		if err != nil {
			t.Errorf("%s: %v", c.selector, err)
			continue
		}
		if got, err := sel.sum(exposition); err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.selector, got, err, c.want)
		}
	}
	for _, c := range []struct{ selector, text string }{
		{`turnstile_relayed_packets_total{datapath="kernel"}`, exposition},
		{`turnstile_relayed_packets_total`, "# nothing here\n"},
		{`x`, "x many\n"},
		{`x`, "x NaN\n"},
		{`x`, "x 1 2 3\n"},
		{`x`, `x{a="1} 2` + "\n"},
	} {
		sel, err := parseSelector(c.selector)
		if err != nil {
			t.Fatalf("%s: %v", c.selector, err)
		}
		if v, err := sel.sum(c.text); err == nil {
			t.Errorf("%s over %q: %v, no error", c.selector, c.text, v)
		}
	}
}

func TestParseSelectorRefuses(t *testing.T) {
	for _, s := range []string{"", "9x", `x{a=1}`, `x{a="1"`, `x{a="1" b="2"}`, `x{a="1"} 5`, `x-y`, `x{="1"}`} {
		if sel, err := parseSelector(s); err == nil {
			t.Errorf("%q parsed as %v", s, sel)
		}
	}
}

// clockEndpoint serves a counter of the milliseconds since it started,
// so a counter's growth over a window is that window's length. It counts
// the requests and the connections they came on.
type clockEndpoint struct {
	*httptest.Server
	requests, conns atomic.Int64
}

func startClockEndpoint(t *testing.T) *clockEndpoint {
	start := time.Now()
	c := &clockEndpoint{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.requests.Add(1)
		fmt.Fprintf(w, "# TYPE clock_ms counter\nclock_ms{clock=\"wall\"} %d\nclock_ms{clock=\"other\"} 5\n", time.Since(start).Milliseconds())
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

// TestCounterCoversTheMeasuredWindow: a counter of elapsed milliseconds
// grows over the run by the measured window's length (the closed loop's
// Duration; the open loop's Duration and its PacketTimeout drain, as the
// CPU readings do), not by the warm-up and setup before it.
func TestCounterCoversTheMeasuredWindow(t *testing.T) {
	s := startTestServer(t)
	clock := startClockEndpoint(t)
	for _, mode := range []Mode{ModeClosed, ModeOpen} {
		t.Run(string(mode), func(t *testing.T) {
			requests, conns := clock.requests.Load(), clock.conns.Load()
			cfg := s.baseConfig()
			cfg.Mode, cfg.Rate = mode, 1000
			cfg.Warmup, cfg.Duration, cfg.PacketTimeout = 600*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond
			cfg.ServerPID = os.Getpid()
			cfg.CounterURL, cfg.CounterSeries = clock.URL+"/metrics", `clock_ms{clock="wall"}`
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			u := res.ServerUsage
			if u == nil || len(u.Errors) != 0 || u.CounterDelta == nil {
				t.Fatalf("usage %+v", u)
			}
			want := cfg.Duration
			if mode == ModeOpen {
				want += cfg.PacketTimeout
			}
			// A scrape takes well under the slack; the warm-up is far above it.
			if got := time.Duration(*u.CounterDelta) * time.Millisecond; got < want-20*time.Millisecond || got > want+150*time.Millisecond {
				t.Errorf("the counter grew by %v over a window of %v", got, want)
			}
			// One scrape before setup opens the connection, so the
			// window's two do not wait for a handshake.
			if r, c := clock.requests.Load()-requests, clock.conns.Load()-conns; r != 3 || c > 1 {
				t.Errorf("%d scrapes on %d new connections, want 3 on at most 1", r, c)
			}
		})
	}
}

// TestCounterFailureIsReported: an endpoint that fails leaves no delta and
// an error in the usage, and the run itself goes on.
func TestCounterFailureIsReported(t *testing.T) {
	s := startTestServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no metrics", http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := s.baseConfig()
	cfg.ServerPID = os.Getpid()
	cfg.CounterURL, cfg.CounterSeries = srv.URL, "x"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := res.ServerUsage
	if u == nil || u.CounterDelta != nil || len(u.Errors) == 0 || !strings.Contains(strings.Join(u.Errors, "\n"), "500") {
		t.Fatalf("usage %+v", u)
	}
	if res.Packets == nil || res.Packets.Received == 0 {
		t.Fatalf("the run stopped: %+v", res.Packets)
	}
}
