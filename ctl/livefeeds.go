package ctl

import (
	"fmt"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/compositor"
	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/live"
)

// liveFeed is one encoder on the room's compositor whose output live
// streams share: "tee branch ! queue ! encoder ! appsink" in the room's
// pipeline. Streams with the same settings (and, for audio, the same
// mix-minus) use the same feed; the last one to go removes it.
type liveFeed struct {
	key    string
	refs   int
	feed   *live.Feed
	enc    *encode.Encoder
	choice encode.Choice
	q      *gst.Element
	out    *compositor.Output
}

// feedKey says which streams can share an encoder.
func videoFeedKey(v VideoJSON) string {
	return fmt.Sprintf("v/%s/%dx%d@%d/%dk/%s/%s", v.Codec, v.Width, v.Height, v.FPS, v.BitrateKbps, v.Encoder, v.Prefer)
}

func audioFeedKey(a AudioJSON, participant string) string {
	return fmt.Sprintf("a/%s/%dk/%s", a.Codec, a.BitrateKbps, participant)
}

// acquireVideoFeedLocked returns the room's video feed for v, building it
// on the compositor if needed. m.mu is held and the graph runs.
func (s *Server) acquireVideoFeedLocked(m *roomMedia, v VideoJSON) (*liveFeed, error) {
	key := videoFeedKey(v)
	if f := m.liveFeeds[key]; f != nil {
		f.refs++
		f.enc.RequestKeyframe() // the new stream starts on a keyframe
		return f, nil
	}
	choice, err := encode.Select(v.Codec, encode.Options{Force: v.Encoder, Prefer: v.Prefer}, s.encoders(), s.log)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("live%d-v", liveSeq.Add(1))
	enc, err := encode.VideoEncoder(choice, encode.VideoSettings{Codec: v.Codec, Width: v.Width, Height: v.Height, FPS: v.FPS,
		BitrateKbps: v.BitrateKbps, Name: name})
	if err != nil {
		return nil, err
	}
	out, err := m.graph.VideoOutput()
	if err != nil {
		return nil, err
	}
	f, err := s.buildFeed(m, key, name, live.Video, enc, out)
	if err != nil {
		return nil, err
	}
	f.choice = choice
	return f, nil
}

// acquireAudioFeedLocked is the audio counterpart: the full mix, or a
// participant's mix-minus.
func (s *Server) acquireAudioFeedLocked(m *roomMedia, a AudioJSON, participant string) (*liveFeed, error) {
	key := audioFeedKey(a, participant)
	if f := m.liveFeeds[key]; f != nil {
		f.refs++
		return f, nil
	}
	choice, err := encode.Select(a.Codec, encode.Options{}, s.encoders(), s.log)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("live%d-a", liveSeq.Add(1))
	enc, err := encode.AudioEncoder(choice, encode.AudioSettings{Codec: a.Codec, BitrateKbps: a.BitrateKbps, Name: name})
	if err != nil {
		return nil, err
	}
	var out *compositor.Output
	if participant != "" {
		out, err = m.graph.MixMinusOutput(participant)
	} else {
		out, err = m.graph.AudioOutput()
	}
	if err != nil {
		return nil, err
	}
	f, err := s.buildFeed(m, key, name, live.Audio, enc, out)
	if err != nil {
		return nil, err
	}
	f.choice = choice
	return f, nil
}

// buildFeed links out ! queue ! enc ! appsink in the room's pipeline.
func (s *Server) buildFeed(m *roomMedia, key, name string, kind live.Kind, enc *encode.Encoder, out *compositor.Output) (*liveFeed, error) {
	f := &liveFeed{key: key, refs: 1, enc: enc, out: out}
	fail := func(err error) (*liveFeed, error) {
		s.dropFeed(m, f)
		return nil, fmt.Errorf("live %s feed: %w", kind, err)
	}
	var err error
	if f.feed, err = live.NewFeed(name+"-sink", kind); err != nil {
		return fail(err)
	}
	// A leaky queue: a slow encoder drops raw frames instead of holding up
	// the compositor (and with it the recordings).
	if f.q, err = gst.NewElementWithProperties("queue", map[string]any{"name": name + "-q", "max-size-buffers": uint(0),
		"max-size-bytes": uint(0), "max-size-time": uint64(time.Second)}); err != nil {
		return fail(err)
	}
	f.q.SetArg("leaky", "downstream")
	pipe := m.room.Pipeline()
	if err := pipe.AddMany(f.q, enc.Bin.Element, f.feed.Sink.Element); err != nil {
		f.q = nil
		return fail(err)
	}
	if err := gst.ElementLinkMany(f.q, enc.Bin.Element, f.feed.Sink.Element); err != nil {
		return fail(err)
	}
	for _, e := range []*gst.Element{f.feed.Sink.Element, enc.Bin.Element, f.q} {
		if !e.SyncStateWithParent() {
			return fail(fmt.Errorf("could not start %s", e.GetName()))
		}
	}
	if ret := out.Pad.Link(f.q.GetStaticPad("sink")); ret != gst.PadLinkOK {
		return fail(fmt.Errorf("link: %s", ret.String()))
	}
	if kind == live.Video {
		enc.RequestKeyframe()
	}
	if m.liveFeeds == nil {
		m.liveFeeds = map[string]*liveFeed{}
	}
	m.liveFeeds[key] = f
	return f, nil
}

// releaseFeedLocked drops one user of f; the last one removes it.
func (s *Server) releaseFeedLocked(m *roomMedia, f *liveFeed) {
	if f == nil {
		return
	}
	if f.refs--; f.refs > 0 {
		return
	}
	delete(m.liveFeeds, f.key)
	s.dropFeed(m, f)
}

// dropFeed detaches a feed from the compositor and removes its elements.
func (s *Server) dropFeed(m *roomMedia, f *liveFeed) {
	if f.out != nil {
		f.out.Finish()
		f.out.Close()
	}
	pipe := m.room.Pipeline()
	for _, e := range []*gst.Element{f.q, f.enc.Bin.Element, sinkElem(f.feed)} {
		if e == nil {
			continue
		}
		_ = gstx.RemoveElement(pipe.Bin, e, 5*time.Second) // state-locked: see gstx.RemoveElement
	}
}

func sinkElem(f *live.Feed) *gst.Element {
	if f == nil {
		return nil
	}
	return f.Sink.Element
}
