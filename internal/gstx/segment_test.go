package gstx

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// countAfterVideorate runs 30 frames whose timestamps start 2 s into the
// stream through videorate, with the segment rebased by delta, and counts
// the frames videorate lets out.
func countAfterVideorate(t *testing.T, delta int64) uint64 {
	t.Helper()
	Init()
	pipe, err := gst.NewPipelineFromString("videotestsrc num-buffers=30 timestamp-offset=2000000000 ! " +
		"video/x-raw,width=64,height=36,framerate=30/1 ! queue name=q ! videorate ! video/x-raw,framerate=30/1 ! fakesink name=sink")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := pipe.GetElementByName("q")
	sink, _ := pipe.GetElementByName("sink")
	RebaseSegment(q.GetStaticPad("sink"), delta)
	times := WatchTimes(sink.GetStaticPad("sink"))
	defer times.Free()
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(10*time.Second), gst.MessageEOS|gst.MessageError)
	if err := StopElement(pipe.Element, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if msg == nil || msg.Type() != gst.MessageEOS {
		t.Fatalf("no EOS: %v", msg)
	}
	return times.Buffers()
}

// TestRebaseSegment: videorate fills from the segment start; moved to where
// the media starts, it fills nothing.
func TestRebaseSegment(t *testing.T) {
	if n := countAfterVideorate(t, 0); n < 85 {
		t.Fatalf("without rebasing videorate let out %d frames, want the 60 filled + 30", n)
	}
	if n := countAfterVideorate(t, int64(2*time.Second)); n < 29 || n > 31 {
		t.Fatalf("rebased by 2 s: %d frames, want 30", n)
	}
}
