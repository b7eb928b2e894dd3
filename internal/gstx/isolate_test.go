package gstx

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// liveTee is a live producer feeding a tee inside a bin, playing.
type liveTee struct {
	pipe  *gst.Pipeline
	bin   *gst.Bin
	tee   *gst.Element
	times *Times // at the tee's sink: what the producer got through

	mu     sync.Mutex
	errors []string
	stop   context.CancelFunc
	done   <-chan struct{}
}

func newLiveTee(t *testing.T) *liveTee {
	t.Helper()
	Init()
	pipe, err := gst.NewPipeline("")
	if err != nil {
		t.Fatal(err)
	}
	src, err := gst.NewElement("audiotestsrc")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"is-live": true, "samplesperbuffer": 4} {
		if err := src.SetProperty(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := pipe.Add(src); err != nil {
		t.Fatal(err)
	}
	tee, err := gst.NewElement("tee")
	if err != nil {
		t.Fatal(err)
	}
	if err := tee.SetProperty("allow-not-linked", true); err != nil {
		t.Fatal(err)
	}
	bin := gst.NewBin("b")
	if err := bin.Add(tee); err != nil {
		t.Fatal(err)
	}
	if !bin.AddPad(gst.NewGhostPad("sink", tee.GetStaticPad("sink")).Pad) {
		t.Fatal("bin sink pad")
	}
	if err := pipe.Add(bin.Element); err != nil {
		t.Fatal(err)
	}
	if err := src.Link(bin.Element); err != nil {
		t.Fatal(err)
	}
	lt := &liveTee{pipe: pipe, bin: bin, tee: tee, times: WatchTimes(tee.GetStaticPad("sink"))}
	ctx, cancel := context.WithCancel(context.Background())
	lt.stop = cancel
	lt.done = WatchBus(ctx, pipe, func(m BusMessage) {
		if m.Type == gst.MessageError {
			lt.mu.Lock()
			lt.errors = append(lt.errors, m.Source+": "+m.Text)
			lt.mu.Unlock()
		}
	})
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = StopElement(pipe.Element, 5*time.Second)
		cancel()
		<-lt.done
		lt.times.Free()
	})
	lt.waitFlowing(t)
	return lt
}

// waitFlowing fails unless the producer pushes buffers within a second and
// nothing posted an error.
func (lt *liveTee) waitFlowing(t *testing.T) {
	t.Helper()
	n := lt.times.Buffers()
	deadline := time.Now().Add(time.Second)
	for lt.times.Buffers() < n+5 {
		if time.Now().After(deadline) {
			t.Fatalf("the producer stopped: %d buffers, still %d a second later", n, lt.times.Buffers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if len(lt.errors) > 0 {
		t.Fatalf("errors on the bus: %v", lt.errors)
	}
}

// TestIsolatedBranchOnRunningTee: 200 branches opened and closed on a tee
// that is pushing 12000 buffers a second; the producer never stops. Half
// of them feed a consumer that never started (its pad is flushing: it
// refuses every buffer, counted). Before the ghost pad was activated ahead
// of becoming the tee pad's peer, the tee could replay its sticky events
// into the still inactive pad, which stopped the producer with "streaming
// stopped, reason error (-5)": five runs of this test out of five, each
// within its first 200 branches.
func TestIsolatedBranchOnRunningTee(t *testing.T) {
	lt := newLiveTee(t)
	for i := range 200 {
		ghost, teePad, iso, err := IsolatedBranch(lt.bin, lt.tee, fmt.Sprintf("b%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			sink, err := gst.NewElement("fakesink")
			if err != nil {
				t.Fatal(err)
			}
			if err := lt.pipe.Add(sink); err != nil {
				t.Fatal(err)
			}
			_ = sink.SetLockedState(true) // stays NULL: flushing
			if ret := ghost.Link(sink.GetStaticPad("sink")); ret != gst.PadLinkOK {
				t.Fatalf("link: %v", ret)
			}
			lt.waitFlowing(t)
			if n, last := iso.Refused(); n == 0 || last != gst.FlowFlushing {
				t.Fatalf("branch %d: refused %d buffers (last %v), want the flushing consumer's refusals counted", i, n, last)
			}
			ghost.Unlink(sink.GetStaticPad("sink"))
			if err := RemoveElement(lt.pipe.Bin, sink, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		lt.waitFlowing(t)
		lt.bin.RemovePad(ghost)
		lt.tee.ReleaseRequestPad(teePad)
	}
}
