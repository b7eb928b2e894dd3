package mocksfu

import (
	"encoding/binary"
	"errors"
)

// rtpFields are the fields of an RTP packet the send path needs.
type rtpFields struct {
	seq        uint16
	ts         uint32
	headerLen  int // fixed header + CSRCs + extension
	payloadLen int // without padding
}

var errShortRTP = errors.New("short or malformed RTP packet")

func parseRTP(b []byte) (rtpFields, error) {
	var f rtpFields
	if len(b) < 12 || b[0]>>6 != 2 {
		return f, errShortRTP
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension
		if len(b) < n+4 {
			return f, errShortRTP
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		end -= int(b[len(b)-1])
	}
	if n > end {
		return f, errShortRTP
	}
	f.seq = binary.BigEndian.Uint16(b[2:])
	f.ts = binary.BigEndian.Uint32(b[4:])
	f.headerLen = n
	f.payloadLen = end - n
	return f, nil
}

// isKeyframeStart reports whether an RTP payload is the first packet of a
// keyframe (for VP8/VP9) or carries the start of an IDR access unit
// (SPS or IDR slice, for H.264).
func isKeyframeStart(codec string, payload []byte) bool {
	switch codec {
	case VideoVP8:
		return vp8KeyframeStart(payload)
	case VideoVP9:
		// I P L F B E V Z: B (start of frame) set, P (inter-picture predicted) clear.
		return len(payload) > 0 && payload[0]&0x08 != 0 && payload[0]&0x40 == 0
	case VideoH264:
		return h264HasKeyframe(payload)
	}
	return false
}

// vp8KeyframeStart parses the VP8 payload descriptor (RFC 7741 section 4.2)
// and the first byte of the VP8 payload header (P bit = 0 means key frame).
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture ID
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

func h264HasKeyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t == 5 || t == 7: // IDR slice, SPS
		return true
	case t == 24: // STAP-A
		for i := 1; i+2 < len(p); {
			n := int(binary.BigEndian.Uint16(p[i:]))
			if i+2 >= len(p) || n == 0 {
				return false
			}
			if nt := p[i+2] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += 2 + n
		}
	case t == 28: // FU-A: start bit and IDR type
		return len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}
