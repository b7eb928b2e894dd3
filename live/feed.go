package live

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// Kind tells video from audio.
type Kind int

// Stream kinds.
const (
	Video Kind = iota
	Audio
)

func (k Kind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// receiver takes the buffers of a Feed. caps and buf are borrowed: they
// are valid during the call only (a receiver pushing buf into an appsrc
// gives the appsrc its own reference). rt is the buffer's running time in
// the room's pipeline: encoders stamp their output on their own segments
// (x264enc adds 1000 hours), so PTS alone does not line audio up with video.
type receiver interface {
	receive(k Kind, caps *gst.Caps, buf *gst.Buffer, rt int64)
}

// Feed is an appsink at the end of an encoder in the room's pipeline that
// hands each encoded buffer to the outputs subscribed to it, so several
// outputs share one encoder.
type Feed struct {
	// Sink is the appsink: add Sink.Element to the room's pipeline and link
	// the encoder to it.
	Sink *app.Sink
	kind Kind

	mu   sync.RWMutex
	subs map[receiver]struct{}
}

// NewFeed builds the appsink of a feed.
func NewFeed(name string, k Kind) (*Feed, error) {
	e, err := gst.NewElementWithName("appsink", name)
	if err != nil {
		return nil, fmt.Errorf("live: feed %s: %w", name, err)
	}
	s := app.SinkFromElement(e)
	// sync=false: hand buffers on as they are encoded; async=false: a sink
	// added to a playing pipeline must not wait for preroll; no last sample
	// kept alive; never drop (the outputs' appsrcs bound their queues).
	for k, v := range map[string]any{"sync": false, "async": false, "enable-last-sample": false} {
		if err := s.SetProperty(k, v); err != nil {
			return nil, fmt.Errorf("live: feed %s: %s: %w", name, k, err)
		}
	}
	f := &Feed{Sink: s, kind: k, subs: map[receiver]struct{}{}}
	s.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: f.onSample})
	return f, nil
}

func (f *Feed) subscribe(r receiver) {
	f.mu.Lock()
	f.subs[r] = struct{}{}
	f.mu.Unlock()
}

func (f *Feed) unsubscribe(r receiver) {
	f.mu.Lock()
	delete(f.subs, r)
	f.mu.Unlock()
}

// Subscribers is how many outputs the feed serves.
func (f *Feed) Subscribers() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.subs)
}

// onSample runs on the encoder's streaming thread. The wrappers the
// bindings create here are released at once instead of by finalizers
// (GSTREAMER.md pitfall 2): about 80 samples a second per feed.
func (f *Feed) onSample(s *app.Sink) gst.FlowReturn {
	smp := s.PullSample()
	if smp == nil {
		return gst.FlowEOS
	}
	buf, caps := smp.GetBuffer(), smp.GetCaps()
	seg := smp.GetSegment()
	if buf != nil && caps != nil && seg != nil && buf.PresentationTimestamp() != gst.ClockTimeNone {
		rt := seg.ToRunningTimeFull(gst.FormatTime, uint64(buf.PresentationTimestamp()))
		f.mu.RLock()
		for r := range f.subs {
			r.receive(f.kind, caps, buf, rt)
		}
		f.mu.RUnlock()
	}
	if buf != nil {
		runtime.SetFinalizer(buf, nil)
		buf.Unref()
	}
	if caps != nil {
		runtime.SetFinalizer(caps, nil)
		caps.Unref()
	}
	runtime.SetFinalizer(smp, nil)
	smp.Unref()
	return gst.FlowOK
}
