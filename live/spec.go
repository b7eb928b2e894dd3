// Package live sends a room's encoded composite to live destinations:
// RTMP (flvmux + rtmp2sink), HLS (hlssink2), SRT (mpegtsmux + srtsink) and
// RTP with RTCP sender reports (rtpbin), the last one answering PLI/FIR
// from its receiver with a keyframe request.
//
// Each destination runs in its own pipeline fed by appsrc from a Feed (an
// appsink on an encoder in the room's pipeline). A destination that fails
// (server gone, connection refused) is torn down and rebuilt with backoff;
// its errors never reach the room's pipeline, so the room, its recordings
// and the other destinations go on.
package live

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Output types.
const (
	TypeRTMP = "rtmp"
	TypeHLS  = "hls"
	TypeSRT  = "srt"
	TypeRTP  = "rtp"
)

// ErrInvalid is wrapped by every Spec validation error.
var ErrInvalid = errors.New("invalid output")

// Spec describes one live destination.
type Spec struct {
	Type string `json:"type"`
	// URL is the RTMP URL (rtmp://host[:port]/app/stream).
	URL string `json:"url,omitempty"`
	// Dir is where HLS writes playlist.m3u8 and its segments; the caller
	// resolves and confines it (ctl keeps it inside --data).
	Dir      string `json:"dir,omitempty"`
	SegmentS int    `json:"segment_s,omitempty"`
	// URI is the SRT URI (srt://host:port[?mode=caller|listener...]).
	URI string `json:"uri,omitempty"`
	// RTP destination; RTCP is multiplexed on the same port (RFC 5761),
	// and the receiver's RTCP (PLI/FIR) is read from the sending socket.
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port,omitempty"`
	VideoPT int    `json:"video_pt,omitempty"`
	AudioPT int    `json:"audio_pt,omitempty"`
	// SSRC of the video stream (0: random); audio uses SSRC+1.
	SSRC uint32 `json:"ssrc,omitempty"`
	// Participant, for RTP to an MCU participant: the audio is their
	// mix-minus (everyone but themselves) instead of the full mix.
	Participant string `json:"participant,omitempty"`
}

// Codecs returns the video and audio codec the destination carries.
func (s Spec) Codecs() (video, audio string) {
	if s.Type == TypeRTP {
		return "h264", "opus"
	}
	return "h264", "aac"
}

// Normalize fills defaults and checks the spec.
func (s *Spec) Normalize() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, a...))
	}
	if s.Participant != "" && s.Type != TypeRTP {
		return bad("participant", "only rtp outputs carry a mix-minus")
	}
	switch s.Type {
	case TypeRTMP:
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return bad("url", "%q is not rtmp://host[:port]/app/stream", s.URL)
		}
	case TypeHLS:
		if s.Dir == "" {
			return bad("dir", "required")
		}
		if s.SegmentS == 0 {
			s.SegmentS = 2
		}
		if s.SegmentS < 1 || s.SegmentS > 60 {
			return bad("segment_s", "%d is outside 1..60", s.SegmentS)
		}
	case TypeSRT:
		u, err := url.Parse(s.URI)
		if err != nil || u.Scheme != "srt" || u.Host == "" || u.Port() == "" {
			return bad("uri", "%q is not srt://host:port", s.URI)
		}
	case TypeRTP:
		if s.Host == "" || net.ParseIP(s.Host) == nil {
			if _, err := net.LookupHost(s.Host); s.Host == "" || err != nil {
				return bad("host", "%q is not an address", s.Host)
			}
		}
		if s.Port < 1 || s.Port > 65535 {
			return bad("port", "%d is outside 1..65535", s.Port)
		}
		if s.VideoPT == 0 {
			s.VideoPT = 96
		}
		if s.AudioPT == 0 {
			s.AudioPT = 111
		}
		for _, pt := range []struct {
			name string
			v    int
		}{{"video_pt", s.VideoPT}, {"audio_pt", s.AudioPT}} {
			if pt.v < 96 || pt.v > 127 {
				return bad(pt.name, "%d is not a dynamic payload type (96..127)", pt.v)
			}
		}
		if s.VideoPT == s.AudioPT {
			return bad("audio_pt", "must differ from video_pt")
		}
	case "":
		return bad("type", "required (rtmp, hls, srt or rtp)")
	default:
		return bad("type", "%q is not rtmp, hls, srt or rtp", s.Type)
	}
	return nil
}

// Target is a short description of where the output goes (for logs).
func (s Spec) Target() string {
	switch s.Type {
	case TypeRTMP:
		return s.URL
	case TypeHLS:
		return s.Dir
	case TypeSRT:
		return s.URI
	default:
		return net.JoinHostPort(s.Host, fmt.Sprint(s.Port))
	}
}

// Backoff is the retry policy of a failing output.
type Backoff struct {
	Min, Max time.Duration
	// Healthy: an attempt that ran this long resets the delay to Min.
	Healthy time.Duration
}

// DefaultBackoff retries after 1 s, doubling to 30 s.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, Healthy: 10 * time.Second}

func (b Backoff) next(cur time.Duration) time.Duration {
	if cur < b.Min {
		return b.Min
	}
	return min(cur*2, b.Max)
}
