package gstx

import (
	"context"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// TestWatchBusStopsAtOnce: the watcher hands over what it watches for, and
// stops as soon as its context ends, not at its next timeout.
func TestWatchBusStopsAtOnce(t *testing.T) {
	Init()
	pipe, err := gst.NewPipelineFromString("videotestsrc is-live=true ! fakesink")
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer StopElement(pipe.Element, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan gst.MessageType, 8)
	done := WatchBus(ctx, pipe, func(m BusMessage) { got <- m.Type })
	pipe.GetPipelineBus().Post(gst.NewEOSMessage(pipe))
	for eos := false; !eos; {
		select {
		case typ := <-got: // the live source's latency message may come first
			eos = typ == gst.MessageEOS
		case <-time.After(2 * time.Second):
			t.Fatal("EOS posted on the bus never reached the handler")
		}
	}
	time.Sleep(50 * time.Millisecond) // the watcher waits in its pop again
	start := time.Now()
	cancel()
	select {
	case <-done:
		if d := time.Since(start); d > busPopTimeout/4 {
			t.Errorf("watcher stopped %v after its context ended", d)
		}
	case <-time.After(2 * busPopTimeout):
		t.Fatal("watcher did not stop")
	}
	for len(got) > 0 {
		if typ := <-got; typ == gst.MessageApplication {
			t.Error("the wake-up reached the handler")
		}
	}
}
