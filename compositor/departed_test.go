package compositor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// TestDepartedKeepTheirCellsWithReuseNone: in a custom region with reuse
// "none", a participant who left keeps an empty cell (the background shows
// there) and nobody moves up; show_oldest gives the cell to the next one,
// and a returning participant takes their cell back (their first join
// time orders them).
func TestDepartedKeepTheirCellsWithReuseNone(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("deptest")
	if err != nil {
		t.Fatal(err)
	}
	mics := map[string]*gst.Pad{}
	for i, p := range []string{"ann", "bob", "cyd"} {
		mics[p] = toneSource(t, pipe, p, float64(300+100*i))
	}
	const w, h = 320, 180
	spec := func(r layouts.Reuse) layouts.Spec {
		return layouts.Spec{Template: layouts.TemplateCustom, Regions: []layouts.Region{{W: 1, H: 1, MaxColumns: 2, MaxRows: 1, Reuse: r}}}
	}
	g := playGraph(t, pipe, Config{Name: "dep", Width: w, Height: h, FPS: 15, Layout: spec(layouts.ReuseNone)})
	tap, stopTap := tapVideo(t, g, pipe, "deptap", w, h)
	defer stopTap()
	joined := time.Now().Add(-time.Minute)
	add := func(p string, at time.Duration) {
		t.Helper()
		if err := g.Add(Input{TrackID: "mic-" + p, Participant: p, Kind: "audio", Decoder: opusDecoder, Pad: mics[p], JoinedAt: joined.Add(at)}); err != nil {
			t.Fatal(err)
		}
	}
	add("ann", 0)
	add("bob", time.Second)
	add("cyd", 2*time.Second)
	// tiles lists the layout as "participant@x" in x order.
	tiles := func() string {
		_, lay := g.Layout()
		var s []string
		for _, tl := range lay.Tiles {
			s = append(s, fmt.Sprintf("%s@%d", tl.ParticipantID, tl.X))
		}
		return strings.Join(s, " ")
	}
	// A pixel of the left tile (clear of the initials): the placeholder,
	// or the background once its owner left.
	_, lay := g.Layout()
	if len(lay.Tiles) == 0 {
		t.Fatal("no tile")
	}
	tap.mu.Lock()
	tap.x, tap.y = lay.Tiles[0].X+lay.Tiles[0].Width/8, lay.Tiles[0].Y+lay.Tiles[0].Height/8
	tap.mu.Unlock()
	settle := func(what string, want byte) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			s := tap.since(0)
			if len(s) > 6 && strings.Count(s[len(s)-6:], string(want)) == 6 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the left cell shows %s, want %c", what, runs(s), want)
			}
		}
	}
	if got, want := tiles(), "ann@0 bob@160"; got != want {
		t.Fatalf("start: tiles %q, want %q", got, want)
	}
	settle("start", 'p')

	if err := g.Remove("mic-ann"); err != nil {
		t.Fatal(err)
	}
	if got, want := tiles(), "bob@160"; got != want {
		t.Errorf("reuse none, ann left: tiles %q, want %q (her cell kept empty, cyd still hidden)", got, want)
	}
	settle("ann left", 'b')

	if _, err := g.SetLayout(spec(layouts.ReuseShowOldest)); err != nil {
		t.Fatal(err)
	}
	if got, want := tiles(), "bob@0 cyd@160"; got != want {
		t.Errorf("show_oldest, ann left: tiles %q, want %q", got, want)
	}
	settle("show_oldest", 'p')

	if _, err := g.SetLayout(spec(layouts.ReuseNone)); err != nil {
		t.Fatal(err)
	}
	add("ann", time.Minute) // back: her cell again, by her first join
	if got, want := tiles(), "ann@0 bob@160"; got != want {
		t.Errorf("ann back: tiles %q, want %q", got, want)
	}
	g.mu.Lock()
	left := len(g.departed)
	g.mu.Unlock()
	if left != 0 {
		t.Errorf("%d departed after ann came back, want 0", left)
	}
}
