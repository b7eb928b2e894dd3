package ingest

import (
	"encoding/binary"
	"errors"
)

// Errors returned by packet classification and the API-facing validators.
var (
	ErrUnsupportedCodec = errors.New("unsupported codec")
	ErrMalformed        = errors.New("malformed packet")
	ErrNotRTPVersion2   = errors.New("not RTP version 2")
)

// PacketClass says what a datagram on a room's port is (RFC 5761 demultiplexing).
type PacketClass int

// Datagram classes.
const (
	ClassInvalid PacketClass = iota
	ClassRTP
	ClassRTCP
)

// Classify tells RTP from RTCP by the second octet, as RFC 5761 section 4
// prescribes: values 192–223 are RTCP packet types (SR=200, RR=201, …,
// PSFB=206), which no dynamic RTP payload type collides with.
func Classify(b []byte) PacketClass {
	if len(b) < 4 || b[0]>>6 != 2 {
		return ClassInvalid
	}
	if b[1] >= 192 && b[1] <= 223 {
		if len(b) < 8 {
			return ClassInvalid
		}
		return ClassRTCP
	}
	if len(b) < 12 {
		return ClassInvalid
	}
	return ClassRTP
}

// RTPSSRC reads the SSRC of an RTP packet already classified as ClassRTP.
func RTPSSRC(b []byte) uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// IsKeyframeStart reports whether an RTP payload begins a keyframe for codec.
// Audio payloads always report false.
func IsKeyframeStart(codec string, payload []byte) bool {
	switch codec {
	case "vp8":
		return vp8Keyframe(payload)
	case "vp9":
		return vp9Keyframe(payload)
	case "h264":
		return h264Keyframe(payload)
	}
	return false
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 section 4.2) and the
// first byte of the VP8 payload header, whose P bit is 0 on keyframes.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	start := p[0]&0x10 != 0
	pid := p[0] & 0x07
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte follows
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit picture id
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX byte
			i++
		}
	}
	if !start || pid != 0 || len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0
}

// vp9Keyframe reads the VP9 payload descriptor's first octet
// (I|P|L|F|B|E|V|Z): a keyframe starts a frame (B) that is not inter-predicted (P).
func vp9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	interPredicted := p[0]&0x40 != 0
	beginsFrame := p[0]&0x08 != 0
	return beginsFrame && !interPredicted
}

// h264Keyframe finds an IDR slice or SPS at the start of a single NAL unit,
// inside a STAP-A aggregate, or in the first fragment of an FU-A (RFC 6184).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch typ := p[0] & 0x1f; typ {
	case 5, 7:
		return true
	case 24: // STAP-A: 16-bit sizes followed by NAL units
		for i := 1; i+2 < len(p); {
			size := int(binary.BigEndian.Uint16(p[i:]))
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if t := p[i] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A
		if len(p) < 2 {
			return false
		}
		startBit := p[1]&0x80 != 0
		t := p[1] & 0x1f
		return startBit && (t == 5 || t == 7)
	}
	return false
}
