package chart

import (
	"bytes"
	"errors"
	"image/png"
	"path/filepath"
	"testing"
)

func twoPanels() []Panel {
	return []Panel{
		{Title: "memory", XLabel: "s", YLabel: "MiB", Lines: []Line{
			{Name: "rss", X: []float64{0, 5, 10}, Y: []float64{20, 24, 23}},
			{Name: "bound", X: []float64{0, 10}, Y: []float64{30, 30}, Dashed: true},
		}},
		{Title: "goroutines", XLabel: "s", Lines: []Line{{Name: "n", X: []float64{0, 5}, Y: []float64{12, 40}}}},
	}
}

// TestWriteSeriesPNG: two panels make a PNG twice a panel's height.
func TestWriteSeriesPNG(t *testing.T) {
	var one, two bytes.Buffer
	if err := WriteSeriesPNG(&one, twoPanels()[:1]); err != nil {
		t.Fatal(err)
	}
	if err := WriteSeriesPNG(&two, twoPanels()); err != nil {
		t.Fatal(err)
	}
	a, err := png.Decode(&one)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	b, err := png.Decode(&two)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if a.Bounds().Dx() < 100 || b.Bounds().Dy() != 2*a.Bounds().Dy() {
		t.Fatalf("one panel %v, two panels %v: want twice the height", a.Bounds(), b.Bounds())
	}
}

// TestWriteSeriesPNGRefusesBadInput: nothing to draw, an empty panel and
// a line whose X and Y differ in length are errors, not empty images.
func TestWriteSeriesPNGRefusesBadInput(t *testing.T) {
	uneven := twoPanels()
	uneven[1].Lines[0].Y = uneven[1].Lines[0].Y[:1]
	empty := twoPanels()
	empty[0].Lines = nil
	for name, panels := range map[string][]Panel{"no panels": nil, "panel without lines": empty, "uneven line": uneven} {
		if err := WriteSeriesPNG(&bytes.Buffer{}, panels); err == nil {
			t.Errorf("%s: no error", name)
		} else if name != "uneven line" && !errors.Is(err, ErrNothingToPlot) {
			t.Errorf("%s: %v, want ErrNothingToPlot", name, err)
		}
	}
}

func TestSaveSeriesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "soak.png")
	if err := SaveSeriesPNG(path, twoPanels()); err != nil {
		t.Fatal(err)
	}
	if err := SaveSeriesPNG(filepath.Join(t.TempDir(), "missing", "x.png"), twoPanels()); err == nil {
		t.Fatal("a path in a missing directory was accepted")
	}
}
