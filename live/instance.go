package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
)

// instance is one attempt of an output: its own pipeline, fed by appsrcs.
type instance struct {
	pipe  *gst.Pipeline
	srcs  [2]*app.Source // by Kind
	bytes *gstx.Times    // on the sink element's input (nil for RTP)
	errs  chan error

	stopBus context.CancelFunc
	busDone <-chan struct{}
	sinks   []*app.Sink // RTP appsinks, callbacks cleared at close
	// netSink is rtmp2sink or srtsink, whose "stats" count the bytes
	// really written to the network (statsField): they take buffers while
	// still connecting, and srtsink gets buffer lists a buffer probe misses.
	netSink    *gst.Element
	statsField string

	mu      sync.Mutex
	closed  bool
	capsSet [2]bool
	started bool  // video has begun at a keyframe
	base    int64 // room running time of that keyframe: running time 0 here
}

// pipelines per type: the structure only; values are set as properties
// after parsing, so no user string reaches the launch syntax.
var launches = map[string]string{
	TypeRTMP: "appsrc name=v ! h264parse ! queue ! flvmux name=mux streamable=true ! rtmp2sink name=sink " +
		"appsrc name=a ! aacparse ! queue ! mux.",
	TypeSRT: "appsrc name=v ! h264parse ! queue ! mpegtsmux name=mux alignment=7 ! srtsink name=sink " +
		"appsrc name=a ! aacparse ! queue ! mux.",
	TypeHLS: "hlssink2 name=sink appsrc name=v ! h264parse ! queue ! sink.video " +
		"appsrc name=a ! aacparse ! queue ! sink.audio",
	TypeRTP: "rtpbin name=rtpbin " +
		"appsrc name=v ! h264parse config-interval=-1 ! rtph264pay name=vpay config-interval=-1 mtu=1200 aggregate-mode=zero-latency ! rtpbin.send_rtp_sink_0 " +
		"rtpbin.send_rtp_src_0 ! appsink name=vrtp rtpbin.send_rtcp_src_0 ! appsink name=vrtcp " +
		"appsrc name=a ! rtpopuspay name=apay ! rtpbin.send_rtp_sink_1 " +
		"rtpbin.send_rtp_src_1 ! appsink name=artp rtpbin.send_rtcp_src_1 ! appsink name=artcp",
}

// build makes and starts the pipeline of one attempt.
func build(o *Output) (_ *instance, err error) {
	spec := o.cfg.Spec
	pipe, err := gst.NewPipelineFromString(launches[spec.Type])
	if err != nil {
		return nil, errorf("%s pipeline: %w", spec.Type, err)
	}
	in := &instance{pipe: pipe, errs: make(chan error, 1)}
	defer func() {
		if err != nil {
			in.close(false)
		}
	}()
	set := func(elem, prop string, v any) error {
		e, err := pipe.GetElementByName(elem)
		if err != nil {
			return errorf("%s: %w", elem, err)
		}
		if err := e.SetProperty(prop, v); err != nil {
			return errorf("%s.%s: %w", elem, prop, err)
		}
		return nil
	}
	for i, name := range []string{"v", "a"} {
		e, err := pipe.GetElementByName(name)
		if err != nil {
			return nil, errorf("appsrc %s: %w", name, err)
		}
		src := app.SrcFromElement(e)
		src.SetArg("format", "time")
		// Not live: the muxers interleave strictly by timestamp, and the
		// sinks do not sync (the room upstream is live already). A stalled
		// destination fills 3 s and then loses the newest media (the
		// attempt fails soon after anyway).
		src.SetArg("leaky-type", "upstream")
		for k, v := range map[string]any{"is-live": false, "block": false, "max-bytes": uint64(16 << 20), "max-time": uint64(3 * time.Second)} {
			if err := src.SetProperty(k, v); err != nil {
				return nil, errorf("appsrc %s.%s: %w", name, k, err)
			}
		}
		in.srcs[i] = src
	}
	switch spec.Type {
	case TypeRTMP:
		err = errors.Join(set("sink", "location", spec.URL), set("sink", "sync", false), set("sink", "async", false))
	case TypeSRT:
		err = errors.Join(set("sink", "uri", spec.URI), set("sink", "sync", false), set("sink", "async", false),
			set("sink", "auto-reconnect", false))
	case TypeHLS:
		if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
			return nil, errorf("hls directory: %w", err)
		}
		err = errors.Join(set("sink", "location", filepath.Join(spec.Dir, "segment%05d.ts")),
			set("sink", "playlist-location", filepath.Join(spec.Dir, "playlist.m3u8")),
			set("sink", "target-duration", uint(spec.SegmentS)), set("sink", "max-files", uint(20)),
			set("sink", "playlist-length", uint(6)))
	case TypeRTP:
		err = errors.Join(set("vpay", "pt", uint(spec.VideoPT)), set("vpay", "ssrc", uint(o.rtp.ssrc)),
			set("apay", "pt", uint(spec.AudioPT)), set("apay", "ssrc", uint(o.rtp.ssrc+1)))
		if err == nil {
			err = in.rtpSinks(o.rtp)
		}
	}
	if err != nil {
		return nil, err
	}
	if spec.Type != TypeRTP {
		if err := in.countBytes(spec.Type); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.stopBus = cancel
	in.busDone = gstx.WatchBus(ctx, pipe, func(m gstx.BusMessage) {
		switch m.Type {
		case gst.MessageError:
			in.fail(fmt.Errorf("%s: %s", m.Source, m.Text))
		case gst.MessageEOS:
			in.fail(errors.New("destination ended the stream"))
		}
	})
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		return nil, errorf("start: %w", err)
	}
	return in, nil
}

// countBytes watches what reaches the sink element (for HLS: its video input).
func (in *instance) countBytes(typ string) error {
	sink, err := in.pipe.GetElementByName("sink")
	if err != nil {
		return errorf("sink: %w", err)
	}
	pad := sink.GetStaticPad("sink")
	if typ == TypeHLS {
		pad = sink.GetStaticPad("video")
	}
	if pad == nil {
		return errorf("sink pad of %s", typ)
	}
	in.bytes = gstx.WatchTimes(pad)
	switch typ {
	case TypeRTMP:
		in.netSink, in.statsField = sink, "out-bytes-total"
	case TypeSRT:
		in.netSink, in.statsField = sink, "bytes-sent-total"
	}
	return nil
}

func (in *instance) fail(err error) {
	select {
	case in.errs <- err:
	default:
	}
}

func (in *instance) bytesOut() uint64 {
	if in.netSink != nil {
		return statsBytes(in.netSink, in.statsField)
	}
	if in.bytes == nil {
		return 0
	}
	return in.bytes.Bytes()
}

// delivering reports that media flows to the destination. rtmp2sink
// takes buffers while it is still connecting, so for RTMP it is the bytes
// it wrote to its socket.
func (in *instance) delivering() bool {
	if in.netSink != nil {
		return statsBytes(in.netSink, in.statsField) > 0
	}
	if in.bytes != nil {
		return in.bytes.Buffers() > 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.started
}

// push hands one encoded buffer to the attempt's appsrc. The video begins
// at a keyframe, whose room running time becomes running time 0 here;
// audio from before it is dropped. Buffers keep their PTS: each appsrc's
// pad offset maps its stream's PTS to this pipeline's running time.
func (in *instance) push(k Kind, caps *gst.Caps, buf *gst.Buffer, rt int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	if k == Video && !in.started {
		if buf.GetFlags()&gst.BufferFlagDeltaUnit != 0 {
			return
		}
		in.started, in.base = true, rt
	}
	if !in.started || rt < in.base {
		return
	}
	src := in.srcs[k]
	if !in.capsSet[k] {
		src.SetCaps(caps)
		in.capsSet[k] = true
		// running time here = PTS + (rt - PTS) - base
		if p := src.GetStaticPad("src"); p != nil {
			p.SetOffset(rt - int64(buf.PresentationTimestamp()) - in.base)
		}
	}
	src.PushBuffer(buf)
}

// close ends the attempt: with clean, EOS first (bounded), so muxers and
// hlssink2 finish their output; then NULL.
func (in *instance) close(clean bool) {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	if clean && in.stopBus != nil {
		for _, s := range in.srcs {
			if s != nil {
				gstx.EndStream(s)
			}
		}
		select {
		case <-in.errs: // EOS (reported as an error here) or a real one
		case <-time.After(3 * time.Second):
		}
	}
	if in.stopBus != nil {
		in.stopBus()
		<-in.busDone
	}
	_ = gstx.StopElement(in.pipe.Element, 5*time.Second)
	for _, s := range in.sinks {
		s.SetCallbacks(&app.SinkCallbacks{})
	}
	if in.bytes != nil {
		in.bytes.Free()
	}
}

// statsBytes reads a byte counter of a sink's "stats" (0 before connecting).
func statsBytes(e *gst.Element, field string) uint64 {
	v, err := e.GetProperty("stats")
	if err != nil {
		return 0
	}
	st, ok := v.(*gst.Structure)
	if !ok || st == nil {
		return 0
	}
	n, err := st.GetValue(field)
	if err != nil {
		return 0
	}
	if u, ok := n.(uint64); ok {
		return u
	}
	return 0
}
