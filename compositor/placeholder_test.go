package compositor

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// lumaTap records the luma of one pixel of every I420 frame of an appsink.
type lumaTap struct {
	mu   sync.Mutex
	x, y int
	w    int
	seq  []byte
}

func (l *lumaTap) sink(t *testing.T, name string, w, h int) *app.Sink {
	l.w = w
	return bytesSink(t, name, fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d", w, h), func(b []byte) {
		l.mu.Lock()
		if i := l.y*l.w + l.x; i < len(b) {
			l.seq = append(l.seq, b[i])
		}
		l.mu.Unlock()
	})
}

// classes since frame from: r(ed video), p(laceholder), b(ackground), ?(other).
func (l *lumaTap) since(from int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sb strings.Builder
	for _, y := range l.seq[min(from, len(l.seq)):] {
		switch d := int(y); {
		case d > 81-12 && d < 81+12:
			sb.WriteByte('r')
		case d > 57-12 && d < 57+12:
			sb.WriteByte('p')
		case d < 30:
			sb.WriteByte('b')
		default:
			sb.WriteByte('?')
		}
	}
	return sb.String()
}

func (l *lumaTap) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seq)
}

// runs shortens a class string for logs: "rrrpp" → "r3 p2".
func runs(s string) string {
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		out = append(out, fmt.Sprintf("%c%d", s[i], j-i))
		i = j
	}
	return strings.Join(out, " ")
}

// teeSource adds the bin described by desc, which ends in a tee named tee,
// to pipe and returns it with a ghost pad on a new branch of the tee, as a
// room's track tap gives the compositor.
func teeSource(t *testing.T, pipe *gst.Pipeline, desc, tee string) (*gst.Bin, *gst.Pad) {
	t.Helper()
	bin, err := gst.NewBinFromString(desc, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.Add(bin.Element); err != nil {
		t.Fatal(err)
	}
	te, _ := bin.GetElementByName(tee)
	ghost := gst.NewGhostPad("src", te.GetRequestPad("src_%u"))
	bin.AddPad(ghost.Pad)
	return bin, ghost.Pad
}

// toneSource is a participant's microphone: a live sine of freq Hz, Opus
// encoded, as the pad of a tee named "out-"+name (see teeSource).
func toneSource(t *testing.T, pipe *gst.Pipeline, name string, freq float64) *gst.Pad {
	t.Helper()
	_, pad := teeSource(t, pipe, fmt.Sprintf("audiotestsrc is-live=true wave=sine volume=0.3 freq=%g samplesperbuffer=960 ! "+
		"audio/x-raw,rate=48000,channels=2 ! opusenc ! tee name=out-%s allow-not-linked=true", freq, name), "out-"+name)
	return pad
}

// playGraph sets pipe playing and builds a graph of cfg in it; the graph
// is closed and the pipeline stopped when the test ends, in that order.
func playGraph(t *testing.T, pipe *gst.Pipeline, cfg Config) *Graph {
	t.Helper()
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gstx.StopElement(pipe.Element, 5*time.Second) })
	cfg.Pipeline = pipe
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// tapVideo links a luma tap (appsink name) to a new video output of g; stop
// finishes and closes the output.
func tapVideo(t *testing.T, g *Graph, pipe *gst.Pipeline, name string, w, h int) (tap *lumaTap, stop func()) {
	t.Helper()
	tap = &lumaTap{}
	return tap, onVideoOutput(t, g, pipe, tap.sink(t, name, w, h))
}

// onVideoOutput adds sink to pipe on a new video output of g, playing; stop
// finishes and closes the output.
func onVideoOutput(t *testing.T, g *Graph, pipe *gst.Pipeline, sink *app.Sink) (stop func()) {
	t.Helper()
	return onOutput(t, pipe, g.VideoOutput, sink)
}

// onOutput adds sink to pipe on a new output of a graph (open: its
// VideoOutput, AudioOutput or a MixMinusOutput), playing; stop finishes
// and closes the output.
func onOutput(t *testing.T, pipe *gst.Pipeline, open func() (*Output, error), sink *app.Sink) (stop func()) {
	t.Helper()
	out, err := open()
	if err != nil {
		t.Fatal(err)
	}
	pipe.Add(sink.Element)
	if ret := out.Pad.Link(sink.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	sink.SyncStateWithParent()
	return func() {
		out.Finish()
		out.Close()
	}
}

// TestPlaceholderOnlyWhileShown: a video tile's placeholder is in the
// pipeline only while it is shown (before the first frame, muted, stalled)
// and the switches either way never show the background in between.
func TestPlaceholderOnlyWhileShown(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("phtest")
	if err != nil {
		t.Fatal(err)
	}
	src, camPad := teeSource(t, pipe, "videotestsrc is-live=true pattern=solid-color foreground-color=0xffff0000 ! "+
		"video/x-raw,width=320,height=180,framerate=15/1 ! valve name=valve ! vp8enc deadline=1 keyframe-max-dist=15 ! "+
		"tee name=out allow-not-linked=true", "out")
	valve, _ := src.GetElementByName("valve")
	const w, h = 320, 180
	g := playGraph(t, pipe, Config{Name: "ph", Width: w, Height: h, FPS: 15, StallAfter: 500 * time.Millisecond,
		Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	tap, stopTap := tapVideo(t, g, pipe, "phtap", w, h)
	defer stopTap()

	if err := g.Add(Input{TrackID: "cam", Participant: "alice", Kind: "video", Decoder: "vp8dec", Pad: camPad}); err != nil {
		t.Fatal(err)
	}
	_, lay := g.Layout()
	if len(lay.Tiles) != 1 {
		t.Fatalf("layout: %+v", lay)
	}
	tile := lay.Tiles[0]
	tap.mu.Lock()
	tap.x, tap.y = tile.X+tile.Width/8, tile.Y+tile.Height/8 // clear of the initials
	tap.mu.Unlock()
	tilePh := regexp.MustCompile(`ph-v\d+-ph`)
	attached := func() bool { return tilePh.MatchString(gstx.DotGraph(pipe)) }

	// step waits until the tile ends with want (and the placeholder is
	// attached or not, as said), then checks the frames since mark.
	step := func(name string, mark int, want byte, ph bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := tap.since(mark)
			if len(s) > 8 && strings.Count(s[len(s)-8:], string(want)) == 8 && attached() == ph {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: frames %s, placeholder attached %v (want %c, attached %v)", name, runs(s), attached(), want, ph)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s := tap.since(mark)
		t.Logf("%s: %s", name, runs(s))
		if strings.ContainsAny(s, "b?") {
			t.Errorf("%s: frames %s show something else than the video and the placeholder", name, runs(s))
		}
	}
	// Wait for the first frame with the tile (the mixer may output a frame
	// or two of background before the placeholder's first one).
	for deadline := time.Now().Add(10 * time.Second); !strings.ContainsAny(tap.since(0), "pr"); {
		if time.Now().After(deadline) {
			t.Fatalf("no tile in %s", runs(tap.since(0)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := strings.IndexAny(tap.since(0), "pr")
	t.Logf("before the tile: %s", runs(tap.since(0)[:start]))
	step("start", start, 'r', false)
	if s := tap.since(start); s[0] != 'p' {
		t.Errorf("start: the tile began with %c, not the placeholder", s[0])
	}

	mark := tap.count()
	_ = g.SetMuted("cam", true)
	step("mute", mark, 'p', true)
	// A layout change while muted: the placeholder is rendered again at the
	// tile's new size, and the tile shows a placeholder throughout.
	if _, err := g.SetLayout(layouts.Spec{Template: layouts.TemplateGrid, Gap: 20}); err != nil {
		t.Fatal(err)
	}
	_, lay = g.Layout()
	small := lay.Tiles[0]
	if small.Width >= tile.Width {
		t.Fatalf("gap did not shrink the tile: %+v → %+v", tile, small)
	}
	tap.mu.Lock()
	tap.x, tap.y = small.X+small.Width/8, small.Y+small.Height/8
	tap.mu.Unlock()
	mark = tap.count()
	cam := func() *placeholder { return g.videos["cam"].ph }
	phSize := func() (int, int, bool) { return placeholderSize(g, cam) }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if pw, phh, ok := phSize(); ok && pw == small.Width && phh == small.Height {
			break
		}
		if time.Now().After(deadline) {
			pw, phh, ok := phSize()
			t.Fatalf("placeholder %dx%d (settled %v) after the resize, want %dx%d", pw, phh, ok, small.Width, small.Height)
		}
	}
	step("resize while muted", mark, 'p', true)

	mark = tap.count()
	_ = g.SetMuted("cam", false)
	step("unmute", mark, 'r', false)

	mark = tap.count()
	_ = valve.SetProperty("drop", true)
	step("stall", mark, 'p', true)
	mark = tap.count()
	_ = valve.SetProperty("drop", false)
	step("resume", mark, 'r', false)

	if err := g.Remove("cam"); err != nil {
		t.Fatal(err)
	}
	if dot := gstx.DotGraph(pipe); regexp.MustCompile(`ph-v\d+-`).MatchString(dot) {
		t.Error("the tile's elements are still in the pipeline after Remove")
	}
}

// placeholderSize is the caps size of a placeholder's compositor pad once
// it has settled (no replaced one still waiting), else ok false.
func placeholderSize(g *Graph, ph func() *placeholder) (w, h int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := ph()
	if p == nil || p.pad == nil || p.old != nil {
		return 0, 0, false
	}
	caps := p.pad.GetCurrentCaps()
	if caps == nil || caps.GetSize() == 0 {
		return 0, 0, false
	}
	wv, _ := caps.GetStructureAt(0).GetValue("width")
	hv, _ := caps.GetStructureAt(0).GetValue("height")
	w, _ = wv.(int)
	h, _ = hv.(int)
	return w, h, true
}

// TestAudioOnlyPlaceholderFollowsTileSize: a participant with a microphone
// and no camera gets a placeholder tile rendered at its tile's size; when a
// layout change resizes the tile, it is rendered again at the new size and
// the tile shows a placeholder throughout; leaving removes it.
func TestAudioOnlyPlaceholderFollowsTileSize(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("aphtest")
	if err != nil {
		t.Fatal(err)
	}
	micPad := toneSource(t, pipe, "mic", 440) // audiotestsrc's default tone
	const w, h = 320, 180
	g := playGraph(t, pipe, Config{Name: "aph", Width: w, Height: h, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	tap, stopTap := tapVideo(t, g, pipe, "aphtap", w, h)
	defer stopTap()
	if err := g.Add(Input{TrackID: "mic", Participant: "bob", Kind: "audio", Decoder: opusDecoder, Pad: micPad}); err != nil {
		t.Fatal(err)
	}
	mic := func() *placeholder {
		if ai := g.audios["mic"]; ai != nil {
			return ai.ph
		}
		return nil
	}
	waitSize := func(what string, want layouts.Tile) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if pw, phh, ok := placeholderSize(g, mic); ok && pw == want.Width && phh == want.Height {
				return
			}
			if time.Now().After(deadline) {
				pw, phh, ok := placeholderSize(g, mic)
				t.Fatalf("%s: placeholder %dx%d (settled %v), want the tile's %dx%d", what, pw, phh, ok, want.Width, want.Height)
			}
		}
	}
	_, lay := g.Layout()
	if len(lay.Tiles) != 1 {
		t.Fatalf("layout: %+v", lay)
	}
	big := lay.Tiles[0]
	waitSize("start", big)

	if _, err := g.SetLayout(layouts.Spec{Template: layouts.TemplateGrid, Gap: 20}); err != nil {
		t.Fatal(err)
	}
	_, lay = g.Layout()
	small := lay.Tiles[0]
	if small.Width >= big.Width {
		t.Fatalf("gap did not shrink the tile: %+v → %+v", big, small)
	}
	tap.mu.Lock()
	tap.x, tap.y = small.X+small.Width/8, small.Y+small.Height/8 // clear of the initials
	tap.mu.Unlock()
	mark := tap.count()
	waitSize("after the resize", small)
	time.Sleep(300 * time.Millisecond) // frames after the new one is in
	if s := tap.since(mark); len(s) < 5 || strings.ContainsAny(s, "rb?") {
		t.Errorf("the tile showed something else than its placeholder across the resize: %s", runs(s))
	} else {
		t.Logf("across the resize: %s", runs(s))
	}

	if err := g.Remove("mic"); err != nil {
		t.Fatal(err)
	}
	if dot := gstx.DotGraph(pipe); regexp.MustCompile(`aph-a\d+-`).MatchString(dot) {
		t.Error("the participant's elements are still in the pipeline after Remove")
	}
}
