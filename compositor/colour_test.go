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

// yuvTap keeps the Y, U and V of given points of the latest I420 frame.
type yuvTap struct {
	mu     sync.Mutex
	w, h   int
	points [][2]int
	last   [][3]byte
	frames int
}

func (y *yuvTap) got(b []byte) {
	cw := (y.w + 1) / 2
	ysize, csize := y.w*y.h, cw*((y.h+1)/2)
	if len(b) < ysize+2*csize {
		return
	}
	vals := make([][3]byte, len(y.points))
	for i, p := range y.points {
		c := p[1]/2*cw + p[0]/2
		vals[i] = [3]byte{b[p[1]*y.w+p[0]], b[ysize+c], b[ysize+csize+c]}
	}
	y.mu.Lock()
	y.last, y.frames = vals, y.frames+1
	y.mu.Unlock()
}

// TestVP8IsBT601AtAnySize: the VP8 bitstream has one colour space, BT.601,
// so the same picture sent at 360p and at 720p shows the same Y, U and V
// in the composite (vp8dec tags 720p BT.709 by its size; untreated, the
// compositor would convert that tile's colours).
func TestVP8IsBT601AtAnySize(t *testing.T) {
	// As a room's track gives it: depayloaded, without the encoder's caps.
	sameColoursAtAnySize(t, "vp8dec", func(name string, w, h int) string {
		return greenSource(w, h) + "vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay ! rtpvp8depay ! " +
			fmt.Sprintf("tee name=%s allow-not-linked=true", name)
	})
}

// TestUnsignalledColourIsBT601AtAnySize: a decoder whose bitstream does not
// say its colour space (VP9's CS_UNKNOWN, H.264 without a VUI colour
// description: vp9dec and avdec_h264 then leave colorimetry out of their
// caps) stands in here as identity passing raw video with the colour
// fields taken out. The 720p tile must show the same colours as the 360p
// one, not be converted from a BT.709 guessed by its size.
func TestUnsignalledColourIsBT601AtAnySize(t *testing.T) {
	sameColoursAtAnySize(t, "identity", func(name string, w, h int) string {
		return greenSource(w, h) + fmt.Sprintf("capssetter replace=true caps=video/x-raw,format=I420,width=%d,height=%d,framerate=15/1,pixel-aspect-ratio=1/1 ! "+
			"tee name=%s allow-not-linked=true", w, h, name)
	})
}

// TestUnsignalledH264IsBT601AtAnySize: OpenH264, the encoder of browsers'
// software H.264, writes no colour description; avdec_h264 then leaves
// colorimetry out of its caps. Through RTP and the track's parser, as a
// room gives it.
func TestUnsignalledH264IsBT601AtAnySize(t *testing.T) {
	sameColoursAtAnySize(t, "avdec_h264", func(name string, w, h int) string {
		return greenSource(w, h) + "openh264enc gop-size=15 ! rtph264pay ! rtph264depay ! h264parse config-interval=-1 ! " +
			fmt.Sprintf("video/x-h264,stream-format=avc3,alignment=au ! tee name=%s allow-not-linked=true", name)
	})
}

// greenSource is the start of a source description: a live green picture
// of w x h, BT.601, centred chroma, ending in "! ".
func greenSource(w, h int) string {
	return fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=0xff00ff00 ! "+
		"video/x-raw,format=I420,width=%d,height=%d,framerate=15/1,colorimetry=bt601,chroma-site=jpeg ! ", w, h)
}

// sameColoursAtAnySize sends a green picture at 360p and at 720p (source
// gives each one's description, ending in a tee called name) through tiles
// decoded by decoder, and fails unless both tiles show the source's own
// BT.601 Y, U and V.
func sameColoursAtAnySize(t *testing.T, decoder string, source func(name string, w, h int) string) {
	t.Helper()
	gstx.Init()
	pipe, err := gst.NewPipeline("colourtest")
	if err != nil {
		t.Fatal(err)
	}
	src := func(name string, w, h int) *gst.Pad {
		_, pad := teeSource(t, pipe, source(name, w, h), name)
		return pad
	}
	sd, hd := src("sd", 640, 360), src("hd", 1280, 720)
	const w, h = 1280, 720
	g := playGraph(t, pipe, Config{Name: "col", Width: w, Height: h, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	out, err := g.VideoOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { out.Finish(); out.Close() }()
	for _, in := range []Input{{TrackID: "sd", Participant: "a", Kind: "video", Decoder: decoder, Pad: sd},
		{TrackID: "hd", Participant: "b", Kind: "video", Decoder: decoder, Pad: hd}} {
		if err := g.Add(in); err != nil {
			t.Fatal(err)
		}
	}
	_, lay := g.Layout()
	if len(lay.Tiles) != 2 {
		t.Fatalf("layout: %+v", lay)
	}
	tap := &yuvTap{w: w, h: h}
	for _, tile := range lay.Tiles {
		tap.points = append(tap.points, [2]int{tile.X + tile.Width/2, tile.Y + tile.Height/2})
	}
	sink := bytesSink(t, "coltap", fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d", w, h), tap.got)
	pipe.Add(sink.Element)
	if ret := out.Pad.Link(sink.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	sink.SyncStateWithParent()

	// The source's own values: videotestsrc's BT.601 conversion of the colour.
	want := [3]int{}
	{
		p, err := gst.NewPipelineFromString("videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff00ff00 ! " +
			"video/x-raw,format=I420,width=64,height=64,colorimetry=bt601,chroma-site=jpeg ! appsink name=out")
		if err != nil {
			t.Fatal(err)
		}
		ref := &yuvTap{w: 64, h: 64, points: [][2]int{{32, 32}}}
		e, _ := p.GetElementByName("out")
		s := app.SinkFromElement(e)
		_ = p.SetState(gst.StatePlaying)
		ref.got(s.PullSample().GetBuffer().Bytes())
		_ = p.SetState(gst.StateNull)
		for k := range want {
			want[k] = int(ref.last[0][k])
		}
	}
	near := func(a [3]byte) bool {
		for k := range a {
			if d := int(a[k]) - want[k]; d < -4 || d > 4 {
				return false
			}
		}
		return true
	}
	var last [][3]byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		tap.mu.Lock()
		last = tap.last
		tap.mu.Unlock()
		if len(last) == 2 && near(last[0]) && near(last[1]) {
			t.Logf("tiles' Y,U,V: 360p %v, 720p %v; the source's %v", last[0], last[1], want)
			return
		}
	}
	t.Fatalf("tiles' Y,U,V: 360p %v, 720p %v; the source's %v", last[0], last[1], want)
}
