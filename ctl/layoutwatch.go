package ctl

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamline-media/streamline/internal/gstx"
)

// layoutWatch follows a running compositor's output so a layout change can
// be reported when the first frame showing it is out (layout_rendered).
type layoutWatch struct {
	fw  *gstx.FrameWatch
	gen uint64 // bumped by every arm: older waits give up
}

// layoutRenderWait bounds the wait for the first frame after a layout.
var layoutRenderWait = 3 * time.Second

// layoutLatency observes request → first frame with the new layout.
var layoutLatencyBuckets = []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5}

func newLayoutLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "streamline_layout_render_seconds",
		Help:    "From a layout change (REST or WebSocket) to the first composite frame built with it.",
		Buckets: layoutLatencyBuckets,
	})
}

// armLayoutWatchLocked is called with m.mu held right after a layout was set
// on the running compositor at requested: once the first frame built with
// it leaves the compositor, subscribers get layout_rendered.
func (s *Server) armLayoutWatchLocked(m *roomMedia, requested time.Time) {
	if m.graph == nil {
		return
	}
	if m.lw == nil {
		fw, err := m.graph.WatchFrames()
		if err != nil {
			s.log.Debug("layout watch", "room", m.room.ID(), "error", err)
			return
		}
		m.lw = &layoutWatch{fw: fw}
	}
	lw := m.lw
	lw.gen++
	gen := lw.gen
	applied := lw.fw.Arm()
	go s.awaitLayoutFrame(m, lw, gen, requested, applied)
}

// awaitLayoutFrame polls the watch (every millisecond: the hit time itself
// is taken in C, so polling only delays the event) until the frame is out,
// a newer layout supersedes this one, or the compositor stops.
func (s *Server) awaitLayoutFrame(m *roomMedia, lw *layoutWatch, gen uint64, requested time.Time, applied int64) {
	deadline := time.Now().Add(layoutRenderWait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		m.mu.Lock()
		if m.lw != lw || lw.gen != gen || time.Now().After(deadline) {
			m.mu.Unlock()
			return
		}
		mono, pts, ok := lw.fw.Hit()
		m.mu.Unlock()
		if !ok {
			continue
		}
		at := gstx.MonotonicToTime(mono)
		latency := at.Sub(requested)
		s.layoutLatency.Observe(latency.Seconds())
		s.hub.publish(Event{Type: "layout_rendered", Room: m.room.ID(), Data: map[string]any{
			"rendered_at": at.UTC(), "pts_ns": pts,
			"latency_ms": float64(latency.Microseconds()) / 1000,
			"apply_ms":   float64(mono-applied) / 1e6,
		}})
		return
	}
}

// stopLayoutWatchLocked detaches the watch before the compositor closes;
// it returns what to free once it is closed.
func (m *roomMedia) stopLayoutWatchLocked() func() {
	lw := m.lw
	m.lw = nil
	if lw == nil {
		return func() {}
	}
	lw.fw.Remove()
	return lw.fw.Free
}
