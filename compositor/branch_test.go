package compositor

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// TestFailingOutputLeavesTheMixRunning: one consumer of the mixed video and
// one of the mixed audio fail (an element returning an error, as a muxer
// whose file can no longer be written does); the mixers go on, and so do
// the other consumers.
func TestFailingOutputLeavesTheMixRunning(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("branchtest")
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 160, 90
	g := playGraph(t, pipe, Config{Name: "br", Width: w, Height: h, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})

	// failing attaches "identity error-after=5 ! fakesink" to out.
	failing := func(out *Output, name string) {
		t.Helper()
		consume(t, pipe, out, "identity error-after=5 name="+name+" ! fakesink sync=false async=false")
	}
	badVideo, err := g.VideoOutput()
	if err != nil {
		t.Fatal(err)
	}
	failing(badVideo, "badv")
	badAudio, err := g.AudioOutput()
	if err != nil {
		t.Fatal(err)
	}
	failing(badAudio, "bada")
	tap, stopTap := tapVideo(t, g, pipe, "goodv", w, h)
	defer stopTap()

	// Both failing consumers post their error.
	failed := map[string]bool{}
	bus := pipe.GetPipelineBus()
	deadline := time.Now().Add(10 * time.Second)
	for !failed["badv"] || !failed["bada"] {
		if time.Now().After(deadline) {
			t.Fatalf("failing consumers that posted an error: %v; want badv and bada", failed)
		}
		if msg := bus.TimedPopFiltered(gst.ClockTime(100*time.Millisecond), gst.MessageError); msg != nil {
			failed[msg.Source()] = true
		}
	}
	// After the failure, the healthy output keeps getting the mix's frames.
	from := tap.count()
	time.Sleep(2 * time.Second)
	if got := tap.count() - from; got < 20 {
		t.Errorf("the healthy output got %d frames in the 2 s after the others failed; want ~30", got)
	}
	for _, o := range []*Output{badVideo, badAudio} {
		if n, last := o.Refused(); n == 0 || last != gst.FlowError {
			t.Errorf("a failing output refused %d buffers, the last with %v; want an error counted", n, last)
		}
	}
}

// TestStuckOutputLeavesTheMixRunning: a consumer of the mixed video stops
// taking buffers (a muxer waiting for the audio that will not come, a file
// on a hung disk) behind its leaky queue; the mix must go on when it
// renegotiates. A new output makes the compositor renegotiate, and its
// allocation query, if it crossed into the stuck consumer's queue, would
// wait there behind buffers nobody takes: the mix stopped for every output.
func TestStuckOutputLeavesTheMixRunning(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("stucktest")
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 160, 90
	g := playGraph(t, pipe, Config{Name: "st", Width: w, Height: h, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	stuck, err := g.VideoOutput()
	if err != nil {
		t.Fatal(err)
	}
	// An appsink nobody pulls from holds one buffer and then blocks its
	// queue's thread for good, as the encoding branches' queues (leaky, 1 s).
	bin := consume(t, pipe, stuck, "queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000 ! "+
		"appsink name=stuck max-buffers=1 drop=false sync=false async=false")
	defer func() {
		_ = gstx.RemoveElement(pipe.Bin, bin.Element, 5*time.Second)
		stuck.Close()
	}()
	tap, stopTap := tapVideo(t, g, pipe, "goodv", w, h)
	defer stopTap()
	time.Sleep(1500 * time.Millisecond) // the stuck queue holds its second of frames

	late, stopLate := tapVideo(t, g, pipe, "latev", w, h)
	defer stopLate()
	from := tap.count()
	time.Sleep(2 * time.Second)
	if got := tap.count() - from; got < 20 {
		t.Errorf("the healthy output got %d frames in the 2 s after a new output was added beside a stuck one; want ~30", got)
	}
	if got := late.count(); got < 20 {
		t.Errorf("the new output got %d frames in its first 2 s; want ~30", got)
	}
}

// consume links a bin of desc (its first element's sink pad ghosted) to out
// and starts it.
func consume(t *testing.T, pipe *gst.Pipeline, out *Output, desc string) *gst.Bin {
	t.Helper()
	bin, err := gst.NewBinFromString(desc, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.Add(bin.Element); err != nil {
		t.Fatal(err)
	}
	if ret := out.Pad.Link(bin.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	bin.SyncStateWithParent()
	return bin
}
