package ingest

import (
	"encoding/binary"
	"time"
)

// rewriter keeps one logical track continuous across device changes. It also
// writes the payload type the segment was built with, so a payload type
// renumbered by the SFU (PATCH payload_type) needs no new caps. A new
// camera or microphone arrives with a new SSRC and fresh random sequence
// numbers and timestamps; the rewriter maps them so the jitterbuffer and the
// recording see one stream: the original SSRC, sequence numbers that carry
// on, and timestamps that advance by the wall-clock time that passed.
type rewriter struct {
	outSSRC   uint32
	outPT     uint8 // payload type the segment's caps announce
	clockRate int

	started       bool
	switchPending bool
	seqOffset     uint16
	mapSpan       int // output sequence numbers up to lastOutSeq in the current mapping (saturates)
	tsOffset      uint32
	lastOutSeq    uint16
	lastOutTS     uint32
	lastArrival   time.Time
}

func newRewriter(outSSRC uint32, outPT uint8, clockRate int) rewriter {
	return rewriter{outSSRC: outSSRC, outPT: outPT, clockRate: clockRate}
}

// switchSource makes the next packet start a new source mapping.
func (r *rewriter) switchSource() {
	if r.started {
		r.switchPending = true
	}
}

// mapTS converts a timestamp of the current source to the output timeline.
func (r *rewriter) mapTS(ts uint32) uint32 { return ts + r.tsOffset }

// maxRequestAhead bounds how far past the latest packet a retransmission
// request may reach (the jitterbuffer asks for the next expected packet
// when it is late).
const maxRequestAhead = 1000

// senderSeq maps an output sequence number back to the one the current
// source sent, for a retransmission request. It is false before the first
// packet, while a switch is pending, and for a number from before the
// current source's first packet (the old source cannot resend it).
func (r *rewriter) senderSeq(out uint16) (uint16, bool) {
	if !r.started || r.switchPending {
		return 0, false
	}
	if behind := r.lastOutSeq - out; behind < 0x8000 && int(behind) >= r.mapSpan {
		return 0, false
	} else if behind >= 0x8000 && out-r.lastOutSeq > maxRequestAhead {
		return 0, false
	}
	return out - r.seqOffset, true
}

// rewrite maps the packet's SSRC, sequence number and timestamp in place.
// pkt must be a valid RTP packet (at least 12 bytes).
func (r *rewriter) rewrite(pkt []byte, arrival time.Time) {
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	switch {
	case !r.started:
		r.started = true
		r.lastOutSeq = seq - 1
	case r.switchPending:
		r.switchPending = false
		elapsed := arrival.Sub(r.lastArrival)
		if elapsed < 0 {
			elapsed = 0
		}
		advance := uint32(elapsed.Seconds() * float64(r.clockRate))
		if advance == 0 {
			advance = 1
		}
		r.seqOffset = r.lastOutSeq + 1 - seq
		r.mapSpan = 0
		r.tsOffset = r.lastOutTS + advance - ts
	}
	outSeq := seq + r.seqOffset
	outTS := ts + r.tsOffset
	binary.BigEndian.PutUint16(pkt[2:4], outSeq)
	binary.BigEndian.PutUint32(pkt[4:8], outTS)
	binary.BigEndian.PutUint32(pkt[8:12], r.outSSRC)
	pkt[1] = pkt[1]&0x80 | r.outPT&0x7f
	if d := outSeq - r.lastOutSeq; d != 0 && d < 0x8000 {
		r.lastOutSeq, r.lastOutTS, r.lastArrival = outSeq, outTS, arrival
		r.mapSpan = min(r.mapSpan+int(d), 1<<16)
	}
}
