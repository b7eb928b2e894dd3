package encode

import (
	"bytes"
	"image/jpeg"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// TestPreviewJPEGFrames: 30 fps of live 1280x720 video through the preview
// bin become JPEG frames of the preview's size, far fewer than the input.
func TestPreviewJPEGFrames(t *testing.T) {
	gstx.Init()
	var mu sync.Mutex
	var frames [][]byte
	p, err := NewPreview(PreviewSettings{Width: 320, Height: 180, FPS: 5, Name: "pv"}, func(b []byte) {
		mu.Lock()
		frames = append(frames, b)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := gst.NewPipelineFromString("videotestsrc name=src is-live=true num-buffers=45 pattern=ball ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! queue name=q")
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.Add(p.Bin.Element); err != nil {
		t.Fatal(err)
	}
	q, _ := pipe.GetElementByName("q")
	if ret := q.GetStaticPad("src").Link(p.Bin.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatalf("link: %s", ret)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(15*time.Second), gst.MessageEOS|gst.MessageError)
	if msg == nil || msg.Type() != gst.MessageEOS {
		if msg != nil && msg.Type() == gst.MessageError {
			t.Fatalf("pipeline error: %s", msg.ParseError().Error())
		}
		t.Fatal("no EOS within 15 s")
	}
	if err := gstx.StopElement(pipe.Element, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// 45 input frames are 1.5 s of video: about 8 at 5 fps (the leaky queue
	// may drop some on a busy machine, never add any).
	if len(frames) < 1 || len(frames) > 9 {
		t.Fatalf("%d preview frames from 45 input frames at 5 fps", len(frames))
	}
	for i, f := range frames {
		img, err := jpeg.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 180 {
			t.Fatalf("frame %d: %dx%d, want 320x180", i, b.Dx(), b.Dy())
		}
	}
	t.Logf("%d frames, first %d bytes", len(frames), len(frames[0]))
}

func TestPreviewSettingsRefused(t *testing.T) {
	for _, s := range []PreviewSettings{{Width: 0, Height: 180}, {Width: 321, Height: 180}, {Width: 320, Height: 180, FPS: 100}, {Width: 320, Height: 180, Quality: 101}} {
		if _, err := NewPreview(s, func([]byte) {}); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if _, err := NewPreview(PreviewSettings{Width: 320, Height: 180}, nil); err == nil {
		t.Error("nil callback accepted")
	}
}
