package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// The series the soak reads from the relay's metrics endpoint.
const (
	metricGoroutines       = "go_goroutines"
	metricHeapInuse        = "go_memstats_heap_inuse_bytes"
	metricAllocations      = "turnstile_allocations"
	metricTCPConnections   = "turnstile_tcp_connections"
	metricWriteBudgetDrops = `turnstile_dropped_total{reason="stream_write_budget"}`
)

// maxMetricsBody bounds a scrape: the relay's page is tens of kB.
const maxMetricsBody = 4 << 20

// parseMetrics reads the Prometheus text format and returns the values of
// the series named in want (a name with its labels exactly as the relay
// prints them, e.g. turnstile_dropped_total{reason="x"}). A wanted series
// that is missing or whose value is not a number is an error: the relay
// must export what the soak judges.
func parseMetrics(r io.Reader, want []string) (map[string]float64, error) {
	got := make(map[string]float64, len(want))
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w] = true
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// "name{labels} value [timestamp]": labels may hold spaces inside
		// quotes, so the series ends at the closing brace when there is one.
		end := bytes.IndexByte(line, ' ')
		if brace := bytes.IndexByte(line, '{'); brace >= 0 && (end < 0 || brace < end) {
			closing := bytes.LastIndexByte(line, '}')
			if closing < brace {
				return nil, fmt.Errorf("soak: metrics: unterminated labels in %q", line)
			}
			end = closing + 1
		}
		if end <= 0 || end >= len(line) {
			return nil, fmt.Errorf("soak: metrics: no value in %q", line)
		}
		name := string(line[:end])
		if !wanted[name] {
			continue
		}
		fields := strings.Fields(string(line[end:]))
		if len(fields) == 0 {
			return nil, fmt.Errorf("soak: metrics: no value for %s", name)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("soak: metrics: %s = %q is not a number", name, fields[0])
		}
		got[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("soak: metrics: %w", err)
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			return nil, fmt.Errorf("soak: metrics: %s missing", w)
		}
	}
	return got, nil
}

// sampler reads one process's memory and descriptors from /proc and its
// gauges from its metrics endpoint.
type sampler struct {
	pid     int
	url     string // http://host:port/metrics
	http    *http.Client
	started time.Time
}

func newSampler(pid int, metricsURL string, started time.Time) *sampler {
	// No keep-alive: an idle scrape connection would be one more
	// descriptor and goroutine in the relay between samples.
	tr := &http.Transport{DisableKeepAlives: true}
	return &sampler{pid: pid, url: metricsURL, http: &http.Client{Transport: tr, Timeout: 5 * time.Second}, started: started}
}

// take reads one sample.
func (s *sampler) take(ctx context.Context) (Sample, error) {
	out := Sample{Seconds: time.Since(s.started).Seconds()}
	var err error
	if out.RSSAnonBytes, err = procstat.RSSAnon(s.pid); err != nil {
		return out, err
	}
	if out.FDs, err = procstat.OpenFDs(s.pid); err != nil {
		return out, err
	}
	m, err := s.scrape(ctx)
	if err != nil {
		return out, err
	}
	out.Goroutines = int(m[metricGoroutines])
	out.Allocations = int(m[metricAllocations])
	out.TCPConnections = int(m[metricTCPConnections])
	out.WriteBudgetDrops = uint64(m[metricWriteBudgetDrops])
	out.HeapInuseBytes = uint64(m[metricHeapInuse])
	return out, nil
}

func (s *sampler) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("soak: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("soak: scrape: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, maxMetricsBody),
		[]string{metricGoroutines, metricAllocations, metricTCPConnections, metricWriteBudgetDrops, metricHeapInuse})
}
