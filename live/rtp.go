package live

import (
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtcp"
)

// rtpConn is an RTP output's UDP socket: rtpbin's RTP and RTCP leave
// through it to one destination port (RTCP multiplexed, RFC 5761), and the
// receiver's RTCP comes back to it; PLI and FIR for the video SSRC become
// keyframe requests.
type rtpConn struct {
	conn     *net.UDPConn
	dst      *net.UDPAddr
	ssrc     uint32 // video; audio is ssrc+1
	keyframe func()
	sent     atomic.Uint64
	wg       sync.WaitGroup
}

func newRTPConn(spec Spec, keyframe func()) (*rtpConn, error) {
	dst, err := net.ResolveUDPAddr("udp", net.JoinHostPort(spec.Host, strconv.Itoa(spec.Port)))
	if err != nil {
		return nil, errorf("rtp destination: %w", err)
	}
	laddr := &net.UDPAddr{}
	if dst.IP.To4() != nil {
		laddr.IP = net.IPv4zero
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, errorf("rtp socket: %w", err)
	}
	ssrc := spec.SSRC
	for ssrc == 0 || ssrc == ^uint32(0) {
		ssrc = rand.Uint32()
	}
	c := &rtpConn{conn: conn, dst: dst, ssrc: ssrc, keyframe: keyframe}
	c.wg.Add(1)
	go c.readRTCP()
	return c, nil
}

func (c *rtpConn) localPort() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *rtpConn) send(b []byte) {
	if n, err := c.conn.WriteToUDP(b, c.dst); err == nil {
		c.sent.Add(uint64(n))
	}
}

// readRTCP answers the receiver's feedback until the socket closes.
func (c *rtpConn) readRTCP() {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 2 || buf[1] < 192 || buf[1] > 223 { // RTCP packet types 192-223 (RFC 5761)
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if wantsKeyframe(pkts, c.ssrc) {
			c.keyframe()
		}
	}
}

// wantsKeyframe reports a PLI or FIR for the video SSRC in a compound packet.
func wantsKeyframe(pkts []rtcp.Packet, ssrc uint32) bool {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			if p.MediaSSRC == ssrc {
				return true
			}
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				if e.SSRC == ssrc {
					return true
				}
			}
		}
	}
	return false
}

func (c *rtpConn) close() {
	_ = c.conn.Close()
	c.wg.Wait()
}

// rtpSinks sends what rtpbin's four appsinks receive through c.
func (in *instance) rtpSinks(c *rtpConn) error {
	for _, name := range []string{"vrtp", "vrtcp", "artp", "artcp"} {
		e, err := in.pipe.GetElementByName(name)
		if err != nil {
			return errorf("%s: %w", name, err)
		}
		s := app.SinkFromElement(e)
		// async=false: the RTCP sinks get nothing until the first report,
		// and must not hold the pipeline in preroll.
		for k, v := range map[string]any{"sync": false, "async": false, "enable-last-sample": false} {
			if err := s.SetProperty(k, v); err != nil {
				return errorf("%s.%s: %w", name, k, err)
			}
		}
		s.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			if b := pullBytes(s); b != nil {
				c.send(b)
				return gst.FlowOK
			}
			return gst.FlowEOS
		}})
		in.sinks = append(in.sinks, s)
	}
	return nil
}

// pullBytes copies out the next sample's buffer, releasing the wrappers at once.
func pullBytes(s *app.Sink) []byte {
	smp := s.PullSample()
	if smp == nil {
		return nil
	}
	var out []byte
	if buf := smp.GetBuffer(); buf != nil {
		out = buf.Bytes()
		runtime.SetFinalizer(buf, nil)
		buf.Unref()
	}
	runtime.SetFinalizer(smp, nil)
	smp.Unref()
	if out == nil {
		out = []byte{}
	}
	return out
}
