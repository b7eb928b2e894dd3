package ctl

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/internal/gstx"
)

// encodingCollector exports each running composite encoding's frame rate,
// realtime factor and latency, read at scrape time from the C probe on the
// muxer's video input (gstx.Times), and the node's load.
type encodingCollector struct {
	s *Server

	frames, fps, realtime, latency *prometheus.Desc
	load, capacity                 *prometheus.Desc

	mu   sync.Mutex
	prev map[string]encSample // by room/recording/encoding: the last scrape
}

// encSample is what one scrape saw of an encoding.
type encSample struct {
	at      time.Time
	frames  uint64
	lastPTS int64
}

func newEncodingCollector(s *Server) *encodingCollector {
	l := []string{"room", "recording", "encoding", "encoder"}
	return &encodingCollector{
		s:        s,
		frames:   prometheus.NewDesc("streamline_encoding_frames_total", "Encoded video frames that reached the muxer.", l, nil),
		fps:      prometheus.NewDesc("streamline_encoding_fps", "Encoded frames per second since the previous scrape (since the start on the first).", l, nil),
		realtime: prometheus.NewDesc("streamline_encoding_realtime_factor", "Media seconds encoded per wall-clock second since the previous scrape; below 1 the encoding falls behind.", l, nil),
		latency:  prometheus.NewDesc("streamline_encoding_latency_seconds", "Pipeline latency: the room pipeline's running time minus the timestamp of the last encoded frame at the muxer.", l, nil),
		load:     prometheus.NewDesc("streamline_node_load_cores", "Estimated CPU cores in use by this node's media (the placement cost model).", nil, nil),
		capacity: prometheus.NewDesc("streamline_node_capacity_cores", "CPU cores this node offers for placement.", nil, nil),
		prev:     map[string]encSample{},
	}
}

// Describe implements prometheus.Collector.
func (c *encodingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.frames, c.fps, c.realtime, c.latency, c.load, c.capacity} {
		ch <- d
	}
}

// encodingReading is one encoding's counters at one instant.
type encodingReading struct {
	room, recording, encoding, encoder string
	started                            time.Time
	frames                             uint64
	firstPTS, lastPTS                  int64
	// runningTime is now on the encoding's timeline (the room pipeline's
	// running time less the encoding's zero), lastRunningTime the last
	// encoded frame's on the same timeline.
	runningTime, lastRunningTime int64
}

// readEncodings reads every running encoding of every room of this node.
func (s *Server) readEncodings() []encodingReading {
	medias := s.mediaList()
	var out []encodingReading
	for _, m := range medias {
		m.mu.Lock() // stopEncoding frees times with m.mu held
		rt := gstx.RunningTime(m.room.Pipeline())
		for id, rec := range m.composites {
			rec.mu.Lock()
			for i, e := range rec.info.Encodings {
				if e.times == nil || e.State != ingest.FileRecording {
					continue
				}
				out = append(out, encodingReading{room: m.room.ID(), recording: id, encoding: strconv.Itoa(i),
					encoder: e.VideoEncoder.Element, started: rec.info.StartedAt, frames: e.times.Buffers(),
					firstPTS: e.times.FirstPTS(), lastPTS: e.times.LastPTS(), runningTime: rt - e.zero,
					lastRunningTime: e.times.LastRunningTime()})
			}
			rec.mu.Unlock()
		}
		m.mu.Unlock()
	}
	return out
}

// Collect implements prometheus.Collector.
func (c *encodingCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.s.self()
	ch <- prometheus.MustNewConstMetric(c.load, prometheus.GaugeValue, n.Load)
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, n.Capacity)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range c.s.readEncodings() {
		labels := []string{r.room, r.recording, r.encoding, r.encoder}
		key := r.room + "/" + r.recording + "/" + r.encoding
		seen[key] = true
		ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(r.frames), labels...)
		if r.lastRunningTime >= 0 && r.runningTime >= r.lastRunningTime {
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, time.Duration(r.runningTime-r.lastRunningTime).Seconds(), labels...)
		}
		fps, rtf, ok := rates(c.prev[key], r, now)
		if ok {
			ch <- prometheus.MustNewConstMetric(c.fps, prometheus.GaugeValue, fps, labels...)
			ch <- prometheus.MustNewConstMetric(c.realtime, prometheus.GaugeValue, rtf, labels...)
		}
		c.prev[key] = encSample{at: now, frames: r.frames, lastPTS: r.lastPTS}
	}
	for key := range c.prev {
		if !seen[key] {
			delete(c.prev, key)
		}
	}
}

// minRateWindow: scrapes closer together than this reuse the long average.
const minRateWindow = 500 * time.Millisecond

// rates computes frames per second and media seconds per wall second since
// the previous sample, or since the encoding started when there is none
// (or it is too recent to measure).
func rates(prev encSample, r encodingReading, now time.Time) (fps, realtime float64, ok bool) {
	if !prev.at.IsZero() && now.Sub(prev.at) >= minRateWindow && prev.lastPTS >= 0 && r.lastPTS >= prev.lastPTS {
		wall := now.Sub(prev.at).Seconds()
		return float64(r.frames-prev.frames) / wall, time.Duration(r.lastPTS-prev.lastPTS).Seconds() / wall, true
	}
	wall := now.Sub(r.started).Seconds()
	if wall <= 0 || r.firstPTS < 0 || r.lastPTS < r.firstPTS {
		return 0, 0, false
	}
	return float64(r.frames) / wall, time.Duration(r.lastPTS-r.firstPTS).Seconds() / wall, true
}
