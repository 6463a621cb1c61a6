package chart

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/latency"
)

func sampleResult() *loadtest.Result {
	h := latency.New(1)
	for i := int64(0); i < 5000; i++ {
		h.Record(0, 20_000+i*37)
	}
	c := h.Snapshot()
	return &loadtest.Result{
		Mode: loadtest.ModeClosed, Transport: loadtest.TransportUDP, SendPath: loadtest.SendChannel, Allocations: 32,
		Timeline: []loadtest.Sample{{Seconds: 0.5, SentPerSecond: 1000, ReceivedPerSecond: 990}, {Seconds: 1, SentPerSecond: 1200, ReceivedPerSecond: 1200}},
		RTT:      &loadtest.LatencyResult{Samples: c.Total(), P50Micros: c.Percentile(0.5), P99Micros: c.Percentile(0.99), Histogram: c.NonEmpty()},
	}
}

func TestWritePNGProducesValidImage(t *testing.T) {
	tests := map[string]func(*loadtest.Result){
		"both panels":   func(*loadtest.Result) {},
		"timeline only": func(r *loadtest.Result) { r.RTT = nil },
		"churn latency only": func(r *loadtest.Result) {
			r.Timeline, r.Churn, r.RTT = nil, &loadtest.ChurnResult{Latency: r.RTT}, nil
		},
		"zero-microsecond bucket": func(r *loadtest.Result) {
			r.RTT.Histogram = append([]latency.Bucket{{Low: 0, High: 1, Count: 3}}, r.RTT.Histogram...)
		},
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			res := sampleResult()
			mod(res)
			var buf bytes.Buffer
			if err := WritePNG(&buf, res); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
				t.Fatalf("image is %v", b)
			}
		})
	}
}

func TestSavePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	if err := SavePNG(path, sampleResult()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Fatalf("file is not a PNG: %v", err)
	}
}

func TestNothingToPlot(t *testing.T) {
	if err := WritePNG(&bytes.Buffer{}, &loadtest.Result{}); !errors.Is(err, ErrNothingToPlot) {
		t.Fatalf("got %v", err)
	}
}

func TestCDFPoints(t *testing.T) {
	pts := cdfPoints([]latency.Bucket{{Low: 0, High: 1, Count: 1}, {Low: 5, High: 6, Count: 3}})
	want := []struct{ x, y float64 }{{1, 0}, {1, 0.25}, {6, 1}}
	if len(pts) != len(want) {
		t.Fatalf("%d points", len(pts))
	}
	for i, w := range want {
		if pts[i].X != w.x || pts[i].Y != w.y {
			t.Fatalf("point %d = %v, want %v", i, pts[i], w)
		}
	}
}
