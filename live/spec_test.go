package live

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/rtcp"
)

func TestSpecNormalize(t *testing.T) {
	for _, c := range []struct {
		spec Spec
		want string // "" = valid; else a substring of the error
	}{
		{Spec{Type: TypeRTMP, URL: "rtmp://h:1935/live/key"}, ""},
		{Spec{Type: TypeRTMP, URL: "http://h/live"}, "url"},
		{Spec{Type: TypeRTMP, URL: "rtmp://h"}, "url"},
		{Spec{Type: TypeHLS, Dir: "/d"}, ""},
		{Spec{Type: TypeHLS}, "dir"},
		{Spec{Type: TypeHLS, Dir: "/d", SegmentS: 99}, "segment_s"},
		{Spec{Type: TypeSRT, URI: "srt://h:9000"}, ""},
		{Spec{Type: TypeSRT, URI: "srt://h"}, "uri"},
		{Spec{Type: TypeRTP, Host: "127.0.0.1", Port: 5004}, ""},
		{Spec{Type: TypeRTP, Host: "127.0.0.1", Port: 0}, "port"},
		{Spec{Type: TypeRTP, Host: "127.0.0.1", Port: 5004, VideoPT: 96, AudioPT: 96}, "audio_pt"},
		{Spec{Type: TypeRTP, Host: "127.0.0.1", Port: 5004, VideoPT: 8}, "video_pt"},
		{Spec{Type: TypeRTP, Host: "", Port: 5004}, "host"},
		{Spec{Type: TypeRTMP, URL: "rtmp://h/a/b", Participant: "p"}, "participant"},
		{Spec{Type: "webrtc"}, "type"},
		{Spec{}, "type"},
	} {
		s := c.spec
		err := s.Normalize()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.spec, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one about %s", c.spec, err, c.want)
		}
	}
	s := Spec{Type: TypeRTP, Host: "127.0.0.1", Port: 5004}
	_ = s.Normalize()
	if s.VideoPT != 96 || s.AudioPT != 111 {
		t.Errorf("rtp defaults: %d/%d", s.VideoPT, s.AudioPT)
	}
}

func TestWantsKeyframe(t *testing.T) {
	const ssrc = 4242
	for _, c := range []struct {
		name string
		pkts []rtcp.Packet
		want bool
	}{
		{"PLI for the video", []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: ssrc}}, true},
		{"PLI for another SSRC", []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: ssrc + 1}}, false},
		{"FIR for the video", []rtcp.Packet{&rtcp.FullIntraRequest{SenderSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 7}, {SSRC: ssrc, SequenceNumber: 3}}}}, true},
		{"FIR for others", []rtcp.Packet{&rtcp.FullIntraRequest{SenderSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 7}}}}, false},
		{"receiver report then PLI", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1}, &rtcp.PictureLossIndication{MediaSSRC: ssrc}}, true},
		{"receiver report only", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1}}, false},
	} {
		if got := wantsKeyframe(c.pkts, ssrc); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
