package ctl

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamline-media/streamline/ingest"
)

// metricsCollector reads every room's counters at scrape time, so the media
// path pays nothing for metrics.
type metricsCollector struct {
	s *Server

	rooms, tracks, recordings        *prometheus.Desc
	datagrams                        *prometheus.Desc
	packets, bytes, lost             *prometheus.Desc
	outOfOrder, jitter               *prometheus.Desc
	keyframeReq, pli, fir, nack, rtx *prometheus.Desc
	fileBytes                        *prometheus.Desc
}

func newMetricsCollector(s *Server) *metricsCollector {
	track := []string{"room", "track", "participant", "kind", "codec"}
	return &metricsCollector{
		s:          s,
		rooms:      prometheus.NewDesc("streamline_rooms", "Rooms served by this node.", nil, nil),
		tracks:     prometheus.NewDesc("streamline_tracks", "Registered tracks.", []string{"room"}, nil),
		recordings: prometheus.NewDesc("streamline_recordings_active", "Recordings in progress.", []string{"room", "kind"}, nil),
		datagrams:  prometheus.NewDesc("streamline_room_datagrams_total", "Datagrams received on a room's port, by class.", []string{"room", "class"}, nil),
		packets:    prometheus.NewDesc("streamline_track_packets_total", "RTP packets accepted.", track, nil),
		bytes:      prometheus.NewDesc("streamline_track_bytes_total", "RTP bytes accepted.", track, nil),
		// Gauges: RFC 3550's cumulative loss goes down when duplicates
		// arrive, and both restart with a device change.
		lost:        prometheus.NewDesc("streamline_track_packets_lost", "RTP packets lost (RFC 3550 cumulative: expected minus received; can go down).", track, nil),
		outOfOrder:  prometheus.NewDesc("streamline_track_packets_out_of_order", "RTP packets older than the highest received (restarts with a device change).", track, nil),
		jitter:      prometheus.NewDesc("streamline_track_jitter_seconds", "Interarrival jitter.", track, nil),
		keyframeReq: prometheus.NewDesc("streamline_track_keyframe_requests_total", "Keyframe requests made.", track, nil),
		pli:         prometheus.NewDesc("streamline_track_pli_sent_total", "PLI packets sent.", track, nil),
		fir:         prometheus.NewDesc("streamline_track_fir_sent_total", "FIR packets sent.", track, nil),
		nack:        prometheus.NewDesc("streamline_track_nack_sent_total", "Packets asked for again (RTCP NACK).", track, nil),
		rtx:         prometheus.NewDesc("streamline_track_rtx_packets_total", "Retransmissions received on the track's RTX stream.", track, nil),
		fileBytes:   prometheus.NewDesc("streamline_recording_bytes_written", "Bytes written to a recording's files.", []string{"room", "recording"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rooms, c.tracks, c.recordings, c.datagrams, c.packets, c.bytes, c.lost,
		c.outOfOrder, c.jitter, c.keyframeReq, c.pli, c.fir, c.nack, c.rtx, c.fileBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	rooms := make([]*ingest.Room, 0, len(c.s.rooms))
	for _, r := range c.s.rooms {
		rooms = append(rooms, r)
	}
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.rooms, prometheus.GaugeValue, float64(len(rooms)))
	for _, r := range rooms {
		id := r.ID()
		tracks := r.Tracks()
		ch <- prometheus.MustNewConstMetric(c.tracks, prometheus.GaugeValue, float64(len(tracks)), id)
		cnt := r.Counters()
		for class, v := range map[string]uint64{"rtp": cnt.RTP, "rtcp": cnt.RTCP, "malformed": cnt.Malformed, "oversized": cnt.Oversized,
			"unknown_ssrc": cnt.UnknownSSRC, "wrong_payload_type": cnt.WrongPayloadType, "foreign_source": cnt.ForeignSource} {
			ch <- prometheus.MustNewConstMetric(c.datagrams, prometheus.CounterValue, float64(v), id, class)
		}
		for _, t := range tracks {
			labels := []string{id, t.ID, t.Participant, string(t.Kind), t.Codec}
			st := t.Stats
			if st == nil {
				continue
			}
			for desc, v := range map[*prometheus.Desc]float64{c.packets: float64(st.Packets), c.bytes: float64(st.Bytes),
				c.keyframeReq: float64(st.KeyframeRequests), c.pli: float64(st.PLISent), c.fir: float64(st.FIRSent), c.nack: float64(st.NACKSent), c.rtx: float64(st.RTXPackets)} {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
			}
			ch <- prometheus.MustNewConstMetric(c.lost, prometheus.GaugeValue, float64(st.Lost), labels...)
			ch <- prometheus.MustNewConstMetric(c.outOfOrder, prometheus.GaugeValue, float64(st.OutOfOrder), labels...)
			ch <- prometheus.MustNewConstMetric(c.jitter, prometheus.GaugeValue, st.JitterMS/1000, labels...)
		}
		composites := map[string]bool{}
		if m := c.s.media(id); m != nil {
			for _, cid := range m.compositeIDs() {
				composites[cid] = true
			}
		}
		active := 0
		for _, rec := range r.Recordings() {
			var written uint64
			for _, f := range rec.Files {
				written += f.Bytes
			}
			ch <- prometheus.MustNewConstMetric(c.fileBytes, prometheus.GaugeValue, float64(written), id, rec.ID)
			// A composite's raw-track part ("tracks": true) shares its id and
			// is counted once, as the composite.
			if rec.State == ingest.StateRecording && !composites[rec.ID] {
				active++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.recordings, prometheus.GaugeValue, float64(active), id, "tracks")
		activeComposites := 0
		for cid := range composites {
			if info, err := c.s.composite(id, cid); err == nil && info.State == ingest.StateRecording {
				activeComposites++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.recordings, prometheus.GaugeValue, float64(activeComposites), id, "composite")
	}
}

// mountObservability adds /metrics and /debug/pprof.
func (s *Server) mountObservability(m *http.ServeMux) {
	reg := prometheus.NewRegistry()
	s.layoutLatency = newLayoutLatency()
	s.recordingFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamline_recording_failures_total",
		Help: "Recording files (kind=file: a track's) and composite encodings (kind=encoding) that failed while recording, e.g. on a full disk.",
	}, []string{"kind"})
	reg.MustRegister(newMetricsCollector(s), newEncodingCollector(s), s.layoutLatency, s.recordingFailures, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
