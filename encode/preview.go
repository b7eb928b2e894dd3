package encode

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// PreviewSettings describe a live JPEG preview of raw video.
type PreviewSettings struct {
	Width, Height int // output size (even)
	FPS           int // frames per second delivered (default 5)
	Quality       int // JPEG quality 1-100 (default 70)
	Name          string
}

func (s *PreviewSettings) defaults() error {
	if s.FPS == 0 {
		s.FPS = 5
	}
	if s.Quality == 0 {
		s.Quality = 70
	}
	switch {
	case s.Width <= 0 || s.Height <= 0 || s.Width%2 != 0 || s.Height%2 != 0:
		return fmt.Errorf("preview: size %dx%d must be positive and even", s.Width, s.Height)
	case s.FPS < 1 || s.FPS > 30:
		return fmt.Errorf("preview: fps %d: want 1-30", s.FPS)
	case s.Quality < 1 || s.Quality > 100:
		return fmt.Errorf("preview: quality %d: want 1-100", s.Quality)
	}
	return nil
}

// Preview is a low-rate branch for watching mixed video live:
//
//	queue (leaky, 1 buffer) ! videorate (drop only) ! videoscale ! videoconvert !
//	capsfilter ! jpegenc ! appsink (no clock sync, latest buffer only)
//
// The leaky queue means the tee feeding it is never held up: a slow encoder
// loses frames, never the recording next to it. Frames reach the callback
// given to NewPreview on the branch's streaming thread.
type Preview struct {
	// Bin has a ghost "sink" pad taking raw video. Add it with
	// pipeline.Add(Bin.Element), then SyncStateWithParent.
	Bin  *gst.Bin
	sink *app.Sink
}

// NewPreview builds the preview bin. onFrame gets each JPEG as a fresh Go
// slice; it runs on a GStreamer streaming thread and must not block.
func NewPreview(s PreviewSettings, onFrame func(jpeg []byte)) (*Preview, error) {
	if err := s.defaults(); err != nil {
		return nil, err
	}
	if onFrame == nil {
		return nil, errors.New("preview: no frame callback")
	}
	name := binName(s.Name, "preview")
	bin := gst.NewBin(name)
	mk := func(factory, suffix string) (*gst.Element, error) {
		e, err := gst.NewElementWithName(factory, name+"-"+suffix)
		if err != nil {
			return nil, fmt.Errorf("preview: %s: %w", factory, err)
		}
		return e, nil
	}
	q, err := mk("queue", "q")
	if err != nil {
		return nil, err
	}
	q.SetArg("leaky", "downstream")
	for k, v := range map[string]any{"max-size-buffers": uint(1), "max-size-bytes": uint(0), "max-size-time": uint64(0)} {
		if err := q.SetProperty(k, v); err != nil {
			return nil, fmt.Errorf("preview: queue %s: %w", k, err)
		}
	}
	rate, err := mk("videorate", "rate")
	if err != nil {
		return nil, err
	}
	if err := rate.SetProperty("drop-only", true); err != nil {
		return nil, fmt.Errorf("preview: videorate: %w", err)
	}
	scale, err := mk("videoscale", "scale")
	if err != nil {
		return nil, err
	}
	conv, err := mk("videoconvert", "conv")
	if err != nil {
		return nil, err
	}
	caps, err := mk("capsfilter", "caps")
	if err != nil {
		return nil, err
	}
	if err := caps.SetProperty("caps", gst.NewCapsFromString(fmt.Sprintf(
		"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1", s.Width, s.Height, s.FPS))); err != nil {
		return nil, fmt.Errorf("preview: caps: %w", err)
	}
	jpeg, err := mk("jpegenc", "jpeg")
	if err != nil {
		return nil, err
	}
	if err := jpeg.SetProperty("quality", s.Quality); err != nil {
		return nil, fmt.Errorf("preview: jpegenc quality: %w", err)
	}
	sinkEl, err := mk("appsink", "sink")
	if err != nil {
		return nil, err
	}
	sink := app.SinkFromElement(sinkEl)
	sink.SetDrop(true)
	sink.SetMaxBuffers(1)
	for k, v := range map[string]any{"sync": false, "async": false, "enable-last-sample": false} {
		if err := sinkEl.SetProperty(k, v); err != nil {
			return nil, fmt.Errorf("preview: appsink %s: %w", k, err)
		}
	}
	elems := []*gst.Element{q, rate, scale, conv, caps, jpeg, sinkEl}
	if err := bin.AddMany(elems...); err != nil {
		return nil, fmt.Errorf("preview: add: %w", err)
	}
	if err := gst.ElementLinkMany(elems...); err != nil {
		return nil, fmt.Errorf("preview: link: %w", err)
	}
	if err := ghost(bin, "sink", q.GetStaticPad("sink")); err != nil {
		return nil, err
	}
	sink.SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			if b := pullBytes(s); len(b) > 0 {
				onFrame(b)
			}
			return gst.FlowOK
		},
	})
	return &Preview{Bin: bin, sink: sink}, nil
}

// pullBytes copies the next sample's bytes into Go memory and frees the
// sample and buffer now rather than in finalizers (GSTREAMER.md pitfall 2):
// each wrapper owns exactly one reference, and neither is used afterwards.
func pullBytes(s *app.Sink) []byte {
	smp := s.PullSample()
	if smp == nil {
		return nil
	}
	var data []byte
	if buf := smp.GetBuffer(); buf != nil {
		data = buf.Bytes()
		runtime.SetFinalizer(buf, nil)
		buf.Unref()
	}
	runtime.SetFinalizer(smp, nil)
	smp.Unref()
	return data
}
