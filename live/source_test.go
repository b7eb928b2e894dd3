package live

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/internal/gstx"
)

// testSource is a live "room": test video and a sine tone, encoded as an
// output wants them, ending in a video and an audio Feed.
type testSource struct {
	pipe         *gst.Pipeline
	venc         *encode.Encoder
	video, audio *Feed
}

func newTestSource(t *testing.T, audioCodec string) *testSource {
	t.Helper()
	gstx.Init()
	pipe, err := gst.NewPipelineFromString("videotestsrc is-live=true pattern=ball name=vsrc ! video/x-raw,width=320,height=240,framerate=30/1 ! queue name=vq " +
		"audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! queue name=aq")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSource{pipe: pipe}
	venc, err := encode.VideoEncoder(encode.Choice{Codec: encode.H264, Element: "x264enc"},
		encode.VideoSettings{Codec: encode.H264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500})
	if err != nil {
		t.Fatal(err)
	}
	aElem := map[string]string{encode.AAC: "avenc_aac", encode.Opus: "opusenc"}[audioCodec]
	aenc, err := encode.AudioEncoder(encode.Choice{Codec: audioCodec, Element: aElem}, encode.AudioSettings{Codec: audioCodec, BitrateKbps: 64})
	if err != nil {
		t.Fatal(err)
	}
	s.venc = venc
	if s.video, err = NewFeed(fmt.Sprintf("feedv-%s", t.Name()), Video); err != nil {
		t.Fatal(err)
	}
	if s.audio, err = NewFeed(fmt.Sprintf("feeda-%s", t.Name()), Audio); err != nil {
		t.Fatal(err)
	}
	if err := pipe.AddMany(venc.Bin.Element, aenc.Bin.Element, s.video.Sink.Element, s.audio.Sink.Element); err != nil {
		t.Fatal(err)
	}
	vq, _ := pipe.GetElementByName("vq")
	aq, _ := pipe.GetElementByName("aq")
	if err := gst.ElementLinkMany(vq, venc.Bin.Element, s.video.Sink.Element); err != nil {
		t.Fatal(err)
	}
	if err := gst.ElementLinkMany(aq, aenc.Bin.Element, s.audio.Sink.Element); err != nil {
		t.Fatal(err)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gstx.StopElement(pipe.Element, 5*time.Second) })
	return s
}

func (s *testSource) start(t *testing.T, name string, spec Spec) *Output {
	t.Helper()
	o, err := Start(Config{Name: name, Spec: spec, Video: s.video, Audio: s.audio,
		RequestKeyframe: func() { s.venc.RequestKeyframe() },
		Backoff:         Backoff{Min: 200 * time.Millisecond, Max: time.Second, Healthy: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Stop)
	return o
}

func waitState(t *testing.T, o *Output, state string, timeout time.Duration) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := o.Status()
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("output state %q after %s, want %q (error %q)", st.State, timeout, state, st.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
