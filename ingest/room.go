package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/pion/rtcp"

	"github.com/streamline-media/streamline/internal/cpupin"
	"github.com/streamline-media/streamline/internal/gstx"
)

// API-facing errors; ctl maps them to HTTP status codes.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
	ErrClosed   = errors.New("room closed")
)

// RoomConfig configures a room.
type RoomConfig struct {
	ID      string
	Listen  netip.AddrPort // UDP address to bind (port 0 = any)
	DataDir string         // recordings root
	// JitterLatency is the rtpjitterbuffer latency (default 200 ms).
	JitterLatency time.Duration
	// MaxDatagram is the largest datagram accepted (default 1500 bytes).
	MaxDatagram int
	// ReportInterval is the receiver-report period (default 1 s).
	ReportInterval time.Duration
	// KeyframeInterval is the minimum time between keyframe requests to one
	// track (default 500 ms).
	KeyframeInterval time.Duration
	// NoNACK turns retransmission requests off: by default the jitterbuffer
	// asks the sender (RTCP NACK, RFC 4585) for every packet missing from a
	// track while it can still wait for it, so a lossy path between the SFU
	// and this server costs neither frames nor keyframe requests when the
	// SFU retransmits.
	NoNACK bool
	Logger *slog.Logger
	// Allow, if not empty, accepts datagrams only from these networks.
	Allow []netip.Prefix
	// OnEvent, if set, is told about track changes. It runs on the caller's
	// goroutine after the room's locks are released and must not block.
	OnEvent func(Event)
	// OnError, if set, is told about every error an element of the room's
	// pipeline posts (element name and message), after the room has marked
	// its own recordings' files. It runs on the bus goroutine and must not
	// block.
	OnError func(element, text string)
	// OnFileFailed, if set, is told when a recording's file fails while it
	// records (see failBranchOf), with the file's entry. It runs on the bus
	// goroutine, before OnError, and must not block.
	OnFileFailed func(recording string, file FileEntry)
}

// RoomCounters count datagrams the room refused; they never log per packet.
type RoomCounters struct {
	Datagrams        uint64 `json:"datagrams"`
	RTP              uint64 `json:"rtp"`
	RTCP             uint64 `json:"rtcp"`
	Malformed        uint64 `json:"malformed"`
	Oversized        uint64 `json:"oversized"`
	UnknownSSRC      uint64 `json:"unknown_ssrc"`
	WrongPayloadType uint64 `json:"wrong_payload_type"`
	ForeignSource    uint64 `json:"foreign_source"`
	RTCPUnknownSSRC  uint64 `json:"rtcp_unknown_ssrc"`
	RTCPMalformed    uint64 `json:"rtcp_malformed"`
	NotAllowed       uint64 `json:"not_allowed"`
	FeedbackSent     uint64 `json:"feedback_sent"`
}

type roomCounters struct {
	datagrams, rtp, rtcp, malformed, oversized, unknownSSRC, wrongPayloadType,
	foreignSource, rtcpUnknown, rtcpMalformed, feedbackSent, notAllowed atomic.Uint64
}

// Room owns one UDP port, one GStreamer pipeline and the room's tracks and
// recordings. All methods are safe for concurrent use.
type Room struct {
	cfg    RoomConfig
	log    *slog.Logger
	conn   *net.UDPConn
	reader *udpReader // the receiving side of conn
	addr   netip.AddrPort
	pipe   *gst.Pipeline
	pin    *cpupin.Binding // where the pipeline's streaming threads run
	ssrc   uint32          // our RTCP sender SSRC
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	busWG  <-chan struct{}

	epochWall time.Time
	epochRT   int64

	counters roomCounters
	warnMu   sync.Mutex
	warned   map[string]time.Time
	routes   atomic.Pointer[map[uint32]*Track]
	segSeq   atomic.Uint64

	mu         sync.Mutex
	tracks     map[string]*Track
	trackOrder []string
	recordings map[string]*Recording
	recOrder   []string
	closed     bool
	createdAt  time.Time
}

// NewRoom binds the room's UDP port, starts its pipeline and its loops.
func NewRoom(cfg RoomConfig) (*Room, error) {
	gstx.Init()
	if cfg.JitterLatency == 0 {
		cfg.JitterLatency = 200 * time.Millisecond
	}
	if cfg.MaxDatagram == 0 {
		cfg.MaxDatagram = 1500
	}
	if cfg.ReportInterval == 0 {
		cfg.ReportInterval = time.Second
	}
	if cfg.KeyframeInterval == 0 {
		cfg.KeyframeInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("room %s: listen %s: %w", cfg.ID, cfg.Listen, err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	pipe, err := gst.NewPipeline("room-" + safeName(cfg.ID))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("room %s: pipeline: %w", cfg.ID, err)
	}
	// One clock and one base time for the room's whole life: with start time
	// NONE the pipeline never redistributes a new base time when a live bin
	// is added later, so every track's timestamps share one timeline.
	clock := gst.ObtainSystemClock()
	pipe.ForceClock(clock.Clock)
	pipe.SetStartTime(gst.ClockTimeNone)
	pipe.SetBaseTime(clock.GetTime())
	pin := cpupin.Attach(pipe) // before any task starts
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		pin.Close()
		conn.Close()
		return nil, fmt.Errorf("room %s: start pipeline: %w", cfg.ID, err)
	}
	pipe.GetState(gst.StatePlaying, gst.ClockTime(5*time.Second))
	r := &Room{
		cfg: cfg, log: cfg.Logger.With("room", cfg.ID), conn: conn,
		addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), pipe: pipe, pin: pin, ssrc: rand.Uint32(),
		tracks: map[string]*Track{}, recordings: map[string]*Recording{}, createdAt: time.Now().UTC(), warned: map[string]time.Time{},
	}
	r.epochWall, r.epochRT = time.Now(), gstx.RunningTime(pipe)
	empty := map[uint32]*Track{}
	r.routes.Store(&empty)
	r.ctx, r.stop = context.WithCancel(context.Background())
	r.busWG = gstx.WatchBus(r.ctx, pipe, r.onBusMessage)
	if r.reader, err = startUDPReader(conn, cfg.MaxDatagram, r.handleDatagram); err != nil {
		r.stop()
		<-r.busWG
		_ = gstx.StopElement(pipe.Element, 10*time.Second)
		pin.Close()
		conn.Close()
		return nil, fmt.Errorf("room %s: read RTP: %w", cfg.ID, err)
	}
	r.wg.Add(1)
	go r.reportLoop()
	return r, nil
}

// ID is the room id.
func (r *Room) ID() string { return r.cfg.ID }

// Addr is the bound UDP address.
func (r *Room) Addr() netip.AddrPort { return r.addr }

// CreatedAt is when the room was created.
func (r *Room) CreatedAt() time.Time { return r.createdAt }

// runningTime is the pipeline's running time now.
func (r *Room) runningTime() int64 { return gstx.RunningTime(r.pipe) }

// wallClockAt converts a running time of the room's pipeline to wall-clock time.
func (r *Room) wallClockAt(rt int64) time.Time {
	return r.epochWall.Add(time.Duration(rt - r.epochRT)).UTC()
}

func (r *Room) onBusMessage(m gstx.BusMessage) {
	switch m.Type {
	case gst.MessageError:
		r.log.Error("pipeline error", "element", m.Source, "error", m.Text, "debug", m.Debug)
		r.failBranchOf(m.Source, m.Text)
		if r.cfg.OnError != nil {
			r.cfg.OnError(m.Source, m.Text)
		}
	case gst.MessageWarning:
		// Elements can warn once per buffer; say each warning once a minute.
		key := m.Source + "\x00" + m.Text
		now := time.Now()
		r.warnMu.Lock()
		last, seen := r.warned[key]
		if !seen || now.Sub(last) > time.Minute {
			r.warned[key] = now
			r.warnMu.Unlock()
			r.log.Warn("pipeline warning", "element", m.Source, "warning", m.Text)
			return
		}
		r.warnMu.Unlock()
	}
}

// failBranchOf fails the recording branch one of whose elements posted an
// error: its file is marked failed with the error, and nothing more is
// pushed into it (muxers go on accepting buffers after their file sink
// failed, so the branch would count, and report, media its file never got).
func (r *Room) failBranchOf(element, text string) {
	r.mu.Lock()
	recs := maps.Clone(r.recordings)
	r.mu.Unlock()
	type failedFile struct {
		rec  string
		file FileEntry
	}
	var failed []failedFile
	for _, t := range r.trackList() {
		seg := t.segment()
		if seg == nil {
			continue
		}
		seg.mu.Lock()
		for recID, b := range seg.branches {
			if element != b.name && !strings.HasPrefix(element, b.name+"-") {
				continue
			}
			b.isolation.Fail()
			if rec := recs[recID]; rec != nil {
				rec.mu.Lock()
				if b.file.State == FileRecording {
					b.file.State, b.file.Error = FileFailed, text
					failed = append(failed, failedFile{recID, *b.file})
				}
				rec.mu.Unlock()
			}
		}
		seg.mu.Unlock()
	}
	for _, f := range failed {
		r.log.Error("recording file failed; the track and the other recordings go on", "recording", f.rec,
			"file", f.file.Path, "error", text)
		if r.cfg.OnFileFailed != nil {
			r.cfg.OnFileFailed(f.rec, f.file)
		}
	}
}

func branchName(recID string, f *FileEntry) string {
	return fmt.Sprintf("rec-%s-%s-%d", safeName(recID), safeName(f.Track), f.Segment)
}

func (r *Room) handleDatagram(b []byte, from netip.AddrPort, now time.Time) {
	r.counters.datagrams.Add(1)
	if len(b) > r.cfg.MaxDatagram {
		r.counters.oversized.Add(1)
		return
	}
	if len(r.cfg.Allow) > 0 && !allowed(r.cfg.Allow, from.Addr()) {
		r.counters.notAllowed.Add(1)
		return
	}
	switch Classify(b) {
	case ClassRTP:
		r.counters.rtp.Add(1)
		t := (*r.routes.Load())[RTPSSRC(b)]
		if t == nil {
			r.counters.unknownSSRC.Add(1)
			return
		}
		t.handleRTP(b, from, now)
	case ClassRTCP:
		r.counters.rtcp.Add(1)
		r.handleRTCP(b, from, now)
	default:
		r.counters.malformed.Add(1)
	}
}

func (r *Room) handleRTCP(b []byte, from netip.AddrPort, now time.Time) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		r.counters.rtcpMalformed.Add(1)
		return
	}
	routes := *r.routes.Load()
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			t := routes[p.SSRC]
			if t == nil {
				r.counters.rtcpUnknown.Add(1)
				continue
			}
			t.handleSenderReport(p.SSRC, SenderReportInfo{
				NTP: p.NTPTime, RTPTime: p.RTPTime, Packets: p.PacketCount, Octets: p.OctetCount, Arrival: now,
			}, from)
		case *rtcp.SourceDescription:
			for _, c := range p.Chunks {
				t := routes[c.Source]
				if t == nil {
					continue
				}
				for _, item := range c.Items {
					if item.Type == rtcp.SDESCNAME {
						t.setCNAME(item.Text)
					}
				}
			}
		}
	}
}

// reportLoop sends receiver reports and refreshes recording manifests.
func (r *Room) reportLoop() {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.ReportInterval)
	defer tick.Stop()
	manifestEvery := 5
	for n := 1; ; n++ {
		select {
		case <-r.ctx.Done():
			return
		case now := <-tick.C:
			r.sendReceiverReports(now)
			r.refreshRecordings(n%manifestEvery == 0)
		}
	}
}

func (r *Room) sendReceiverReports(now time.Time) {
	byAddr := map[netip.AddrPort][]rtcp.ReceptionReport{}
	for _, t := range r.trackList() {
		t.mu.Lock()
		if t.src.IsValid() && t.stats.Started() && !t.ended {
			sr := SenderReportInfo{}
			if t.srSSRC == t.info.SSRC {
				sr = t.sr
			}
			byAddr[t.src] = append(byAddr[t.src], t.stats.ReceptionReport(t.info.SSRC, sr, now))
		}
		t.mu.Unlock()
	}
	for addr, reports := range byAddr {
		for len(reports) > 0 {
			n := min(len(reports), 31)
			pkt, err := (&rtcp.ReceiverReport{SSRC: r.ssrc, Reports: reports[:n]}).Marshal()
			reports = reports[n:]
			if err == nil {
				r.sendRTCP(pkt, addr)
			}
		}
	}
}

func (r *Room) sendRTCP(pkt []byte, to netip.AddrPort) {
	if _, err := r.conn.WriteToUDPAddrPort(pkt, to); err == nil {
		r.counters.feedbackSent.Add(1)
	}
}

// sendKeyframeRequest sends PLI (and FIR when fir) to the track's sender.
func (r *Room) sendKeyframeRequest(t *Track, fir bool) {
	addr, ssrc, ok := t.feedbackAddr()
	if !ok {
		return
	}
	pkts := []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: r.ssrc, MediaSSRC: ssrc}}
	if fir {
		t.mu.Lock()
		t.firSeq++
		seq := t.firSeq
		t.mu.Unlock()
		pkts = append(pkts, &rtcp.FullIntraRequest{SenderSSRC: r.ssrc, MediaSSRC: ssrc,
			FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: seq}}})
		t.firSent.Add(1)
	}
	t.pliSent.Add(1)
	if b, err := rtcp.Marshal(pkts); err == nil {
		r.sendRTCP(b, addr)
	}
}

// sendNACK asks the track's sender to resend the packet the segment numbered
// seq (RTCP generic NACK), unless that packet came from an earlier source.
func (r *Room) sendNACK(t *Track, seq uint16) {
	t.mu.Lock()
	sent, ok := t.rw.senderSeq(seq)
	t.mu.Unlock()
	if !ok {
		return
	}
	addr, ssrc, ok := t.feedbackAddr()
	if !ok {
		return
	}
	nack := &rtcp.TransportLayerNack{SenderSSRC: r.ssrc, MediaSSRC: ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{sent})}
	if b, err := nack.Marshal(); err == nil {
		t.nackSent.Add(1)
		r.sendRTCP(b, addr)
	}
}

func (r *Room) trackList() []*Track {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Track, 0, len(r.trackOrder))
	for _, id := range r.trackOrder {
		out = append(out, r.tracks[id])
	}
	return out
}

// refreshRecordings updates every active file's timing, NTP and size, and
// rewrites the manifests when write is set, so a crash loses little.
func (r *Room) refreshRecordings(write bool) {
	for _, t := range r.trackList() {
		seg := t.segment()
		if seg == nil {
			continue
		}
		seg.mu.Lock()
		branches := make([]*branch, 0, len(seg.branches))
		for _, b := range seg.branches {
			branches = append(branches, b)
		}
		seg.mu.Unlock()
		for _, b := range branches {
			if rec := r.recording(b.recID); rec != nil {
				t.refreshFile(rec, b, seg, false)
			}
		}
	}
	if write {
		for _, rec := range r.activeRecordings() {
			if err := rec.writeManifest(); err != nil {
				r.log.Warn("manifest", "recording", rec.info.ID, "error", err)
			}
		}
	}
}

func (r *Room) recording(id string) *Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recordings[id]
}

func (r *Room) activeRecordings() []*Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Recording
	for _, id := range r.recOrder {
		rec := r.recordings[id]
		rec.mu.Lock()
		active := rec.info.State == StateRecording
		rec.mu.Unlock()
		if active {
			out = append(out, rec)
		}
	}
	return out
}

func (r *Room) setRoutes(mutate func(map[uint32]*Track)) {
	old := *r.routes.Load()
	next := make(map[uint32]*Track, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	mutate(next)
	r.routes.Store(&next)
}

// validRTX checks a track's retransmission stream against its media
// stream: both or neither of its SSRC and payload type, each different
// from the media's.
func validRTX(ssrc uint32, pt uint8, rtxSSRC uint32, rtxPT uint8) error {
	switch {
	case rtxSSRC == 0 && rtxPT == 0:
		return nil
	case rtxSSRC == 0:
		return fmt.Errorf("%w: rtx_payload_type %d without rtx_ssrc", ErrInvalid, rtxPT)
	case rtxPT == 0:
		return fmt.Errorf("%w: rtx_ssrc %d without rtx_payload_type", ErrInvalid, rtxSSRC)
	case rtxSSRC == ssrc:
		return fmt.Errorf("%w: rtx_ssrc %d is the track's own ssrc", ErrInvalid, rtxSSRC)
	case rtxPT > 127:
		return fmt.Errorf("%w: rtx_payload_type %d out of range 1-127", ErrInvalid, rtxPT)
	case rtxPT == pt:
		return fmt.Errorf("%w: rtx_payload_type %d is the track's own payload_type", ErrInvalid, rtxPT)
	}
	return nil
}

// AddTrack registers a track; its packets are routed by SSRC from now on.
func (r *Room) AddTrack(in TrackInfo) (TrackInfo, error) {
	codec, err := LookupCodec(in.Codec)
	if err != nil {
		return TrackInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if in.Kind == "" {
		in.Kind = codec.Kind
	}
	if in.Kind != codec.Kind {
		return TrackInfo{}, fmt.Errorf("%w: kind %q does not match codec %s (%s)", ErrInvalid, in.Kind, codec.Name, codec.Kind)
	}
	if in.ClockRate == 0 {
		in.ClockRate = codec.ClockRate
	}
	if in.PayloadType > 127 {
		return TrackInfo{}, fmt.Errorf("%w: payload_type %d out of range 0-127", ErrInvalid, in.PayloadType)
	}
	if err := validRTX(in.SSRC, in.PayloadType, in.RTXSSRC, in.RTXPayloadType); err != nil {
		return TrackInfo{}, err
	}
	in.Codec = codec.Name
	in.CreatedAt = time.Now().UTC()
	t, err := r.addTrack(in, codec)
	if err != nil {
		return TrackInfo{}, err
	}
	r.emit(EventTrackAdded, t)
	return t.Info(), nil
}

func (r *Room) addTrack(in TrackInfo, codec Codec) (*Track, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, dup := r.tracks[in.ID]; dup {
		return nil, fmt.Errorf("%w: track %q already exists", ErrConflict, in.ID)
	}
	for _, ssrc := range []uint32{in.SSRC, in.RTXSSRC} {
		if other := (*r.routes.Load())[ssrc]; other != nil && ssrc != 0 {
			return nil, fmt.Errorf("%w: ssrc %d is already used by track %q", ErrConflict, ssrc, other.info.ID)
		}
	}
	t := &Track{room: r, codec: codec, info: in}
	t.stats.ClockRate = in.ClockRate
	t.rw = newRewriter(in.SSRC, in.PayloadType, in.ClockRate)
	t.throttle = &KeyframeThrottle{MinInterval: r.cfg.KeyframeInterval, FIRAfter: 2 * r.cfg.KeyframeInterval,
		Send: func(fir bool) { r.sendKeyframeRequest(t, fir) }}
	seg, err := r.newSegmentFor(t, 0)
	if err != nil {
		return nil, err
	}
	t.seg = seg
	for _, id := range r.recOrder {
		rec := r.recordings[id]
		if rec.Info().State == StateRecording {
			r.attachRecordingLocked(t, seg, rec)
		}
	}
	r.tracks[in.ID] = t
	r.trackOrder = append(r.trackOrder, in.ID)
	r.setRoutes(func(m map[uint32]*Track) {
		m[in.SSRC] = t
		if in.RTXSSRC != 0 {
			m[in.RTXSSRC] = t
		}
	})
	r.log.Info("track added", "track", in.ID, "participant", in.Participant, "codec", in.Codec, "ssrc", in.SSRC)
	return t, nil
}

func (r *Room) newSegmentFor(t *Track, index int) (*segment, error) {
	name := fmt.Sprintf("trk-%d-%d", t.info.SSRC, r.segSeq.Add(1))
	cfg := segmentConfig{
		Name: name, Codec: t.codec, PayloadType: t.info.PayloadType, ClockRate: t.info.ClockRate,
		JitterLatency: r.cfg.JitterLatency, OnKeyframeNeeded: t.throttle.Request,
	}
	if !r.cfg.NoNACK {
		cfg.OnRetransmissionRequest = func(seq uint16) { r.sendNACK(t, seq) }
	}
	seg, err := newSegment(r.pipe, index, cfg)
	if err != nil {
		return nil, fmt.Errorf("track %s: %w", t.info.ID, err)
	}
	return seg, nil
}

// attachRecordingLocked adds a raw branch of rec to the track's segment.
// Failures are recorded on the file entry; the track and room go on.
func (r *Room) attachRecordingLocked(t *Track, seg *segment, rec *Recording) {
	t.mu.Lock()
	info := t.info
	t.mu.Unlock()
	entry, path := rec.newFile(info, t.codec, seg.index)
	b, err := newBranch(rec.info.ID, branchName(rec.info.ID, entry), path, t.codec, entry)
	if err == nil {
		err = seg.addBranch(b)
	}
	if err != nil {
		rec.mu.Lock()
		entry.State, entry.Error = FileFailed, err.Error()
		rec.mu.Unlock()
		r.log.Error("recording branch", "recording", rec.info.ID, "track", info.ID, "error", err)
		return
	}
	if t.codec.Kind == Video {
		t.throttle.Request()
	}
}

// TrackUpdate is a PATCH of a track: mute/unmute or a device change.
type TrackUpdate struct {
	Muted       *bool   `json:"muted,omitempty"`
	SSRC        *uint32 `json:"ssrc,omitempty"`
	Codec       *string `json:"codec,omitempty"`
	PayloadType *uint8  `json:"payload_type,omitempty"`
	ClockRate   *int    `json:"clock_rate,omitempty"`
	// RTXSSRC and RTXPayloadType replace the retransmission stream (0 and
	// 0: none); a new device usually comes with a new one.
	RTXSSRC        *uint32 `json:"rtx_ssrc,omitempty"`
	RTXPayloadType *uint8  `json:"rtx_payload_type,omitempty"`
}

// UpdateTrack applies mute/unmute and device changes. A new SSRC with the
// same codec continues the same segment and files; a codec change ends the
// segment (finalizing its files) and starts a new one.
func (r *Room) UpdateTrack(id string, u TrackUpdate) (TrackInfo, error) {
	r.mu.Lock()
	t := r.tracks[id]
	if t == nil {
		r.mu.Unlock()
		return TrackInfo{}, fmt.Errorf("%w: track %q", ErrNotFound, id)
	}
	newCodec := t.codec
	if u.Codec != nil {
		c, err := LookupCodec(*u.Codec)
		if err != nil {
			r.mu.Unlock()
			return TrackInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if c.Kind != t.codec.Kind {
			r.mu.Unlock()
			return TrackInfo{}, fmt.Errorf("%w: codec %s is %s but track %q is %s", ErrInvalid, c.Name, c.Kind, id, t.codec.Kind)
		}
		newCodec = c
	}
	if u.PayloadType != nil && *u.PayloadType > 127 {
		r.mu.Unlock()
		return TrackInfo{}, fmt.Errorf("%w: payload_type %d out of range 0-127", ErrInvalid, *u.PayloadType)
	}
	t.mu.Lock()
	ssrc, pt, rtxSSRC, rtxPT := t.info.SSRC, t.info.PayloadType, t.info.RTXSSRC, t.info.RTXPayloadType
	t.mu.Unlock()
	if u.SSRC != nil {
		ssrc = *u.SSRC
	}
	if u.PayloadType != nil {
		pt = *u.PayloadType
	}
	if u.RTXSSRC != nil {
		rtxSSRC = *u.RTXSSRC
	}
	if u.RTXPayloadType != nil {
		rtxPT = *u.RTXPayloadType
	}
	if err := validRTX(ssrc, pt, rtxSSRC, rtxPT); err != nil {
		r.mu.Unlock()
		return TrackInfo{}, err
	}
	for _, s := range []uint32{ssrc, rtxSSRC} {
		if other := (*r.routes.Load())[s]; other != nil && other != t && s != 0 {
			r.mu.Unlock()
			return TrackInfo{}, fmt.Errorf("%w: ssrc %d is already used by track %q", ErrConflict, s, other.info.ID)
		}
	}
	codecChanged := newCodec.Name != t.codec.Name

	t.mu.Lock()
	oldSSRC, oldRTX := t.info.SSRC, t.info.RTXSSRC
	t.info.RTXSSRC, t.info.RTXPayloadType = rtxSSRC, rtxPT
	muteChanged := u.Muted != nil && *u.Muted != t.info.Muted
	if u.Muted != nil {
		t.info.Muted = *u.Muted
	}
	if u.PayloadType != nil {
		t.info.PayloadType = *u.PayloadType
	}
	if u.ClockRate != nil && *u.ClockRate > 0 {
		t.info.ClockRate = *u.ClockRate
	} else if codecChanged {
		t.info.ClockRate = newCodec.ClockRate
	}
	sourceChanged := u.SSRC != nil && *u.SSRC != oldSSRC
	if sourceChanged {
		t.info.SSRC = *u.SSRC
		t.info.CNAME = ""
		t.newSourceLocked(netip.AddrPort{})
	}
	var old *segment
	if codecChanged {
		t.codec = newCodec
		t.info.Codec = newCodec.Name
		t.info.Segment++
		t.stats = ReceiveStats{ClockRate: t.info.ClockRate}
		t.rw = newRewriter(t.info.SSRC, t.info.PayloadType, t.info.ClockRate)
		old = t.seg
		t.seg = nil
	}
	t.mu.Unlock()

	if sourceChanged || rtxSSRC != oldRTX {
		r.setRoutes(func(m map[uint32]*Track) {
			for _, s := range []uint32{oldSSRC, oldRTX} {
				if m[s] == t {
					delete(m, s)
				}
			}
			m[ssrc] = t
			if rtxSSRC != 0 {
				m[rtxSSRC] = t
			}
		})
	}
	var err error
	if codecChanged {
		var seg *segment
		seg, err = r.newSegmentFor(t, t.info.Segment)
		if err == nil {
			t.mu.Lock()
			t.seg = seg
			t.mu.Unlock()
			for _, rid := range r.recOrder {
				if rec := r.recordings[rid]; rec.Info().State == StateRecording {
					r.attachRecordingLocked(t, seg, rec)
				}
			}
		}
	}
	r.mu.Unlock()
	if old != nil {
		r.finishSegment(t, old)
	}
	if err != nil {
		return TrackInfo{}, err
	}
	if u.Muted != nil && !*u.Muted && t.codec.Kind == Video {
		t.throttle.Request() // a fresh picture right after unmute
	}
	switch {
	case codecChanged:
		r.emit(EventTrackSegment, t)
	case sourceChanged:
		r.emit(EventTrackDevice, t)
	}
	if muteChanged {
		if *u.Muted {
			r.emit(EventTrackMuted, t)
		} else {
			r.emit(EventTrackUnmuted, t)
		}
	}
	return t.Info(), nil
}

// finishSegment ends a segment and finalizes its files and manifests.
func (r *Room) finishSegment(t *Track, seg *segment) {
	branches := seg.endWith(r.pipe, func(b *branch) {
		if rec := r.recording(b.recID); rec != nil {
			t.refreshFile(rec, b, seg, true)
		}
	})
	for _, b := range branches {
		if rec := r.recording(b.recID); rec != nil {
			if err := rec.writeManifest(); err != nil {
				r.log.Warn("manifest", "recording", b.recID, "error", err)
			}
		}
	}
}

// RemoveTrack ends a track: its files are finalized at once while the rest
// of the room goes on.
func (r *Room) RemoveTrack(id string) error {
	r.mu.Lock()
	t := r.tracks[id]
	if t == nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: track %q", ErrNotFound, id)
	}
	delete(r.tracks, id)
	r.trackOrder = removeString(r.trackOrder, id)
	r.setRoutes(func(m map[uint32]*Track) {
		for _, ssrc := range []uint32{t.info.SSRC, t.info.RTXSSRC} {
			if m[ssrc] == t {
				delete(m, ssrc)
			}
		}
	})
	r.mu.Unlock()
	r.emit(EventTrackRemoved, t)
	r.endTrack(t)
	r.log.Info("track removed", "track", id)
	return nil
}

func (r *Room) endTrack(t *Track) {
	t.throttle.Stop()
	t.mu.Lock()
	t.ended = true
	seg := t.seg
	t.seg = nil
	t.mu.Unlock()
	if seg != nil {
		r.finishSegment(t, seg)
	}
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// Track returns one track.
func (r *Room) Track(id string) (TrackInfo, error) {
	r.mu.Lock()
	t := r.tracks[id]
	r.mu.Unlock()
	if t == nil {
		return TrackInfo{}, fmt.Errorf("%w: track %q", ErrNotFound, id)
	}
	return t.Info(), nil
}

// Tracks lists the tracks in join order.
func (r *Room) Tracks() []TrackInfo {
	list := r.trackList()
	out := make([]TrackInfo, len(list))
	for i, t := range list {
		out[i] = t.Info()
	}
	return out
}

// RequestKeyframe asks a video track's sender for a keyframe (throttled).
func (r *Room) RequestKeyframe(id string) error {
	r.mu.Lock()
	t := r.tracks[id]
	r.mu.Unlock()
	if t == nil {
		return fmt.Errorf("%w: track %q", ErrNotFound, id)
	}
	if t.codec.Kind != Video {
		return fmt.Errorf("%w: track %q is audio; keyframes are for video", ErrInvalid, id)
	}
	t.throttle.Request()
	return nil
}

// StartRecording starts a raw-track recording of every current and future track.
func (r *Room) StartRecording(id, mode string) (RecordingInfo, error) {
	switch mode {
	case "":
		mode = ModePerTrack
	case ModePerTrack, ModePerParticipant:
	default:
		return RecordingInfo{}, fmt.Errorf("%w: mode %q (want per_track or per_participant)", ErrInvalid, mode)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return RecordingInfo{}, ErrClosed
	}
	if _, dup := r.recordings[id]; dup {
		return RecordingInfo{}, fmt.Errorf("%w: recording %q already exists", ErrConflict, id)
	}
	if entries, err := os.ReadDir(filepath.Join(r.cfg.DataDir, safeName(r.cfg.ID), id)); err == nil && len(entries) > 0 {
		return RecordingInfo{}, fmt.Errorf("%w: recording directory %s/%s already holds files from an earlier recording", ErrConflict, r.cfg.ID, id)
	}
	rec := newRecording(id, r.cfg.ID, mode, r.cfg.DataDir, r.runningTime(), time.Now())
	r.recordings[id] = rec
	r.recOrder = append(r.recOrder, id)
	for _, tid := range r.trackOrder {
		t := r.tracks[tid]
		seg := t.segment()
		if seg != nil {
			r.attachRecordingLocked(t, seg, rec)
		}
	}
	if err := rec.writeManifest(); err != nil {
		r.log.Warn("manifest", "recording", id, "error", err)
	}
	r.log.Info("recording started", "recording", id, "mode", mode)
	return rec.Info(), nil
}

// StopRecording finalizes every file of the recording and returns its final state.
func (r *Room) StopRecording(id string) (RecordingInfo, error) {
	r.mu.Lock()
	rec := r.recordings[id]
	if rec == nil {
		r.mu.Unlock()
		return RecordingInfo{}, fmt.Errorf("%w: recording %q", ErrNotFound, id)
	}
	rec.mu.Lock()
	if rec.info.State != StateRecording {
		rec.mu.Unlock()
		r.mu.Unlock()
		return rec.Info(), nil
	}
	rec.info.State = StateStopping
	rec.mu.Unlock()
	tracks := make([]*Track, 0, len(r.trackOrder))
	for _, tid := range r.trackOrder {
		tracks = append(tracks, r.tracks[tid])
	}
	r.mu.Unlock()
	r.finalizeRecording(rec, tracks)
	return rec.Info(), nil
}

func (r *Room) finalizeRecording(rec *Recording, tracks []*Track) {
	var wg sync.WaitGroup
	for _, t := range tracks {
		seg := t.segment()
		if seg == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := seg.removeBranch(rec.info.ID); b != nil {
				t.refreshFile(rec, b, seg, true)
			}
		}()
	}
	wg.Wait()
	var mergeErr error
	if rec.info.Mode == ModePerParticipant {
		mergeErr = mergeParticipants(rec, r.log)
	}
	rec.mu.Lock()
	now := time.Now().UTC()
	rec.info.StoppedAt = &now
	rec.info.State = StateStopped
	if mergeErr != nil {
		rec.info.State = StateFailed
		rec.info.Error = mergeErr.Error()
	}
	for _, f := range rec.info.Files {
		if f.State == FileRecording {
			f.State = FileFailed
			f.Error = "not finalized"
		}
	}
	rec.mu.Unlock()
	if err := rec.writeManifest(); err != nil {
		r.log.Warn("manifest", "recording", rec.info.ID, "error", err)
	}
	r.log.Info("recording stopped", "recording", rec.info.ID, "files", len(rec.info.Files))
}

// Recording returns one recording's state.
func (r *Room) Recording(id string) (RecordingInfo, error) {
	rec := r.recording(id)
	if rec == nil {
		return RecordingInfo{}, fmt.Errorf("%w: recording %q", ErrNotFound, id)
	}
	return rec.Info(), nil
}

// Recordings lists the room's recordings in start order.
func (r *Room) Recordings() []RecordingInfo {
	r.mu.Lock()
	recs := make([]*Recording, 0, len(r.recOrder))
	for _, id := range r.recOrder {
		recs = append(recs, r.recordings[id])
	}
	r.mu.Unlock()
	out := make([]RecordingInfo, len(recs))
	for i, rec := range recs {
		out[i] = rec.Info()
	}
	return out
}

// Counters returns the room's datagram counters.
func (r *Room) Counters() RoomCounters {
	c := &r.counters
	return RoomCounters{
		Datagrams: c.datagrams.Load(), RTP: c.rtp.Load(), RTCP: c.rtcp.Load(), Malformed: c.malformed.Load(),
		Oversized: c.oversized.Load(), UnknownSSRC: c.unknownSSRC.Load(), WrongPayloadType: c.wrongPayloadType.Load(),
		ForeignSource: c.foreignSource.Load(), RTCPUnknownSSRC: c.rtcpUnknown.Load(), RTCPMalformed: c.rtcpMalformed.Load(),
		FeedbackSent: c.feedbackSent.Load(), NotAllowed: c.notAllowed.Load(),
	}
}

// PinTo keeps the room's streaming threads on one CPU (cpupin.Float:
// anywhere), those running and those starting later; a codec's own
// threads follow only when they start after it (see cpupin).
func (r *Room) PinTo(cpu int) { r.pin.Set(cpu) }

// PinnedTo is the CPU the room's streaming threads are kept on
// (cpupin.Float: none).
func (r *Room) PinnedTo() int { return r.pin.CPU() }

// PipelineDOT returns the live pipeline graph in dot syntax.
func (r *Room) PipelineDOT() string { return gstx.DotGraph(r.pipe) }

// Close stops every recording (finalizing every file), stops the pipeline
// and frees the port. It is idempotent.
func (r *Room) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var active []*Recording
	for _, id := range r.recOrder {
		rec := r.recordings[id]
		rec.mu.Lock()
		if rec.info.State == StateRecording {
			rec.info.State = StateStopping
			active = append(active, rec)
		}
		rec.mu.Unlock()
	}
	tracks := make([]*Track, 0, len(r.trackOrder))
	for _, id := range r.trackOrder {
		tracks = append(tracks, r.tracks[id])
	}
	r.mu.Unlock()

	// Ending every track finalizes all its branches in parallel.
	var wg sync.WaitGroup
	for _, t := range tracks {
		wg.Add(1)
		go func() { defer wg.Done(); r.endTrack(t) }()
	}
	wg.Wait()
	for _, rec := range active {
		r.finalizeRecording(rec, nil)
	}
	r.stop()
	r.reader.stop()
	r.conn.Close()
	r.wg.Wait()
	<-r.busWG
	err := gstx.StopElement(r.pipe.Element, 10*time.Second)
	r.pin.Close()
	r.log.Info("room closed")
	return err
}

func allowed(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
