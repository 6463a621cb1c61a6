package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/relay"
)

func statsWith(allocs int, toPeer, toClient, bytesOut, bytesIn uint64, drops map[string]uint64, auth map[string]uint64) relay.Stats {
	return relay.Stats{
		Packets:      map[string]map[string]uint64{"to_peer": {"udp": toPeer, "tcp": 1}, "to_client": {"udp": toClient}},
		Bytes:        map[string]map[string]uint64{"to_peer": {"udp": bytesOut}, "to_client": {"tls": bytesIn}},
		Drops:        drops,
		AuthFailures: auth,
		Allocations:  allocation.Stats{Allocations: allocs},
	}
}

func TestSummaryAttrs(t *testing.T) {
	zero := relay.Stats{}
	for _, tc := range []struct {
		name      string
		prev, cur relay.Stats
		draining  bool
		want      map[string]any
	}{
		{
			"first interval from nothing",
			zero,
			statsWith(3, 10, 9, 1000, 900, map[string]uint64{"not_turn": 2, "no_permission": 1}, map[string]uint64{"bad_integrity": 1}),
			false,
			map[string]any{"allocations": int64(3), "packets_to_peer": uint64(11), "packets_to_client": uint64(9),
				"bytes_to_peer": uint64(1000), "bytes_to_client": uint64(900), "drops": uint64(3), "auth_failures": uint64(1), "draining": false},
		},
		{
			"differences, not totals",
			statsWith(3, 10, 9, 1000, 900, map[string]uint64{"not_turn": 2}, map[string]uint64{"bad_integrity": 1}),
			statsWith(1, 15, 19, 1500, 1900, map[string]uint64{"not_turn": 7}, map[string]uint64{"bad_integrity": 1}),
			true,
			map[string]any{"allocations": int64(1), "packets_to_peer": uint64(5), "packets_to_client": uint64(10),
				"bytes_to_peer": uint64(500), "bytes_to_client": uint64(1000), "drops": uint64(5), "auth_failures": uint64(0), "draining": true},
		},
		{
			"a counter going back reports its value instead of wrapping",
			statsWith(0, 100, 0, 0, 0, nil, nil),
			statsWith(0, 4, 0, 0, 0, nil, nil),
			false,
			map[string]any{"packets_to_peer": uint64(5)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]any{}
			for _, a := range summaryAttrs(tc.prev, tc.cur, time.Minute, tc.draining) {
				got[a.Key] = a.Value.Any()
			}
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s = %v (%T), want %v (%T)", k, got[k], got[k], want, want)
				}
			}
			if got["interval_seconds"] != 60.0 {
				t.Errorf("interval_seconds = %v, want 60", got["interval_seconds"])
			}
		})
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the complete lines written so far, each decoded as JSON.
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// countingSource is a metrics.Source whose packet counter grows by 7 on
// every Stats call.
type countingSource struct {
	mu sync.Mutex
	n  uint64
}

func (s *countingSource) Stats() relay.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += 7
	return relay.Stats{Packets: map[string]map[string]uint64{"to_peer": {"udp": s.n}}}
}

func (s *countingSource) Draining() bool { return false }

// TestSummarizerLogsIntervals runs the loop with a short interval and checks
// that each line reports the growth since the previous one, and that close
// stops it.
func TestSummarizerLogsIntervals(t *testing.T) {
	var out lockedBuffer
	s := startSummary(&countingSource{}, logging.New(&out, logging.LevelInfo), 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines(t)) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.close()
	lines := out.lines(t)
	if len(lines) < 3 {
		t.Fatalf("%d summary lines in 5 s with a 10 ms interval", len(lines))
	}
	for i, l := range lines {
		if l["message"] != "summary" || l["severity"] != "INFO" {
			t.Fatalf("line %d: %v", i, l)
		}
		if l["packets_to_peer"] != 7.0 {
			t.Fatalf("line %d: packets_to_peer %v, want the growth of one interval (7)", i, l["packets_to_peer"])
		}
	}
	n := len(out.lines(t))
	time.Sleep(50 * time.Millisecond)
	if len(out.lines(t)) != n {
		t.Fatal("summary lines written after close")
	}
}
