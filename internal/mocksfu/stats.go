package mocksfu

import "time"

// Stats is a snapshot of the mock SFU's counters.
type Stats struct {
	Room        string
	RTPAddr     string // where RTP/RTCP is sent ("" before Run resolved it)
	RecordingID string // "" if no recording was started
	Tracks      []TrackStats
}

// TrackStats are the counters of one track during one stay of its
// participant (a re-join creates a new entry with a new SSRC).
type TrackStats struct {
	ID          string // e.g. "p1-video"
	Participant string
	Kind        string // "video" / "audio"
	Codec       string
	SSRC        uint32
	PayloadType uint8
	ClockRate   uint32
	CNAME       string
	LocalAddr   string // the participant's UDP socket for this stay
	Started     time.Time
	FirstSent   time.Time // when its first RTP packet went out (zero before)
	Ended       time.Time // zero while active
	Active      bool      // registered on the server and sending
	Muted       bool
	Width       int // current video resolution (0 for audio)
	Height      int

	Produced     uint64 // RTP packets out of the encoder/payloader
	QueueDrops   uint64 // dropped because the send loop fell behind
	MutedDrops   uint64 // not forwarded while muted / waiting for a keyframe after unmute
	Forwarded    uint64 // forwarded by the "SFU" (counted in the SR packet count)
	Lost         uint64 // dropped by the loss impairment
	Reordered    uint64 // held back by the reorder impairment
	Duplicated   uint64 // sent twice by the duplicate impairment
	PacketsSent  uint64 // UDP datagrams with RTP actually sent (incl. duplicates)
	BytesSent    uint64 // their bytes (RTP header + payload)
	SendErrors   uint64
	KeyframesOut uint64 // keyframes forwarded (video)
	FramesOut    uint64 // video frames forwarded (packets with the marker bit)

	SRsSent          uint64
	ByesSent         uint64
	RRsReceived      uint64 // reception report blocks about this SSRC (in RR or SR)
	LastFractionLost float64
	LastJitter       uint32 // in RTP timestamp units, as reported
	NACKedPackets    uint64 // packets the receiver asked for again
	Resent           uint64 // of those, sent again
	ResendLost       uint64 // of those, lost again by the loss impairment
	ResendGone       uint64 // of those, no longer (or never) in the history
	PLIs             uint64
	FIRs             uint64
	FIRsIgnored      uint64 // FIRs repeating the last sequence number (RFC 5104)
	KeyframesForced  uint64 // force-key-unit events the encoder accepted (PLI/FIR/unmute)
}

// Stats returns a snapshot of all tracks created so far (including ended ones).
func (s *SFU) Stats() Stats {
	s.mu.Lock()
	tracks := append([]*track(nil), s.tracks...)
	st := Stats{Room: s.cfg.Room, RecordingID: s.recordingID}
	if s.rtpAddr != nil {
		st.RTPAddr = s.rtpAddr.String()
	}
	s.mu.Unlock()
	for _, t := range tracks {
		ts := TrackStats{
			ID: t.id, Participant: t.participant, Kind: t.kind, Codec: t.codec,
			SSRC: t.ssrc, PayloadType: t.pt, ClockRate: t.clock, CNAME: t.cname,
			LocalAddr: t.localAddr, Started: t.started,
			Active: t.active.Load(), Muted: t.muted.Load(),
			Width: int(t.resW.Load()), Height: int(t.resH.Load()),

			Produced: t.c.produced.Load(), QueueDrops: t.c.queueDrops.Load(),
			MutedDrops: t.c.mutedDrops.Load(), Forwarded: t.c.forwarded.Load(),
			Lost: t.c.lost.Load(), Reordered: t.c.reordered.Load(), Duplicated: t.c.duplicated.Load(),
			PacketsSent: t.c.sent.Load(), BytesSent: t.c.sentBytes.Load(), SendErrors: t.c.sendErrors.Load(),
			KeyframesOut: t.c.keyframes.Load(), FramesOut: t.c.frames.Load(),

			SRsSent: t.c.srs.Load(), ByesSent: t.c.byes.Load(), RRsReceived: t.c.rrs.Load(),
			LastFractionLost: float64(t.c.lastFractionLost.Load()) / 256,
			LastJitter:       t.c.lastJitter.Load(),
			NACKedPackets:    t.c.nacks.Load(),
			Resent:           t.c.resent.Load(), ResendLost: t.c.resendLost.Load(), ResendGone: t.c.resendGone.Load(),
			PLIs: t.c.plis.Load(), FIRs: t.c.firs.Load(), FIRsIgnored: t.c.firsIgnored.Load(),
			KeyframesForced: t.c.forced.Load(),
		}
		if e := t.ended.Load(); e != 0 {
			ts.Ended = time.Unix(0, e)
		}
		if f := t.first.Load(); f != 0 {
			ts.FirstSent = time.Unix(0, f)
		}
		st.Tracks = append(st.Tracks, ts)
	}
	return st
}

// Track returns the stats of the most recent stay of track id.
func (st Stats) Track(id string) (TrackStats, bool) {
	for i := len(st.Tracks) - 1; i >= 0; i-- {
		if st.Tracks[i].ID == id {
			return st.Tracks[i], true
		}
	}
	return TrackStats{}, false
}
