package live

import (
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

// rtpReceiver is a stand-in SFU: it takes the MCU output on one UDP port,
// decodes the video (rtph264depay ! avdec_h264) and counts what it saw.
type rtpReceiver struct {
	conn          *net.UDPConn
	pipe          *gst.Pipeline
	vsrc          *app.Source
	frames        *gstx.Times
	mu            sync.Mutex
	from          *net.UDPAddr
	videoPkts     map[uint8]int // by payload type
	idrAfter      atomic.Int64  // IDRs seen since reset
	srs           map[uint32]int
	videoSSRC     uint32
	audioSSRC     uint32
	audioPayloads [][]byte
	wg            sync.WaitGroup
	keepAudio     bool
	audioPT       uint8
	videoPT       uint8
}

func newRTPReceiver(t *testing.T, videoPT, audioPT uint8) *rtpReceiver {
	t.Helper()
	gstx.Init()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := gst.NewPipelineFromString("appsrc name=src is-live=true format=time do-timestamp=true " +
		"caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=H264 ! rtpjitterbuffer latency=50 ! rtph264depay ! h264parse ! avdec_h264 name=dec ! fakesink sync=false")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := pipe.GetElementByName("src")
	dec, _ := pipe.GetElementByName("dec")
	r := &rtpReceiver{conn: conn, pipe: pipe, vsrc: app.SrcFromElement(e), frames: gstx.WatchTimes(dec.GetStaticPad("src")),
		videoPkts: map[uint8]int{}, srs: map[uint32]int{}, videoPT: videoPT, audioPT: audioPT}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	r.wg.Add(1)
	go r.read()
	t.Cleanup(func() {
		conn.Close()
		r.wg.Wait()
		_ = gstx.StopElement(pipe.Element, 5*time.Second)
		r.frames.Free()
	})
	return r
}

func (r *rtpReceiver) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *rtpReceiver) read() {
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
		case r.videoPT:
			r.videoSSRC = p.SSRC
			r.videoPkts[p.PayloadType]++
			if isIDR(p.Payload) {
				r.idrAfter.Add(1)
			}
			gstx.PushBytes(r.vsrc, b)
		case r.audioPT:
			r.audioSSRC = p.SSRC
			if r.keepAudio {
				r.audioPayloads = append(r.audioPayloads, append([]byte(nil), p.Payload...))
			}
		}
		r.mu.Unlock()
	}
}

// isIDR spots an H.264 IDR slice (NAL 5) in an RTP payload: single NAL,
// STAP-A (24) or the start of an FU-A (28).
func isIDR(pl []byte) bool {
	if len(pl) < 2 {
		return false
	}
	switch t := pl[0] & 0x1f; t {
	case 5:
		return true
	case 24:
		for i := 1; i+2 < len(pl); {
			size := int(pl[i])<<8 | int(pl[i+1])
			if i+2 < len(pl) && pl[i+2]&0x1f == 5 {
				return true
			}
			i += 2 + size
		}
	case 28:
		return pl[1]&0x80 != 0 && pl[1]&0x1f == 5
	}
	return false
}

// sendPLI asks the sender for a keyframe, to the address the media came from.
func (r *rtpReceiver) sendPLI(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	from, ssrc := r.from, r.videoSSRC
	r.mu.Unlock()
	b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: ssrc}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.conn.WriteToUDP(b, from); err != nil {
		t.Fatal(err)
	}
}

func TestRTPOutputDecodesAndAnswersPLI(t *testing.T) {
	src := newTestSource(t, "opus")
	rx := newRTPReceiver(t, 100, 101)
	o := src.start(t, "rtp", Spec{Type: TypeRTP, Host: "127.0.0.1", Port: rx.port(), VideoPT: 100, AudioPT: 101, SSRC: 4242})
	waitState(t, o, StateLive, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for rx.frames.Buffers() < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d frames of the RTP output in 10 s", rx.frames.Buffers())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Sender reports for both SSRCs (video 4242, audio 4243).
	deadline = time.Now().Add(12 * time.Second)
	for {
		rx.mu.Lock()
		v, a, vs, as := rx.srs[4242], rx.srs[4243], rx.videoSSRC, rx.audioSSRC
		rx.mu.Unlock()
		if vs != 4242 || as != 4243 {
			t.Fatalf("SSRCs video %d audio %d, want 4242/4243", vs, as)
		}
		if v > 0 && a > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sender reports: video %d, audio %d", v, a)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A PLI is answered with an IDR long before the 2 s keyframe interval
	// would bring one: count IDRs right after several PLIs half a second apart.
	time.Sleep(300 * time.Millisecond)
	got := 0
	for i := 0; i < 3; i++ {
		rx.idrAfter.Store(0)
		rx.sendPLI(t)
		time.Sleep(500 * time.Millisecond)
		if rx.idrAfter.Load() > 0 {
			got++
		}
	}
	if got < 3 {
		t.Errorf("IDR within 500 ms after %d of 3 PLIs", got)
	}
	if n := o.Status().KeyframeRequests; n != 3 {
		t.Errorf("keyframe requests %d, want 3", n)
	}
}
