package ingest

import (
	"time"

	"github.com/pion/rtcp"
)

// ReceiveStats keeps the RFC 3550 (appendix A.1, A.3, A.8) receiver
// statistics of one RTP source: extended sequence numbers, loss and
// interarrival jitter. It is not safe for concurrent use; the room's read
// loop owns it and snapshots are taken under the track lock.
type ReceiveStats struct {
	ClockRate int

	started      bool
	baseSeq      uint32 // extended
	maxSeq       uint16
	cycles       uint32
	received     uint64
	outOfOrder   uint64
	expectedPrio uint32 // expected at last report
	receivedPrio uint64 // received at last report

	transit    int64 // previous relative transit time, clock units
	jitter     float64
	lastArrive time.Time
}

// Update accounts one packet with sequence number seq and RTP timestamp ts
// that arrived at arrival. It returns the number of sequence numbers skipped
// (a gap that may be loss or reordering).
func (s *ReceiveStats) Update(seq uint16, ts uint32, arrival time.Time) (gap int) {
	if !s.started {
		s.started = true
		s.baseSeq = uint32(seq)
		s.maxSeq = seq
		s.received = 1
		s.lastArrive = arrival
		s.transit = s.transitOf(ts, arrival)
		return 0
	}
	s.received++
	delta := seq - s.maxSeq
	switch {
	case delta == 0:
		// duplicate of the highest packet
	case delta < 0x8000: // forward (with wrap)
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
		gap = int(delta) - 1
	default: // older than the highest: reordered or duplicate
		s.outOfOrder++
	}
	// Interarrival jitter, RFC 3550 A.8.
	transit := s.transitOf(ts, arrival)
	d := transit - s.transit
	s.transit = transit
	if d < 0 {
		d = -d
	}
	s.jitter += (float64(d) - s.jitter) / 16
	s.lastArrive = arrival
	return gap
}

func (s *ReceiveStats) transitOf(ts uint32, arrival time.Time) int64 {
	rate := s.ClockRate
	if rate == 0 {
		rate = 90000
	}
	arrivalUnits := arrival.UnixNano() / 1000 * int64(rate) / 1_000_000
	return arrivalUnits - int64(ts)
}

// ExtendedHighest is the highest sequence number received, with wrap cycles.
func (s *ReceiveStats) ExtendedHighest() uint32 { return s.cycles | uint32(s.maxSeq) }

// Expected is the number of packets expected so far.
func (s *ReceiveStats) Expected() uint32 {
	if !s.started {
		return 0
	}
	return s.ExtendedHighest() - s.baseSeq + 1
}

// Lost is the cumulative number of packets lost (may be negative with duplicates).
func (s *ReceiveStats) Lost() int64 { return int64(s.Expected()) - int64(s.received) }

// Received is the number of packets received, duplicates included.
func (s *ReceiveStats) Received() uint64 { return s.received }

// OutOfOrder counts packets older than the highest already received.
func (s *ReceiveStats) OutOfOrder() uint64 { return s.outOfOrder }

// Jitter is the interarrival jitter estimate in RTP clock units.
func (s *ReceiveStats) Jitter() uint32 { return uint32(s.jitter) }

// Started reports whether any packet was counted.
func (s *ReceiveStats) Started() bool { return s.started }

// ReceptionReport builds the report block for ssrc and starts a new
// reporting interval for the fraction-lost computation. sr is the last sender
// report from this source (zero when none) and now the send time.
func (s *ReceiveStats) ReceptionReport(ssrc uint32, sr SenderReportInfo, now time.Time) rtcp.ReceptionReport {
	expected := s.Expected()
	expectedInterval := expected - s.expectedPrio
	receivedInterval := s.received - s.receivedPrio
	s.expectedPrio, s.receivedPrio = expected, s.received
	var fraction uint8
	if lostInterval := int64(expectedInterval) - int64(receivedInterval); expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8((lostInterval << 8) / int64(expectedInterval))
	}
	lost := s.Lost()
	switch {
	case lost < 0:
		lost = 0
	case lost > 0x7fffff:
		lost = 0x7fffff
	}
	rr := rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost),
		LastSequenceNumber: s.ExtendedHighest(),
		Jitter:             s.Jitter(),
	}
	if !sr.Arrival.IsZero() {
		rr.LastSenderReport = uint32(sr.NTP >> 16)
		rr.Delay = uint32(now.Sub(sr.Arrival).Seconds() * 65536)
	}
	return rr
}

// SenderReportInfo is the part of a sender report kept for lip-sync and for
// receiver reports.
type SenderReportInfo struct {
	NTP     uint64 // 64-bit NTP timestamp of the report
	RTPTime uint32 // RTP timestamp that corresponds to NTP
	Packets uint32
	Octets  uint32
	Arrival time.Time
}

// Valid reports whether a sender report was received.
func (i SenderReportInfo) Valid() bool { return !i.Arrival.IsZero() }

// WallClock maps an RTP timestamp of this source to the sender's wall clock
// through the report's NTP ↔ RTP pair. The 32-bit difference is taken as
// signed, so timestamps on either side of the report (and across a
// wraparound) map correctly.
func (i SenderReportInfo) WallClock(rtpTS uint32, clockRate int) time.Time {
	diff := int64(int32(rtpTS - i.RTPTime))
	offset := time.Duration(diff * int64(time.Second) / int64(clockRate))
	return NTPToTime(i.NTP).Add(offset)
}

const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970

// NTPToTime converts a 64-bit NTP timestamp to time.Time.
func NTPToTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochOffset
	frac := ntp & 0xffffffff
	nanos := int64((frac * 1_000_000_000) >> 32)
	return time.Unix(secs, nanos).UTC()
}

// TimeToNTP converts t to a 64-bit NTP timestamp.
func TimeToNTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1_000_000_000
	return secs<<32 | frac
}
