package ingest

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// TrackInfo is a track as the API sees it.
type TrackInfo struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
	Name        string `json:"name,omitempty"`
	Kind        Kind   `json:"kind"`
	Codec       string `json:"codec"`
	Source      string `json:"source,omitempty"`
	SSRC        uint32 `json:"ssrc"`
	PayloadType uint8  `json:"payload_type"`
	ClockRate   int    `json:"clock_rate"`
	// RTXSSRC and RTXPayloadType name the track's retransmission stream
	// (RFC 4588), if the SFU resends on one: its packets are unwrapped
	// into the track's own.
	RTXSSRC        uint32      `json:"rtx_ssrc,omitempty"`
	RTXPayloadType uint8       `json:"rtx_payload_type,omitempty"`
	Muted          bool        `json:"muted"`
	CNAME          string      `json:"cname,omitempty"`
	Segment        int         `json:"segment"`
	CreatedAt      time.Time   `json:"created_at"`
	Stats          *TrackStats `json:"stats,omitempty"`
}

// TrackStats are the per-track receive counters.
type TrackStats struct {
	Packets          uint64  `json:"packets"`
	Bytes            uint64  `json:"bytes"`
	Lost             int64   `json:"lost"`
	OutOfOrder       uint64  `json:"out_of_order"`
	JitterMS         float64 `json:"jitter_ms"`
	WrongPayloadType uint64  `json:"wrong_payload_type"`
	ForeignSource    uint64  `json:"foreign_source"`
	SourceMoves      uint64  `json:"source_moves"`
	PushDropped      uint64  `json:"push_dropped"`
	Keyframes        uint64  `json:"keyframes"`
	KeyframeRequests uint64  `json:"keyframe_requests"`
	PLISent          uint64  `json:"pli_sent"`
	FIRSent          uint64  `json:"fir_sent"`
	// NACKSent counts the packets asked for again (RTCP NACK).
	NACKSent uint64 `json:"nack_sent"`
	// RTXPackets counts retransmissions received on the RTX stream and
	// RTXPadding its packets without media (bandwidth probes), dropped.
	RTXPackets    uint64 `json:"rtx_packets"`
	RTXPadding    uint64 `json:"rtx_padding"`
	SenderReports uint64 `json:"sender_reports"`
	// TimelineLateMS: the current segment's stamps are this much later than
	// the media arrived (its first packet came late); the compositor moves
	// the track earlier by it.
	TimelineLateMS  float64    `json:"timeline_late_ms"`
	Source          string     `json:"source,omitempty"`
	LastPacketAt    *time.Time `json:"last_packet_at,omitempty"`
	SenderReportNTP *time.Time `json:"sender_report_ntp,omitempty"`
}

// Track is one registered RTP track of a room.
type Track struct {
	room  *Room
	codec Codec

	mu           sync.Mutex
	info         TrackInfo
	seg          *segment
	stats        ReceiveStats
	rw           rewriter
	src          netip.AddrPort // learned from the first RTP packet
	rtcpSrc      netip.AddrPort // learned from RTCP when it comes first
	sr           SenderReportInfo
	srSSRC       uint32
	lastPkt      time.Time
	counters     TrackStats
	firSeq       uint8
	lastKeyTS    uint32
	keyframeSeen bool
	ended        bool
	throttle     *KeyframeThrottle
	hdr          rtp.Header // scratch for the read loop
	pliSent      atomic.Uint64
	firSent      atomic.Uint64
	nackSent     atomic.Uint64
	hasSource    atomic.Bool
}

// handleRTP accounts, rewrites and pushes one RTP packet. Called from the
// room's read loop only.
func (t *Track) handleRTP(pkt []byte, from netip.AddrPort, now time.Time) {
	t.mu.Lock()
	n, err := t.hdr.Unmarshal(pkt)
	if err != nil || n > len(pkt) {
		t.mu.Unlock()
		t.room.counters.malformed.Add(1)
		return
	}
	rtx := t.info.RTXSSRC != 0 && t.hdr.SSRC == t.info.RTXSSRC
	wantPT := t.info.PayloadType
	if rtx {
		wantPT = t.info.RTXPayloadType
	}
	if t.hdr.PayloadType != wantPT {
		t.counters.WrongPayloadType++
		t.mu.Unlock()
		t.room.counters.wrongPayloadType.Add(1)
		return
	}
	if rtx {
		if !t.rw.started || t.rw.switchPending {
			// A resend cannot start a source: it answers a request made
			// to the source before (the rewriter would map from an old
			// packet).
			t.mu.Unlock()
			return
		}
		var ok bool
		if pkt, ok = unwrapRTX(pkt, n, t.hdr.Padding, t.info.SSRC, t.info.PayloadType); !ok {
			t.counters.RTXPadding++
			t.mu.Unlock()
			return
		}
		// The header kept its length; only these fields changed.
		t.hdr.SequenceNumber = binary.BigEndian.Uint16(pkt[2:4])
		t.hdr.SSRC, t.hdr.PayloadType = t.info.SSRC, t.info.PayloadType
		t.counters.RTXPackets++
	}
	if t.ended || t.seg == nil {
		t.mu.Unlock()
		return
	}
	first := !t.src.IsValid()
	var movedFrom netip.AddrPort
	var movedID string
	switch {
	case first:
		t.src = from
		t.hasSource.Store(true)
	case t.src != from && now.Sub(t.lastPkt) < SourceMoveAfter:
		// Once a track's source is learned, nobody else may feed it.
		t.counters.ForeignSource++
		t.mu.Unlock()
		t.room.counters.foreignSource.Add(1)
		return
	case t.src != from:
		// The learned source has been silent long enough: the sender moved
		// (an SFU restarted, a NAT rebound its port). Its stream starts
		// afresh (new sequence numbers and timestamps), continued on the
		// track's timeline as a device change is.
		movedFrom, movedID = t.src, t.info.ID
		t.newSourceLocked(from)
		t.counters.SourceMoves++
	}
	end := payloadEnd(pkt, n, t.hdr.Padding)
	if !rtx { // receive statistics describe the media stream as it arrived
		t.stats.Update(t.hdr.SequenceNumber, t.hdr.Timestamp, now)
	}
	keyframe := t.codec.Kind == Video && end > n && IsKeyframeStart(t.codec.Name, pkt[n:end])
	if keyframe {
		// A keyframe spans many packets (SPS, PPS, slices): count it once per timestamp.
		if !t.keyframeSeen || t.hdr.Timestamp != t.lastKeyTS {
			t.counters.Keyframes++
		}
		t.keyframeSeen, t.lastKeyTS = true, t.hdr.Timestamp
	}
	t.rw.rewrite(pkt, now)
	if t.seg.push(pkt, t.rw.mapTS(t.hdr.Timestamp), now) != 0 {
		t.counters.PushDropped++
	}
	t.counters.Packets++
	t.counters.Bytes += uint64(len(pkt))
	t.lastPkt = now
	t.mu.Unlock()
	if keyframe {
		t.throttle.KeyframeSeen()
	}
	if movedFrom.IsValid() {
		t.room.log.Warn("track source moved", "track", movedID, "from", movedFrom, "to", from)
	}
	if (first || movedFrom.IsValid()) && t.codec.Kind == Video {
		t.throttle.Request()
	}
}

// payloadEnd is where the payload of an RTP packet whose header is n bytes
// ends: before its padding, if it has any (the count is its last byte).
func payloadEnd(pkt []byte, n int, padding bool) int {
	end := len(pkt)
	if padding && end > n {
		end -= int(pkt[end-1])
	}
	return end
}

// unwrapRTX turns an RTX packet (RFC 4588: the original sequence number,
// then the original payload) whose header is n bytes into the packet it
// repeats, on ssrc with payload type pt; the marker bit, extensions and
// padding are kept. It is false for a packet without media (padding only).
func unwrapRTX(pkt []byte, n int, padding bool, ssrc uint32, pt uint8) ([]byte, bool) {
	end := payloadEnd(pkt, n, padding)
	if end-n < 3 { // no original sequence number, or nothing after it
		return nil, false
	}
	out := make([]byte, 0, len(pkt)-2)
	out = append(out, pkt[:n]...)
	out = append(out, pkt[n+2:]...)
	copy(out[2:4], pkt[n:n+2])
	binary.BigEndian.PutUint32(out[8:12], ssrc)
	out[1] = out[1]&0x80 | pt&0x7f
	return out, true
}

// SourceMoveAfter is how long a track's learned source must have sent
// nothing before another address may take the track over. Sooner, the
// other address's packets are foreign (dropped and counted).
var SourceMoveAfter = 3 * time.Second

// handleSenderReport keeps the sender's NTP ↔ RTP mapping.
func (t *Track) handleSenderReport(ssrc uint32, info SenderReportInfo, from netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.info.RTXSSRC != 0 && ssrc == t.info.RTXSSRC {
		return // the retransmission stream's report; the media's maps the track's timeline
	}
	t.sr, t.srSSRC = info, ssrc
	t.counters.SenderReports++
	if !t.rtcpSrc.IsValid() {
		t.rtcpSrc = from
	}
}

func (t *Track) setCNAME(cname string) {
	t.mu.Lock()
	t.info.CNAME = cname
	t.mu.Unlock()
}

// newSourceLocked starts a new sender on the track (a device change, a
// moved source): its address (invalid: learned from its first packet),
// reception statistics and sender report start afresh, and the rewriter
// continues the track's timeline from its first packet. t.mu is held.
func (t *Track) newSourceLocked(src netip.AddrPort) {
	t.src, t.rtcpSrc = src, netip.AddrPort{}
	t.hasSource.Store(src.IsValid())
	t.stats = ReceiveStats{ClockRate: t.info.ClockRate}
	t.sr, t.srSSRC = SenderReportInfo{}, 0
	t.rw.switchSource()
}

// segment is the track's current media chain, or nil once it ended.
func (t *Track) segment() *segment {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seg
}

// feedbackAddr is where RTCP feedback goes: the RTP source, else the RTCP source.
func (t *Track) feedbackAddr() (netip.AddrPort, uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	addr := t.src
	if !addr.IsValid() {
		addr = t.rtcpSrc
	}
	return addr, t.info.SSRC, addr.IsValid()
}

// senderReportLocked returns the last SR mapped onto the output timeline,
// or ok=false when it belongs to another source or cannot be mapped yet.
func (t *Track) senderReportLocked() (SenderReportInfo, bool) {
	if !t.sr.Valid() || t.srSSRC != t.info.SSRC || t.rw.switchPending {
		return SenderReportInfo{}, false
	}
	sr := t.sr
	sr.RTPTime = t.rw.mapTS(sr.RTPTime)
	return sr, true
}

// Info returns the track's description with its current counters.
func (t *Track) Info() TrackInfo {
	requests, _ := t.throttle.Counts() // before t.mu: Send takes t.mu under the throttle lock
	t.mu.Lock()
	defer t.mu.Unlock()
	info := t.info
	st := t.counters
	st.Lost = t.stats.Lost()
	if st.Lost < 0 {
		st.Lost = 0
	}
	st.OutOfOrder = t.stats.OutOfOrder()
	st.JitterMS = float64(t.stats.Jitter()) * 1000 / float64(t.info.ClockRate)
	st.KeyframeRequests = requests
	st.PLISent, st.FIRSent, st.NACKSent = t.pliSent.Load(), t.firSent.Load(), t.nackSent.Load()
	st.TimelineLateMS = float64(t.timelineLatenessLocked()) / float64(time.Millisecond)
	if t.src.IsValid() {
		st.Source = t.src.String()
	}
	if !t.lastPkt.IsZero() {
		lp := t.lastPkt.UTC()
		st.LastPacketAt = &lp
	}
	if t.sr.Valid() {
		ntp := NTPToTime(t.sr.NTP)
		st.SenderReportNTP = &ntp
	}
	info.Stats = &st
	return info
}

// refreshFile updates a recording's file entry from its branch's counters.
// final uses the snapshot taken at EOS.
func (t *Track) refreshFile(rec *Recording, b *branch, seg *segment, final bool) {
	times := b.snapshot
	if !final {
		times = b.readTimes()
	}
	t.mu.Lock()
	sr, srOK := t.senderReportLocked()
	clockRate := t.info.ClockRate
	t.mu.Unlock()

	var rtpTS uint32
	var rtpOK bool
	if times.FirstPTS >= 0 && seg != nil {
		rec.mu.Lock()
		have := b.file.FirstSampleRTP != nil
		rec.mu.Unlock()
		if !have {
			rtpTS, rtpOK = seg.rtpTimeAt(times.FirstPTS, clockRate)
		}
	}
	var size uint64
	if st, err := os.Stat(b.path); err == nil {
		size = uint64(st.Size())
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	f := b.file
	f.Bytes = size
	if times.FirstPTS >= 0 {
		f.started = true
		f.StartOffsetMS = (times.FirstPTS - rec.startRT) / int64(time.Millisecond)
		end := times.LastPTS
		if times.LastDur > 0 {
			end += times.LastDur
		}
		f.DurationMS = (end - times.FirstPTS) / int64(time.Millisecond)
		server := t.room.wallClockAt(times.FirstPTS)
		f.FirstSampleServerTime = &server
		if rtpOK {
			v := rtpTS
			f.FirstSampleRTP = &v
		}
		if f.FirstSampleRTP != nil && srOK && f.FirstSampleNTP == nil {
			ntp := sr.WallClock(*f.FirstSampleRTP, clockRate)
			f.FirstSampleNTP = &ntp
			f.FirstSampleNTPRaw = TimeToNTP(ntp)
		}
	}
	if final {
		switch {
		case f.State == FileFailed: // failed while recording: keep its first error
		case b.finalErr != nil:
			f.State, f.Error = FileFailed, b.finalErr.Error()
		default:
			f.State = FileFinal
		}
		if !f.started && f.State == FileFinal {
			// Nothing was recorded: a header-only file (no stream) is no
			// use to anyone; the entry says so, and why.
			_ = os.Remove(b.path)
			f.State, f.StartOffsetMS, f.Bytes, f.Error = FileEmpty, 0, 0, EmptyNoMedia
			if times.Offered > 0 {
				f.Error = EmptyNoKeyframe
			}
		}
	}
}
