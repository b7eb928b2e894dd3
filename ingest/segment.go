package ingest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
)

// eosTimeout bounds how long finalizing waits for EOS to reach the file
// sinks; tests shorten it.
var eosTimeout = 10 * time.Second

// segment is one continuous run of a track with one codec: the GStreamer bin
// appsrc → rtpjitterbuffer → depayloader → [parser] → tee, plus one raw
// recording branch per active recording. A codec change ends the segment and
// starts the next one; everything else (mute, new SSRC with the same codec)
// continues it.
type segment struct {
	index int
	codec Codec
	name  string // trk-<ssrc>-<index>

	bin      *gst.Bin
	src      *app.Source
	jbuf     *gst.Element
	tee      *gst.Element
	rtpTimes *gstx.Times // (PTS, RTP timestamp) pairs at the jitterbuffer output
	upProbe  uint64      // upstream watch on the appsrc pad: keyframe and retransmission requests
	srcPad   *gst.Pad

	anchor   anchorCheck      // read loop only (under the track's lock)
	lateness atomic.Int64     // how late the timeline's anchor was (ns; anchorCheck)
	follower latenessFollower // how late the stamps run since (under the track's lock)

	mu       sync.Mutex
	branches map[string]*branch // by recording id
	ended    bool
	taps     int // taps opened so far (names stay unique)
}

type segmentConfig struct {
	Name          string
	Codec         Codec
	PayloadType   uint8
	ClockRate     int
	JitterLatency time.Duration
	// OnKeyframeNeeded is called (on a streaming thread; must not block) when
	// the depayloader detects loss that breaks the picture.
	OnKeyframeNeeded func()
	// OnRetransmissionRequest, if set, makes the jitterbuffer ask for each
	// missing packet while it can still wait for it: it is called with the
	// packet's sequence number (the segment's, as pushed) on the
	// jitterbuffer's timer thread and must not block.
	OnRetransmissionRequest func(seq uint16)
}

func newSegment(p *gst.Pipeline, index int, cfg segmentConfig) (*segment, error) {
	s := &segment{index: index, codec: cfg.Codec, name: cfg.Name, branches: map[string]*branch{},
		anchor: anchorCheck{clockRate: cfg.ClockRate}}
	s.bin = gst.NewBin(cfg.Name)
	srcElem, err := gst.NewElementWithName("appsrc", cfg.Name+"-src")
	if err != nil {
		return nil, fmt.Errorf("segment %s: appsrc: %w", cfg.Name, err)
	}
	src := app.SrcFromElement(srcElem)
	src.SetCaps(gst.NewCapsFromString(cfg.Codec.RTPCaps(cfg.PayloadType, cfg.ClockRate)))
	if err := setProps(src.Element, map[string]any{"is-live": true, "do-timestamp": true, "max-bytes": uint64(4 << 20)}); err != nil {
		return nil, fmt.Errorf("segment %s: %w", cfg.Name, err)
	}
	src.SetArg("format", "time")
	src.SetArg("leaky-type", "downstream")
	s.src = src

	s.jbuf, err = gst.NewElementWithName("rtpjitterbuffer", cfg.Name+"-jbuf")
	if err != nil {
		return nil, fmt.Errorf("segment %s: rtpjitterbuffer: %w", cfg.Name, err)
	}
	latencyMS := uint(cfg.JitterLatency / time.Millisecond)
	if latencyMS == 0 {
		latencyMS = 200
	}
	// With retransmission on, a hole is asked for when a later packet
	// reveals it; rtx-next-seqnum would also time the next expected packet
	// of every packet (a timer-thread wake-up each) to catch a lost last
	// packet ~one frame sooner: a room of four cameras and microphones cost
	// 1.44 CPU-s per 20 s with it against 1.30 without retransmission, and
	// 1.28 against 1.28 without it (medians of three interleaved runs).
	if err := setProps(s.jbuf, map[string]any{"latency": latencyMS, "do-retransmission": cfg.OnRetransmissionRequest != nil,
		"rtx-next-seqnum": false}); err != nil {
		return nil, fmt.Errorf("segment %s: %w", cfg.Name, err)
	}
	// mode=synced: the first packet's arrival time is the base and the
	// sender's RTP timestamps interpolate from there, so bursty arrival never
	// stretches or squeezes the recorded timeline and gaps (DTX, mute) keep
	// their length. A jump of more than 3 s (a long mute) re-bases on the
	// arrival time, which keeps the timeline too.
	s.jbuf.SetArg("mode", "synced") // a late first packet: see anchorCheck
	depay, err := gst.NewElementWithName(cfg.Codec.Depay, cfg.Name+"-depay")
	if err != nil {
		return nil, fmt.Errorf("segment %s: %s: %w", cfg.Name, cfg.Codec.Depay, err)
	}
	if cfg.Codec.Kind == Video {
		if err := setProps(depay, map[string]any{"request-keyframe": true, "wait-for-keyframe": true}); err != nil {
			return nil, fmt.Errorf("segment %s: %w", cfg.Name, err)
		}
	}
	chain := []*gst.Element{src.Element, s.jbuf, depay}
	if cfg.Codec.Parse != "" {
		parse, err := gst.NewElementWithName(cfg.Codec.Parse, cfg.Name+"-parse")
		if err != nil {
			return nil, fmt.Errorf("segment %s: %s: %w", cfg.Name, cfg.Codec.Parse, err)
		}
		if cfg.Codec.Name == "h264" {
			// SPS/PPS before every IDR, so each keyframe decodes on its own.
			if err := parse.SetProperty("config-interval", -1); err != nil {
				return nil, fmt.Errorf("segment %s: %w", cfg.Name, err)
			}
		}
		chain = append(chain, parse)
		if cfg.Codec.ParseCaps != "" {
			cf, err := gst.NewElementWithName("capsfilter", cfg.Name+"-caps")
			if err != nil {
				return nil, fmt.Errorf("segment %s: capsfilter: %w", cfg.Name, err)
			}
			if err := cf.SetProperty("caps", gst.NewCapsFromString(cfg.Codec.ParseCaps)); err != nil {
				return nil, fmt.Errorf("segment %s: capsfilter caps: %w", cfg.Name, err)
			}
			chain = append(chain, cf)
		}
	}
	s.tee, err = gst.NewElementWithName("tee", cfg.Name+"-tee")
	if err != nil {
		return nil, fmt.Errorf("segment %s: tee: %w", cfg.Name, err)
	}
	if err := s.tee.SetProperty("allow-not-linked", true); err != nil {
		return nil, fmt.Errorf("segment %s: tee: %w", cfg.Name, err)
	}
	chain = append(chain, s.tee)
	if err := s.bin.AddMany(chain...); err != nil {
		return nil, fmt.Errorf("segment %s: add elements: %w", cfg.Name, err)
	}
	if err := gst.ElementLinkMany(chain...); err != nil {
		return nil, fmt.Errorf("segment %s: link: %w", cfg.Name, err)
	}
	s.rtpTimes = gstx.WatchRTP(s.jbuf.GetStaticPad("sink"), s.jbuf.GetStaticPad("src"))
	gstx.DropPadding(s.jbuf.GetStaticPad("src"))
	s.srcPad = src.GetStaticPad("src")
	if cfg.OnKeyframeNeeded != nil || cfg.OnRetransmissionRequest != nil {
		keyframe, resend := cfg.OnKeyframeNeeded, cfg.OnRetransmissionRequest
		s.upProbe = s.srcPad.AddProbe(gst.PadProbeTypeEventUpstream, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
			ev := info.GetEvent()
			if ev == nil || ev.Type() != gst.EventTypeCustomUpstream {
				return gst.PadProbeOK
			}
			st := ev.GetStructure()
			if st == nil {
				return gst.PadProbeOK
			}
			switch st.Name() {
			case "GstForceKeyUnit":
				if keyframe != nil {
					keyframe()
				}
			case "GstRTPRetransmissionRequest":
				if seq, err := st.GetValue("seqnum"); err == nil && resend != nil {
					if n, ok := seq.(uint); ok {
						resend(uint16(n))
					}
				}
				return gst.PadProbeDrop // answered here; appsrc has nothing to do with it
			}
			return gst.PadProbeOK
		})
	}
	if err := p.Add(s.bin.Element); err != nil {
		return nil, fmt.Errorf("segment %s: add to pipeline: %w", cfg.Name, err)
	}
	if !s.bin.SyncStateWithParent() {
		_ = p.Remove(s.bin.Element)
		return nil, fmt.Errorf("segment %s: could not start: %w", cfg.Name, errPipelineState)
	}
	return s, nil
}

var errPipelineState = errors.New("state change failed")

func setProps(e *gst.Element, props map[string]any) error {
	for k, v := range props {
		if err := e.SetProperty(k, v); err != nil {
			return fmt.Errorf("set %s.%s=%v: %w", e.GetName(), k, v, err)
		}
	}
	return nil
}

// push hands one RTP packet (already rewritten onto the segment's timeline,
// where its timestamp is ts) to the jitterbuffer; now is its arrival. Read
// loop only.
func (s *segment) push(pkt []byte, ts uint32, now time.Time) gstx.FlowReturn {
	if d, ok := s.anchor.observe(ts, now); ok {
		s.lateness.Store(int64(d))
	}
	return gstx.PushBytes(s.src, pkt)
}

// addBranch links a new raw recording branch to the tee.
func (s *segment) addBranch(b *branch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return fmt.Errorf("segment %s: %w", s.name, errSegmentEnded)
	}
	if err := b.attach(s); err != nil {
		return err
	}
	s.branches[b.recID] = b
	return nil
}

var errSegmentEnded = errors.New("segment already ended")

// removeBranch finalizes the branch of recording recID while the track goes on.
func (s *segment) removeBranch(recID string) *branch {
	s.mu.Lock()
	b := s.branches[recID]
	delete(s.branches, recID)
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	b.detachAndFinalize(s)
	return b
}

// endWith sends EOS through the segment, waits for every branch's file to be
// finalized, calls finalized for each (while the segment's probes still
// exist), then stops and removes the bin. It returns the finalized branches.
func (s *segment) endWith(p *gst.Pipeline, finalized func(*branch)) []*branch {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.ended = true
	branches := make([]*branch, 0, len(s.branches))
	for _, b := range s.branches {
		branches = append(branches, b)
	}
	s.branches = map[string]*branch{}
	s.mu.Unlock()

	gstx.EndStream(s.src)
	for _, b := range branches {
		b.waitFinal()
		finalized(b)
	}
	s.dispose(p)
	return branches
}

// dispose stops the bin and frees probes; the segment must have ended.
func (s *segment) dispose(p *gst.Pipeline) {
	if s.upProbe != 0 {
		s.srcPad.RemoveProbe(s.upProbe)
		s.upProbe = 0
	}
	// State-locked first (see branch.detachAndFinalize): started again by a
	// pipeline state change, the bin's branches would truncate their files.
	if err := gstx.RemoveElement(p.Bin, s.bin.Element, 5*time.Second); err != nil {
		// Stuck in its state change: the bin stays in the pipeline,
		// locked, and its counters stay allocated.
		return
	}
	s.rtpTimes.Free()
}

// rtpTimeAt estimates the RTP timestamp (output timeline) of a buffer whose
// PTS is pts, from the latest (PTS, RTP) pair at the jitterbuffer output.
func (s *segment) rtpTimeAt(pts int64, clockRate int) (uint32, bool) {
	pairPTS, pairTS, ok := s.rtpTimes.RTPPair()
	if !ok || pts < 0 {
		return 0, false
	}
	delta := (pts - pairPTS) * int64(clockRate) / int64(time.Second)
	return pairTS + uint32(int32(delta)), true
}
