package compositor

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// TestEmptyRoomMixesLive: with nobody in the room the mixers still produce
// in real time: black frames at the frame rate, digital silence in the mix
// and in a mix-minus — at the start and again after the last participant,
// seen and heard, left; a white background and back to black, the frames
// following each time.
func TestEmptyRoomMixesLive(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("livetest")
	if err != nil {
		t.Fatal(err)
	}
	g := playGraph(t, pipe, Config{Name: "lv", Width: 320, Height: 180, FPS: 15,
		Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	video := tapFrames(t, pipe, g, "lvtap")
	mix, mixMinus := &pcmTap{}, &pcmTap{}
	t.Cleanup(onOutput(t, pipe, g.AudioOutput, mix.sink(t, "lvmix")))
	t.Cleanup(onOutput(t, pipe, func() (*Output, error) { return g.MixMinusOutput("alice") }, mixMinus.sink(t, "lvmm")))

	// background waits for the latest frame's middle to read luma within
	// tol of want, then checks the frame rate.
	background := func(stage string, want, tol int) {
		t.Helper()
		var got int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, _, got = video.lumaAt(160, 90); near(got, want, tol) {
				break
			}
		}
		if !near(got, want, tol) {
			t.Fatalf("%s: luma %d in the middle of the frame, want %d±%d", stage, got, want, tol)
		}
		if r := video.rate(2 * time.Second); r < 13 || r > 17 {
			t.Errorf("%s: %.1f frames a second at 15 fps", stage, r)
		}
	}

	// silent checks a second of new audio in the mix and the mix-minus is
	// all zero.
	silent := func(stage string) {
		t.Helper()
		for _, a := range []struct {
			tap  *pcmTap
			what string
		}{{mix, "the mix"}, {mixMinus, "a mix-minus"}} {
			a.tap.await(t, a.tap.count()+48000, time.Now().Add(10*time.Second), stage+": "+a.what)
			for i, v := range a.tap.last(48000) {
				if v != 0 {
					t.Fatalf("%s: sample %d of the last second of %s is %g, want silence", stage, i, a.what, v)
				}
			}
		}
	}
	background("empty room", 16, 6) // black: Y 16
	silent("empty room")

	// Someone joins (the camera's green, a tone) and leaves: the mixers
	// go on alone.
	_, cam := teeSource(t, pipe, greenSource(320, 180)+"tee name=lvcam allow-not-linked=true", "lvcam")
	mic := toneSource(t, pipe, "lvtone", 440)
	if err := g.Add(Input{TrackID: "cam", Participant: "bob", Kind: "video", Decoder: "identity", Pad: cam}); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(Input{TrackID: "mic", Participant: "bob", Kind: "audio", Decoder: opusDecoder, Pad: mic}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []*gst.Pad{cam, mic} { // sources added to the playing pipeline
		src.GetParentElement().SyncStateWithParent()
	}
	background("bob in the room", 145, 12) // his green fills the frame
	mix.await(t, mix.count()+48000, time.Now().Add(10*time.Second), "the mix with bob")
	if peak := maxAbs(mix.last(24000)); peak < 1000 { // of 32767
		t.Fatalf("bob's tone is not in the mix: peak %.0f", peak)
	}
	for _, id := range []string{"cam", "mic"} {
		if err := g.Remove(id); err != nil {
			t.Fatal(err)
		}
	}
	background("bob left", 16, 6)
	silent("bob left")

	if _, err := g.SetLayout(layouts.Spec{Template: layouts.TemplateGrid, Background: "#ffffff"}); err != nil {
		t.Fatal(err)
	}
	background("white", 235, 10)
	if _, err := g.SetLayout(layouts.Spec{Template: layouts.TemplateGrid, Background: "#000000"}); err != nil {
		t.Fatal(err)
	}
	background("back to black", 16, 6)
}

func maxAbs(v []float64) (m float64) {
	for _, x := range v {
		m = max(m, x, -x)
	}
	return m
}
