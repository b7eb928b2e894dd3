package mocksfu

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// This file is the only one that touches GStreamer.

var gstInitOnce sync.Once

func initGStreamer() { gstInitOnce.Do(func() { gst.Init(nil) }) }

// pipeSpec describes one sender pipeline (one track).
type pipeSpec struct {
	name      string // pipeline name (for logs)
	kind      string // KindVideo / KindAudio
	codec     string
	label     string // text drawn on the video
	index     int    // participant index, selects pattern / frequency
	width     int
	height    int
	fps       int
	bitrate   int // bits/s
	keyDist   int // frames between natural keyframes
	dtx       bool
	ssrc      uint32
	pt        uint8
	seqOffset uint16
	tsOffset  uint32
}

// Video test patterns that move (ball on its own, the rest scroll via
// horizontal-speed), so every participant is recognisable in a composite.
var videoPatterns = []struct {
	pattern string
	speed   int
	extra   string
}{
	{"ball", 0, "motion=wavy background-color=0xff202060"},
	{"smpte", 4, ""},
	{"pinwheel", 3, ""},
	{"ball", 0, "motion=sweep background-color=0xff206020 foreground-color=0xffffff00"},
	{"spokes", 2, ""},
	{"colors", 5, ""},
	{"zone-plate", 0, "kt=2"},
	{"bar", 6, "foreground-color=0xffff8000"},
	{"ball", 0, "motion=hsweep background-color=0xff602020"},
	{"checkers-8", 3, ""},
	{"circular", 4, ""},
	{"gradient", 5, ""},
}

// audioFreq is the sine frequency of participant index k (0-based).
func audioFreq(k int) float64 { return 300 + 110*float64(k%20) }

func (s pipeSpec) launch() (string, error) {
	switch s.kind {
	case KindVideo:
		p := videoPatterns[s.index%len(videoPatterns)]
		src := fmt.Sprintf("videotestsrc name=src is-live=true pattern=%s horizontal-speed=%d %s ! "+
			"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1 ! "+
			"videoscale ! capsfilter name=res caps-change-mode=delayed caps=\"%s\" ! "+
			"textoverlay name=label valignment=top halignment=left font-desc=\"Sans 18\" shaded-background=true ! "+
			// If the encoder cannot keep up, drop raw frames (as a browser
			// does) instead of letting the latency grow.
			"videoconvert ! queue leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 ! ",
			p.pattern, p.speed, p.extra, s.width, s.height, s.fps, resCaps(s.width, s.height))
		pay := fmt.Sprintf("mtu=1200 pt=%d ssrc=%d seqnum-offset=%d timestamp-offset=%d", s.pt, s.ssrc, s.seqOffset, s.tsOffset)
		var enc string
		switch s.codec {
		case VideoVP8:
			enc = fmt.Sprintf("vp8enc name=enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=%d keyframe-max-dist=%d "+
				"lag-in-frames=0 error-resilient=default threads=2 ! rtpvp8pay name=pay picture-id-mode=15-bit %s", s.bitrate, s.keyDist, pay)
		case VideoVP9:
			enc = fmt.Sprintf("vp9enc name=enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=%d keyframe-max-dist=%d "+
				"lag-in-frames=0 error-resilient=default threads=2 row-mt=true tile-columns=1 ! rtpvp9pay name=pay picture-id-mode=15-bit %s", s.bitrate, s.keyDist, pay)
		case VideoH264:
			enc = fmt.Sprintf("x264enc name=enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max=%d bitrate=%d byte-stream=true aud=false ! "+
				"video/x-h264,profile=constrained-baseline,stream-format=byte-stream ! "+
				"rtph264pay name=pay config-interval=-1 aggregate-mode=zero-latency %s", s.keyDist, max(1, s.bitrate/1000), pay)
		default:
			return "", fmt.Errorf("unsupported video codec %q", s.codec)
		}
		return src + enc + " ! " + sinkDesc, nil
	case KindAudio:
		if s.codec != AudioOpus {
			return "", fmt.Errorf("unsupported audio codec %q", s.codec)
		}
		return fmt.Sprintf("audiotestsrc name=src is-live=true wave=sine freq=%g volume=0.4 samplesperbuffer=960 ! "+
			"audio/x-raw,rate=48000,channels=1 ! audioconvert ! "+
			"opusenc name=enc bitrate=%d frame-size=20 dtx=%t ! "+
			"rtpopuspay name=pay dtx=%t mtu=1200 pt=%d ssrc=%d seqnum-offset=%d timestamp-offset=%d ! %s",
			audioFreq(s.index), s.bitrate, s.dtx, s.dtx, s.pt, s.ssrc, s.seqOffset, s.tsOffset, sinkDesc), nil
	}
	return "", fmt.Errorf("unknown track kind %q", s.kind)
}

// appsink: no clock sync (the live source paces, the packets leave as soon as
// they are encoded, like a browser's); callbacks instead of signals.
const sinkDesc = "appsink name=sink sync=false async=false emit-signals=false max-buffers=64 drop=true"

func resCaps(w, h int) string {
	return fmt.Sprintf("video/x-raw,width=%d,height=%d,pixel-aspect-ratio=1/1", w, h)
}

// senderPipeline is a live GStreamer pipeline producing RTP packets for one
// track. It is owned by a session; stop() must be called exactly once.
type senderPipeline struct {
	spec     pipeSpec
	pipeline *gst.Pipeline
	sink     *app.Sink
	src      *gst.Element // videotestsrc / audiotestsrc
	res      *gst.Element // video: resolution capsfilter
	encSrc   *gst.Pad     // video: encoder src pad (force-key-unit target)

	mu      sync.Mutex // guards stopped and element access from other goroutines
	stopped bool

	// The pipeline's clock and base time, read at the first packet (the
	// pipeline is playing by then), for capture times.
	clockOnce sync.Once
	clock     *gst.Clock
	baseTime  gst.ClockTime
}

// newSenderPipeline builds the pipeline (state NULL). onPacket receives each
// RTP packet as a fresh Go slice with the wall-clock time its media was
// captured (zero if unknown); it runs on a GStreamer streaming thread and
// must not block.
func newSenderPipeline(spec pipeSpec, onPacket func(b []byte, captured time.Time)) (*senderPipeline, error) {
	initGStreamer()
	desc, err := spec.launch()
	if err != nil {
		return nil, err
	}
	pl, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return nil, fmt.Errorf("build %s pipeline: %w", spec.name, err)
	}
	p := &senderPipeline{spec: spec, pipeline: pl}
	sinkEl, err := pl.GetElementByName("sink")
	if err != nil {
		return nil, fmt.Errorf("%s: appsink: %w", spec.name, err)
	}
	p.sink = app.SinkFromElement(sinkEl)
	if p.src, err = pl.GetElementByName("src"); err != nil {
		return nil, fmt.Errorf("%s: source: %w", spec.name, err)
	}
	if spec.kind == KindVideo {
		if p.res, err = pl.GetElementByName("res"); err != nil {
			return nil, fmt.Errorf("%s: capsfilter: %w", spec.name, err)
		}
		label, err := pl.GetElementByName("label")
		if err != nil {
			return nil, fmt.Errorf("%s: textoverlay: %w", spec.name, err)
		}
		if err := label.SetProperty("text", spec.label); err != nil {
			return nil, fmt.Errorf("%s: textoverlay text: %w", spec.name, err)
		}
		enc, err := pl.GetElementByName("enc")
		if err != nil {
			return nil, fmt.Errorf("%s: encoder: %w", spec.name, err)
		}
		if p.encSrc = enc.GetStaticPad("src"); p.encSrc == nil {
			return nil, fmt.Errorf("%s: encoder has no src pad", spec.name)
		}
	}
	p.sink.SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			if b, pts := pullPacket(s); len(b) > 0 {
				onPacket(b, p.captureTime(pts))
			}
			return gst.FlowOK
		},
	})
	return p, nil
}

// pullPacket copies the next sample's bytes into Go memory and releases the
// GStreamer sample and buffer immediately instead of waiting for finalizers
// (GSTREAMER.md pitfall 2): both wrappers own exactly one reference (the
// sample by transfer-full, the buffer wrapper took its own ref), so dropping
// the finalizer and unreffing once is balanced, and nothing is used afterwards.
func pullPacket(s *app.Sink) (data []byte, pts gst.ClockTime) {
	smp := s.PullSample()
	if smp == nil {
		return nil, gst.ClockTimeNone
	}
	pts = gst.ClockTimeNone
	if buf := smp.GetBuffer(); buf != nil {
		data = buf.Bytes() // map, copy (C.GoBytes), unmap
		pts = buf.PresentationTimestamp()
		runtime.SetFinalizer(buf, nil)
		buf.Unref()
	}
	runtime.SetFinalizer(smp, nil)
	smp.Unref()
	return data, pts
}

// captureTime is the wall-clock time at which the media of a packet stamped
// pts was captured: the live source stamps its buffers with the pipeline's
// running time at capture, and the payloader keeps that stamp. Zero if
// unknown.
func (p *senderPipeline) captureTime(pts gst.ClockTime) time.Time {
	if pts == gst.ClockTimeNone {
		return time.Time{}
	}
	p.clockOnce.Do(func() {
		p.clock = p.pipeline.GetPipelineClock()
		p.baseTime = p.pipeline.GetBaseTime()
	})
	if p.clock == nil {
		return time.Time{}
	}
	now := time.Now()
	running := time.Duration(int64(p.clock.GetTime()) - int64(p.baseTime))
	return now.Add(time.Duration(pts) - running)
}

// pollBus pops pending messages without blocking (no GLib main loop, no
// thread parked in the bus; pitfall 6): it returns an error for an ERROR or
// EOS message and discards everything else, so the bus queue cannot grow.
// Called periodically by the session's send loop while the pipeline runs.
func (p *senderPipeline) pollBus() error {
	bus := p.pipeline.GetPipelineBus()
	for {
		msg := bus.TimedPopFiltered(0, gst.MessageError|gst.MessageEOS)
		if msg == nil {
			return nil
		}
		switch msg.Type() {
		case gst.MessageError:
			gerr := msg.ParseError()
			return fmt.Errorf("%s pipeline: %s: %s (%s)", p.spec.name, msg.Source(), gerr.Error(), gerr.DebugString())
		case gst.MessageEOS:
			return fmt.Errorf("%s pipeline: unexpected EOS", p.spec.name)
		}
	}
}

func (p *senderPipeline) start() error {
	if err := p.pipeline.SetState(gst.StatePlaying); err != nil {
		return fmt.Errorf("%s: %w", p.spec.name, err)
	}
	return nil
}

// forceKeyUnit asks the encoder for a keyframe with an upstream
// GstForceKeyUnit event (what gst_video_event_new_upstream_force_key_unit
// builds), sent to the encoder's src pad. Reports whether the encoder took it.
func (p *senderPipeline) forceKeyUnit() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.encSrc == nil {
		return false
	}
	st := gst.NewStructure("GstForceKeyUnit")
	// Structures are consumed by the event (pitfall 4): not used after NewCustomEvent.
	if st.SetValue("running-time", uint64(gst.ClockTimeNone)) != nil ||
		st.SetValue("all-headers", true) != nil ||
		st.SetValue("count", uint(0)) != nil {
		st.Free()
		return false
	}
	return p.encSrc.SendEvent(gst.NewCustomEvent(gst.EventTypeCustomUpstream, st))
}

// setResolution changes the scaled video size; the encoder renegotiates
// (and emits a keyframe at the new size). The capsfilter is in delayed mode
// so that a change racing a renegotiation is not an empty intersection
// (see compositor.newMutableCapsFilter).
func (p *senderPipeline) setResolution(w, h int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.res == nil {
		return nil
	}
	return p.res.SetProperty("caps", gst.NewCapsFromString(resCaps(w, h)))
}

// setVolume sets the audio source's volume (0 = silence, for DTX gaps).
func (p *senderPipeline) setVolume(v float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.spec.kind != KindAudio {
		return nil
	}
	return p.src.SetProperty("volume", math.Max(0, v))
}

// stop sets the pipeline to NULL (no more callbacks after it returns). It
// gives up waiting after timeout.
func (p *senderPipeline) stop(timeout time.Duration) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()

	done := make(chan error, 1)
	go func() { done <- p.pipeline.BlockSetState(gst.StateNull) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		err = errors.New("timed out setting the pipeline to NULL")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.spec.name, err)
	}
	return nil
}
