package testpeer

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/streamline-media/streamline/internal/gstx"
)

// RTPReceiver is a stand-in SFU taking an MCU output on one UDP port (RTP
// and RTCP multiplexed): it decodes the H.264 video (rtph264depay !
// avdec_h264) and the Opus audio (to mono S16 PCM), counts sender reports
// per SSRC and IDRs, and sends PLIs back to the sender.
type RTPReceiver struct {
	VideoPT, AudioPT uint8
	conn             *net.UDPConn
	vpipe, apipe     *gst.Pipeline
	vsrc, asrc       *app.Source
	frames           *gstx.Times
	wg               sync.WaitGroup
	// IDRs counts IDR slices received (reset it freely).
	IDRs atomic.Int64

	mu                   sync.Mutex
	from                 *net.UDPAddr
	srs                  map[uint32]int
	videoSSRC, audioSSRC uint32
	pcm                  []float64
}

// NewRTPReceiver listens on 127.0.0.1 (port: Port()).
func NewRTPReceiver(t testing.TB, videoPT, audioPT uint8) *RTPReceiver {
	t.Helper()
	gstx.Init()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &RTPReceiver{VideoPT: videoPT, AudioPT: audioPT, conn: conn, srs: map[uint32]int{}}
	r.vpipe, err = gst.NewPipelineFromString(fmt.Sprintf("appsrc name=src is-live=true format=time do-timestamp=true "+
		"caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=%d ! rtpjitterbuffer latency=50 ! rtph264depay ! h264parse ! avdec_h264 name=dec ! fakesink sync=false", videoPT))
	if err != nil {
		t.Fatal(err)
	}
	r.apipe, err = gst.NewPipelineFromString(fmt.Sprintf("appsrc name=src is-live=true format=time do-timestamp=true "+
		"caps=application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=%d ! rtpjitterbuffer latency=50 ! rtpopusdepay ! opusdec ! "+
		"audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! appsink name=pcm sync=false", audioPT))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.vpipe.GetElementByName("src")
	r.vsrc = app.SrcFromElement(e)
	dec, _ := r.vpipe.GetElementByName("dec")
	r.frames = gstx.WatchTimes(dec.GetStaticPad("src"))
	e, _ = r.apipe.GetElementByName("src")
	r.asrc = app.SrcFromElement(e)
	e, _ = r.apipe.GetElementByName("pcm")
	app.SinkFromElement(e).SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
		smp := s.PullSample()
		if smp == nil {
			return gst.FlowEOS
		}
		b := smp.GetBuffer().Bytes()
		r.mu.Lock()
		for i := 0; i+1 < len(b); i += 2 {
			r.pcm = append(r.pcm, float64(int16(binary.LittleEndian.Uint16(b[i:]))))
		}
		r.mu.Unlock()
		return gst.FlowOK
	}})
	for _, p := range []*gst.Pipeline{r.vpipe, r.apipe} {
		if err := p.SetState(gst.StatePlaying); err != nil {
			t.Fatal(err)
		}
	}
	r.wg.Add(1)
	go r.read()
	t.Cleanup(func() {
		conn.Close()
		r.wg.Wait()
		_ = gstx.StopElement(r.vpipe.Element, 5*time.Second)
		_ = gstx.StopElement(r.apipe.Element, 5*time.Second)
		r.frames.Free()
	})
	return r
}

// Port is the UDP port to send the MCU output to.
func (r *RTPReceiver) Port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// Frames is how many video frames were decoded.
func (r *RTPReceiver) Frames() uint64 { return r.frames.Buffers() }

// SSRCs are the video and audio SSRCs seen (0 until seen).
func (r *RTPReceiver) SSRCs() (video, audio uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.videoSSRC, r.audioSSRC
}

// SenderReports counts RTCP SRs from ssrc.
func (r *RTPReceiver) SenderReports(ssrc uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srs[ssrc]
}

// PCM returns the last n decoded audio samples (nil if fewer arrived).
func (r *RTPReceiver) PCM(n int) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pcm) < n {
		return nil
	}
	return append([]float64(nil), r.pcm[len(r.pcm)-n:]...)
}

func (r *RTPReceiver) read() {
	defer r.wg.Done()
	buf := make([]byte, 2000)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		r.mu.Lock()
		r.from = from
		if n > 1 && b[1] >= 192 && b[1] <= 223 {
			if pkts, err := rtcp.Unmarshal(b); err == nil {
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						r.srs[sr.SSRC]++
					}
				}
			}
			r.mu.Unlock()
			continue
		}
		var p rtp.Packet
		if p.Unmarshal(b) != nil {
			r.mu.Unlock()
			continue
		}
		switch p.PayloadType {
		case r.VideoPT:
			r.videoSSRC = p.SSRC
			if IsIDR(p.Payload) {
				r.IDRs.Add(1)
			}
			gstx.PushBytes(r.vsrc, b)
		case r.AudioPT:
			r.audioSSRC = p.SSRC
			gstx.PushBytes(r.asrc, b)
		}
		r.mu.Unlock()
	}
}

// IsIDR spots an H.264 IDR slice (NAL 5) in an RTP payload: single NAL,
// STAP-A (24) or the start of an FU-A (28).
func IsIDR(pl []byte) bool {
	if len(pl) < 2 {
		return false
	}
	switch pl[0] & 0x1f {
	case 5:
		return true
	case 24:
		for i := 1; i+2 < len(pl); {
			size := int(pl[i])<<8 | int(pl[i+1])
			if pl[i+2]&0x1f == 5 {
				return true
			}
			i += 2 + size
		}
	case 28:
		return pl[1]&0x80 != 0 && pl[1]&0x1f == 5
	}
	return false
}

// SendPLI asks the sender for a keyframe, to the address its media came
// from (or to port on 127.0.0.1 when port > 0).
func (r *RTPReceiver) SendPLI(port int) error {
	r.mu.Lock()
	from, ssrc := r.from, r.videoSSRC
	r.mu.Unlock()
	if port > 0 {
		from = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	}
	if from == nil {
		return fmt.Errorf("no media received yet")
	}
	b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: ssrc}})
	if err != nil {
		return err
	}
	_, err = r.conn.WriteToUDP(b, from)
	return err
}

// Goertzel is the power of freq in samples, normalised by the squared
// length (a full-scale sine of amplitude A gives about A²/4).
func Goertzel(samples []float64, rate, freq float64) float64 {
	w := 2 * math.Pi * freq / rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := x + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(samples)*len(samples))
}
