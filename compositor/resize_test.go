package compositor

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// frameTap keeps the size and the luma plane of the latest I420 frame,
// whatever its size.
type frameTap struct {
	mu    sync.Mutex
	w, h  int
	luma  []byte
	sizes map[[2]int]int // frames seen per size
}

func (f *frameTap) sink(t *testing.T, name string) *app.Sink {
	t.Helper()
	return sampleSink(t, name, "video/x-raw,format=I420", func(smp *gst.Sample) {
		st := smp.GetCaps().GetStructureAt(0)
		wv, _ := st.GetValue("width")
		hv, _ := st.GetValue("height")
		w, _ := wv.(int)
		h, _ := hv.(int)
		b := smp.GetBuffer().Bytes()
		if w > 0 && h > 0 && len(b) >= w*h {
			f.mu.Lock()
			f.w, f.h, f.luma = w, h, b[:w*h]
			if f.sizes == nil {
				f.sizes = map[[2]int]int{}
			}
			f.sizes[[2]int{w, h}]++
			f.mu.Unlock()
		}
	})
}

// rate counts the frames of the next d, per second.
func (f *frameTap) rate(d time.Duration) float64 {
	count := func() (n int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.sizes {
			n += c
		}
		return n
	}
	before := count()
	time.Sleep(d)
	return float64(count()-before) / d.Seconds()
}

// lumaAt is the latest frame's size and its Y at (x, y).
func (f *frameTap) lumaAt(x, y int) (w, h int, luma int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.luma == nil || x >= f.w || y >= f.h {
		return f.w, f.h, -1
	}
	return f.w, f.h, int(f.luma[y*f.w+x])
}

// tapFrames puts a frameTap named name on a new video output of g, in
// pipe; the output is finished and closed when the test ends.
func tapFrames(t *testing.T, pipe *gst.Pipeline, g *Graph, name string) *frameTap {
	t.Helper()
	tap := &frameTap{}
	t.Cleanup(onVideoOutput(t, g, pipe, tap.sink(t, name)))
	return tap
}

// TestSetFrameGrowsTheMix: a mix of 320x180 at 15 fps grown to 1280x720 at
// 30 fps while it runs puts out frames of the new size and rate to the
// consumer it already had, with the background across the new frame and the
// tile's picture inside its new rectangle (a 4:3 camera, pillarboxed: the
// edges checked 2 px either side of where the layout computed them).
func TestSetFrameGrowsTheMix(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("resizetest")
	if err != nil {
		t.Fatal(err)
	}
	_, cam := teeSource(t, pipe, greenSource(480, 360)+"tee name=cam allow-not-linked=true", "cam")
	g := playGraph(t, pipe, Config{Name: "rs", Width: 320, Height: 180, FPS: 15,
		Layout: layouts.Spec{Template: layouts.TemplateGrid, Background: "#ffffff"}})
	tap := tapFrames(t, pipe, g, "rstap")
	if err := g.Add(Input{TrackID: "cam", Participant: "a", Kind: "video", Decoder: "identity", Pad: cam}); err != nil {
		t.Fatal(err)
	}

	// shows waits until the latest frame is w x h with the background left
	// of the tile's content and the camera's green inside it.
	shows := func(w, h int) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			_, lay := g.Layout()
			if len(lay.Tiles) != 1 {
				t.Fatalf("layout: %+v", lay)
			}
			c := lay.Tiles[0].Content
			midY := c.Y + c.Height/2
			fw, fh, bg := tap.lumaAt(c.X-3, midY)
			_, _, edgeOut := tap.lumaAt(c.X-2, midY)
			_, _, edgeIn := tap.lumaAt(c.X+2, midY)
			_, _, mid := tap.lumaAt(c.X+c.Width/2, midY)
			got = fmt.Sprintf("frame %dx%d, content x %d+%d, Y background %d, 2 px outside %d, 2 px inside %d, middle %d",
				fw, fh, c.X, c.Width, bg, edgeOut, edgeIn, mid)
			// White background Y 235; the green's Y ~145.
			if fw == w && fh == h && bg > 220 && edgeOut > 220 && near(edgeIn, 145, 12) && near(mid, 145, 12) {
				t.Logf("%dx%d: %s", w, h, got)
				return
			}
		}
		t.Fatalf("want a %dx%d frame: background left of the content, green inside; got %s", w, h, got)
	}
	shows(320, 180)
	if got := tap.rate(2 * time.Second); got < 13 || got > 17 {
		t.Errorf("%.1f frames a second at 15 fps", got)
	}
	if err := g.SetFrame(1280, 720, 30); err != nil {
		t.Fatal(err)
	}
	if w, h, fps := g.Frame(); w != 1280 || h != 720 || fps != 30 {
		t.Fatalf("Frame() = %dx%d@%d after SetFrame(1280, 720, 30)", w, h, fps)
	}
	shows(1280, 720)
	if got := tap.rate(2 * time.Second); got < 27 || got > 33 {
		t.Errorf("%.1f frames a second after SetFrame(…, 30), want 30", got)
	}

	for _, bad := range [][3]int{{1279, 720, 30}, {1280, 720, 0}} {
		if err := g.SetFrame(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("SetFrame(%v) accepted", bad)
		}
	}
	if w, h, fps := g.Frame(); w != 1280 || h != 720 || fps != 30 {
		t.Errorf("a refused SetFrame changed the frame to %dx%d@%d", w, h, fps)
	}
}

func near(v, want, tol int) bool { return v >= want-tol && v <= want+tol }

// TestSetFrameBackAndForth: frame changes in quick succession (a composite
// that grows the mix and fails to start, then another that grows it again;
// here 41 changes 0–6 ms apart) end with the mix at the last frame asked
// for, at its rate. Before the mix's capsfilter was in delayed mode (see
// newMutableCapsFilter) two of some thirty runs froze at a stale frame.
func TestSetFrameBackAndForth(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("bouncetest")
	if err != nil {
		t.Fatal(err)
	}
	g := playGraph(t, pipe, Config{Name: "bn", Width: 320, Height: 180, FPS: 15,
		Layout: layouts.Spec{Template: layouts.TemplateGrid, Background: "#ffffff"}})
	tap := tapFrames(t, pipe, g, "bntap")
	time.Sleep(500 * time.Millisecond)
	frames := [][3]int{{1280, 720, 30}, {320, 180, 15}}
	for i := range 40 {
		f := frames[i%2]
		if err := g.SetFrame(f[0], f[1], f[2]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%7) * time.Millisecond)
	}
	if err := g.SetFrame(1280, 720, 30); err != nil {
		t.Fatal(err)
	}
	var w, h int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if w, h, _ = tap.lumaAt(0, 0); w == 1280 && h == 720 {
			break
		}
	}
	if w != 1280 || h != 720 {
		t.Fatalf("latest frame %dx%d after the mix went back and forth to 1280x720", w, h)
	}
	if got := tap.rate(2 * time.Second); got < 27 || got > 33 {
		t.Errorf("%.1f frames a second after the mix went back and forth to 30 fps", got)
	}
}
