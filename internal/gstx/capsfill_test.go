package gstx

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// TestFillCaps: the field the caps lack is added, the one they carry stays,
// and fields that do not parse are an error.
func TestFillCaps(t *testing.T) {
	Init()
	pipe, err := gst.NewPipelineFromString("videotestsrc num-buffers=1 ! capssetter name=set replace=true " +
		"caps=video/x-raw,format=I420,width=64,height=64,framerate=15/1,chroma-site=mpeg2 ! fakesink name=sink")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := pipe.GetElementByName("set")
	sink, _ := pipe.GetElementByName("sink")
	if err := FillCaps(set.GetStaticPad("src"), "not caps fields"); err == nil {
		t.Fatal("fields that do not parse were accepted")
	}
	if err := FillCaps(set.GetStaticPad("src"), "colorimetry=bt601,chroma-site=jpeg"); err != nil {
		t.Fatal(err)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(10*time.Second), gst.MessageEOS|gst.MessageError)
	caps := sink.GetStaticPad("sink").GetCurrentCaps()
	if err := StopElement(pipe.Element, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if msg == nil || msg.Type() != gst.MessageEOS {
		t.Fatalf("no EOS: %v", msg)
	}
	if caps == nil {
		t.Fatal("no caps reached the sink")
	}
	s := caps.GetStructureAt(0)
	for field, want := range map[string]string{"colorimetry": "bt601", "chroma-site": "mpeg2", "format": "I420"} {
		if v, err := s.GetValue(field); err != nil || v != want {
			t.Errorf("%s = %v (%v), want %s; caps %s", field, v, err, want, caps.String())
		}
	}
}
