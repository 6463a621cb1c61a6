package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// rampTimeline is three ramp steps of 1 s sampled every 0.5 s, each
// followed by a 0.5 s drain in which nothing is sent and the last probes
// come back.
func rampTimeline() []loadtest.Sample {
	var tl []loadtest.Sample
	t := 0.0
	for _, rate := range []float64{1000, 2000, 4000} {
		for range 2 {
			t += 0.5
			tl = append(tl, loadtest.Sample{Seconds: t, SentPerSecond: rate, ReceivedPerSecond: rate})
		}
		t += 0.5
		tl = append(tl, loadtest.Sample{Seconds: t, SentPerSecond: 0, ReceivedPerSecond: rate / 50})
	}
	return tl
}

func TestActiveSegmentsLeaveOutTheDrains(t *testing.T) {
	segs := activeSegments(rampTimeline())
	if len(segs) != 3 {
		t.Fatalf("%d segments, want one per step (3)", len(segs))
	}
	for i, seg := range segs {
		if len(seg) != 2 {
			t.Errorf("segment %d has %d samples, want 2", i, len(seg))
		}
		for _, s := range seg {
			if s.SentPerSecond == 0 {
				t.Errorf("segment %d holds an idle sample %+v", i, s)
			}
		}
	}
	// A closed loop never idles: one segment with every sample.
	closed := []loadtest.Sample{{Seconds: 0.5, SentPerSecond: 5}, {Seconds: 1, SentPerSecond: 6}}
	if segs := activeSegments(closed); len(segs) != 1 || len(segs[0]) != 2 {
		t.Errorf("closed loop: %v", segs)
	}
	if segs := activeSegments(nil); len(segs) != 0 {
		t.Errorf("empty timeline: %v", segs)
	}
}

func TestRampSeriesHasOnePointPerStep(t *testing.T) {
	r := &loadtest.RampResult{Steps: []loadtest.RampStep{
		{TargetRate: 1000, P50Micros: 40, P99Micros: 90, LossRatio: 0},
		{TargetRate: 2000, P50Micros: 45, P99Micros: 300, LossRatio: 0.002},
		{TargetRate: 4000, LossRatio: 1},                                                         // nothing came back
		{TargetRate: 8000, SentPerSecond: 6100, P50Micros: 900, P99Micros: 5000, LossRatio: 0.3}, // the generator fell short
	}}
	s := RampSeries("x", r)
	want := []LoadPoint{{1000, 40, 90, 0}, {2000, 45, 300, 0.002}, {4000, 0, 0, 1}, {6100, 900, 5000, 0.3}}
	if s.Name != "x" || len(s.Points) != len(want) {
		t.Fatalf("series %+v", s)
	}
	for i := range want {
		if s.Points[i] != want[i] {
			t.Errorf("point %d = %+v, want %+v", i, s.Points[i], want[i])
		}
	}
}

// TestHeadroomKeepsTheLegendCornerClear checks that the data's top stays
// below the band the legend takes at the top of the axis.
func TestHeadroomKeepsTheLegendCornerClear(t *testing.T) {
	tests := []struct {
		lo, hi  float64
		entries int
		log     bool
	}{
		{0, 1000, 2, false}, {0, 5, 3, false}, {20, 5000, 6, true}, {50, 50, 2, true}, {0, 0, 1, false},
	}
	for _, tc := range tests {
		lo, top := headroom(tc.lo, tc.hi, tc.entries, tc.log)
		if lo != tc.lo || !(top > tc.hi) {
			t.Errorf("headroom(%v, %v) = %v, %v: must start at lo and end above hi", tc.lo, tc.hi, lo, top)
			continue
		}
		// Where the data's top sits on the axis, 0 at the bottom, 1 at the top.
		pos := (tc.hi - lo) / (top - lo)
		if tc.log {
			pos = (math.Log10(tc.hi) - math.Log10(lo)) / (math.Log10(top) - math.Log10(lo))
		}
		if band := legendRows * float64(tc.entries); pos > 1-band {
			t.Errorf("headroom(%v, %v, %d entries): data reaches %.2f of the axis, into the legend's top %.2f", tc.lo, tc.hi, tc.entries, pos, band)
		}
	}
}

func TestThroughputPlotRoomForLegend(t *testing.T) {
	res := &loadtest.Result{Mode: loadtest.ModeRamp, Timeline: rampTimeline()}
	p, err := throughputPlot(res)
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Min != 0 || p.Y.Max < 4000/(1-2*legendRows) {
		t.Fatalf("y axis %v–%v leaves the legend on the 4000/s data", p.Y.Min, p.Y.Max)
	}
	if !p.Legend.Top || !p.Legend.Left {
		t.Fatal("legend not in the top left corner")
	}
}

// decodePNG decodes b and checks it is at least w × h pixels and drawn in
// every colour of want (each series' colour appears).
func decodePNG(t *testing.T, b []byte, w, h int, want ...color.RGBA) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if bd := img.Bounds(); bd.Dx() < w || bd.Dy() < h {
		t.Fatalf("image is %v, want at least %d × %d", bd, w, h)
	}
	found := map[color.RGBA]bool{}
	colours := map[color.RGBA]bool{}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			c := color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: uint8(a >> 8)}
			colours[c] = true
			for _, wc := range want {
				if c == wc {
					found[wc] = true
				}
			}
		}
	}
	for _, wc := range want {
		if !found[wc] {
			t.Errorf("no pixel of colour %v", wc)
		}
	}
	if len(colours) < 10 {
		t.Errorf("only %d colours: a blank image?", len(colours))
	}
	return img
}

func TestWriteLoadPNGDrawsEveryServer(t *testing.T) {
	series := []LoadSeries{
		{Name: "turnstile", Points: []LoadPoint{{1000, 40, 90, 0}, {2000, 42, 120, 0}, {4000, 60, 900, 0.01}}},
		{Name: "coturn", Points: []LoadPoint{{1000, 50, 100, 0}, {2000, 70, 400, 0.002}, {4000, 0, 0, 1}}},
		{Name: "pion", Points: []LoadPoint{{1000, 80, 200, 0}, {2000, 150, 2000, 0.05}}},
	}
	path := filepath.Join(t.TempDir(), "latency-vs-load.png")
	if err := SaveLoadPNG(path, "make bench", series); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodePNG(t, b, 400, 400, rgba(palette[0]), rgba(palette[1]), rgba(palette[2]))
	if err := WriteLoadPNG(&bytes.Buffer{}, "x", []LoadSeries{{Name: "empty"}}); err != ErrNoSeries {
		t.Fatalf("no points: %v", err)
	}
}

func TestWritePNGOfARampDrawsLoadPanels(t *testing.T) {
	res := &loadtest.Result{
		Mode: loadtest.ModeRamp, Allocations: 8, Timeline: rampTimeline(),
		Ramp: &loadtest.RampResult{Steps: []loadtest.RampStep{
			{TargetRate: 1000, P50Micros: 40, P99Micros: 90}, {TargetRate: 2000, P50Micros: 45, P99Micros: 300, LossRatio: 0.002},
		}},
	}
	var buf bytes.Buffer
	if err := WritePNG(&buf, res); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, buf.Bytes(), 400, 400, rgba(palette[0]))
	// Throughput, RTT against load and loss against load: three panels.
	one, err := png.Decode(bytes.NewReader(mustPNG(t, &loadtest.Result{Timeline: rampTimeline()})))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Dy(), 3*one.Bounds().Dy(); got != want {
		t.Errorf("ramp chart is %d pixels high, want three panels (%d)", got, want)
	}
}

func rgba(c color.Color) color.RGBA { return color.RGBAModel.Convert(c).(color.RGBA) }

func mustPNG(t *testing.T, res *loadtest.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePNG(&buf, res); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTicks125(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (ticks125{}).Ticks(lo, hi) {
			out = append(out, tk.Label)
		}
		return out
	}
	tests := []struct {
		lo, hi float64
		want   []string
	}{
		{40, 900, []string{"50", "100", "200", "500"}},
		{1000, 64000, []string{"1k", "2k", "5k", "10k", "20k", "50k"}},
		{1, 1, []string{"1"}},
		{1.5e6, 3e6, []string{"2M"}},
		{300, 2e9, []string{"1k", "10k", "100k", "1M", "10M", "100M", "1G"}}, // decades only
		{0, 10, nil}, // no logarithm of 0
	}
	for _, tc := range tests {
		got := labels(tc.lo, tc.hi)
		if len(got) != len(tc.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
				break
			}
		}
	}
}
