package gstx

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// filledCaps runs one frame whose caps are exactly caps through FillCaps
// with fields and returns the structure that reached the sink.
func filledCaps(t *testing.T, caps, fields string) *gst.Structure {
	t.Helper()
	Init()
	pipe, err := gst.NewPipelineFromString("videotestsrc num-buffers=1 ! capssetter name=set replace=true caps=" + caps + " ! fakesink name=sink")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := pipe.GetElementByName("set")
	sink, _ := pipe.GetElementByName("sink")
	if err := FillCaps(set.GetStaticPad("src"), fields); err != nil {
		t.Fatal(err)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(10*time.Second), gst.MessageEOS|gst.MessageError)
	got := sink.GetStaticPad("sink").GetCurrentCaps()
	if err := StopElement(pipe.Element, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if msg == nil || msg.Type() != gst.MessageEOS {
		t.Fatalf("no EOS: %v", msg)
	}
	if got == nil {
		t.Fatal("no caps reached the sink")
	}
	return got.GetStructureAt(0)
}

// TestFillCaps: the fields the caps lack are added, the ones they carry
// stay, a colorimetry's unknown parts are filled, and fields that do not
// parse are an error.
func TestFillCaps(t *testing.T) {
	const frame = "video/x-raw,format=I420,width=64,height=64,framerate=15/1"
	const fill = "colorimetry=bt601,chroma-site=jpeg"
	for _, c := range []struct {
		name, caps          string
		colorimetry, siting string
	}{
		{"nothing said", frame, "bt601", "jpeg"},
		{"siting said", frame + ",chroma-site=mpeg2", "bt601", "mpeg2"},
		{"all said", frame + ",colorimetry=bt709,chroma-site=mpeg2", "bt709", "mpeg2"},
		// Full range and nothing else: the range stays, matrix, transfer
		// and primaries are BT.601's (4, 16, 4: GStreamer's numbers).
		{"range only", frame + ",colorimetry=(string)1:0:0:0", "1:4:16:4", "jpeg"},
		// BT.709 without a range: the range is BT.601's, limited (2).
		{"no range", frame + ",colorimetry=(string)0:3:5:1", "bt709", "jpeg"},
	} {
		s := filledCaps(t, c.caps, fill)
		for field, want := range map[string]string{"colorimetry": c.colorimetry, "chroma-site": c.siting, "format": "I420"} {
			if v, err := s.GetValue(field); err != nil || v != want {
				t.Errorf("%s: %s = %v (%v), want %s", c.name, field, v, err, want)
			}
		}
	}
	Init()
	pad := gst.NewPad("p", gst.PadDirectionSource)
	if err := FillCaps(pad, "not caps fields"); err == nil {
		t.Fatal("fields that do not parse were accepted")
	}
}
