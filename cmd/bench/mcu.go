package main

// -mode mcu: the MCU path of live streams (live/, ctl/streams.go).
//
// Glass-to-glass latency: one participant sends 640x360 VP8 at 30 fps whose
// every frame carries its number as a stamp (comp_check.go); the room's
// composite comes back as an RTP output (H.264), which this process decodes
// (no jitter buffer on our side, single-threaded decoder) and reads the
// stamp of. Latency = decoded-at minus the time the stamped raw frame was
// handed to the sender's encoder, so it includes encoding on both sides,
// the server's jitter buffer (-jitter-ms, 50 by default), decoding, the
// compositor's latency and payloading.
//
// Output cost: server CPU over a window with the MCU output alone, then with
// one more output at a time: an RTP output with the same settings (shares
// the encoders), an RTP output at another bitrate (its own H.264 encoder),
// an HLS output (shares the video encoder, adds AAC). Each step is reported
// as cores and as a ratio to the MCU output alone; medians of -runs runs.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
)

type mcuConfig struct {
	runs     int
	window   time.Duration
	jitterMS int
	server   string
	keep     bool
	warmup   time.Duration
	haltPoll time.Duration // -halt-poll; negative: leave the machine as it is
}

func parseMCUFlags(args []string, stderr io.Writer) (mcuConfig, error) {
	fs := flag.NewFlagSet("bench -mode mcu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := mcuConfig{}
	fs.IntVar(&c.runs, "runs", 3, "runs (medians are reported)")
	fs.DurationVar(&c.window, "window", 6*time.Second, "measurement window per step")
	fs.IntVar(&c.jitterMS, "jitter-ms", 50, "the server's jitter buffer (--jitter-ms)")
	fs.StringVar(&c.server, "server", "", "streamline binary (default bin/streamline)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory")
	fs.DurationVar(&c.warmup, "warmup", 0, "the sender encodes this long before its first packet (0: cold start, its first packets late and bunched)")
	quick := fs.Bool("quick", false, "smoke run: 1 run, 3 s windows")
	fs.DurationVar(&c.haltPoll, "halt-poll", -1, haltPollUsage)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *quick {
		c.runs, c.window = 1, 3*time.Second
	}
	if c.runs < 1 || c.window < time.Second || c.jitterMS < 0 {
		return c, errors.New("-runs ≥ 1, -window ≥ 1s, -jitter-ms ≥ 0")
	}
	return c, nil
}

func runMCU(args []string, stdout, stderr io.Writer) int {
	mc, err := parseMCUFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	undoHaltPoll, err := withHaltPoll(mc.haltPoll, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer undoHaltPoll()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{out: stdout, log: stderr, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))}
	b.cfg.serverArgs = []string{"--jitter-ms", fmt.Sprint(mc.jitterMS)}
	if b.root, b.serverBin, err = locateServer(mc.server); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer b.kids.killAll()
	if err := mcuMain(ctx, b, mc); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// mcuStep is one output configuration of the cost measurement.
type mcuStep struct {
	name string
	add  map[string]any // the output this step adds (nil: the MCU output alone)
}

func mcuSteps(rxPort int, hlsDir string) []mcuStep {
	v := map[string]any{"width": 640, "height": 360, "bitrate_kbps": 800}
	return []mcuStep{
		{name: "MCU RTP output alone"},
		{name: "+ RTP, same settings (shared encoders)", add: map[string]any{"type": "rtp", "host": "127.0.0.1", "port": rxPort, "video": v}},
		{name: "+ RTP, 700 kbit/s (own H.264 encoder)", add: map[string]any{"type": "rtp", "host": "127.0.0.1", "port": rxPort,
			"video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 700}}},
		{name: "+ HLS (shared H.264, own AAC)", add: map[string]any{"type": "hls", "dir": hlsDir, "segment_s": 2, "video": v}},
	}
}

func mcuMain(ctx context.Context, b *bench, mc mcuConfig) error {
	gstx.Init()
	tmp, err := os.MkdirTemp("", "streamline-mcu-bench")
	if err != nil {
		return err
	}
	if !mc.keep {
		defer os.RemoveAll(tmp)
	}
	fmt.Fprintf(b.out, "MCU bench: 1 participant 640x360 VP8 30 fps in, composite 640x360 H.264 out over RTP; server jitter buffer %d ms; sender warm-up %s; %d run(s), %s windows\n",
		mc.jitterMS, mc.warmup, mc.runs, mc.window)
	fmt.Fprintf(b.out, "  machine: %s\n", machineLine())
	var lat []float64
	steps := mcuSteps(0, "")
	cpu := make([][]float64, len(steps))
	for run := 1; run <= mc.runs; run++ {
		l, c, err := mcuRun(ctx, b, mc, filepath.Join(tmp, fmt.Sprintf("run%d", run)))
		if err != nil {
			return fmt.Errorf("run %d: %w", run, err)
		}
		fmt.Fprintf(b.out, "  run %d: latency p50 %.0f ms over %d frames; CPU %s\n", run, percentile(l, 50), len(l), fmtCores(c))
		lat = append(lat, l...)
		for i := range c {
			cpu[i] = append(cpu[i], c[i])
		}
	}
	fmt.Fprintf(b.out, "\nGlass-to-glass latency (RTP in → MCU RTP out, decoded), %d frames:\n", len(lat))
	target := "n/a: the target is for a 50 ms jitter buffer"
	if mc.jitterMS == 50 {
		target = verdict(percentile(lat, 50) <= 150)
	}
	fmt.Fprintf(b.out, "  p50 %.0f ms   p90 %.0f ms   p99 %.0f ms   (target p50 ≤ 150 ms: %s)\n",
		percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), target)
	fmt.Fprintf(b.out, "\nServer CPU per output configuration (median of %d):\n", mc.runs)
	base := median(cpu[0])
	prev := base
	for i, s := range steps {
		m := median(cpu[i])
		fmt.Fprintf(b.out, "  %-42s %5.2f cores   ×%.2f of the MCU output alone   step +%.2f cores\n", s.name, m, safeDiv(m, base), m-prev)
		prev = m
	}
	return nil
}

func fmtCores(c []float64) string {
	var s []string
	for _, v := range c {
		s = append(s, fmt.Sprintf("%.2f", v))
	}
	return strings.Join(s, "/") + " cores"
}

// percentile is the nearest-rank p-th percentile of xs (any order).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// mcuRun measures latency with the MCU output alone, then CPU per step.
func mcuRun(ctx context.Context, b *bench, mc mcuConfig, dir string) ([]float64, []float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	srv, err := b.startServer(ctx, dir, 4)
	if err != nil {
		return nil, nil, err
	}
	defer srv.stop(10 * time.Second)
	a := srv.api
	var room struct {
		RTP struct {
			Port int `json:"port"`
		} `json:"rtp"`
	}
	if err := a.do(ctx, "POST", "/v1/rooms", map[string]any{"id": "mcu"}, &room); err != nil {
		return nil, nil, err
	}
	const ssrc = 777
	if err := a.do(ctx, "POST", "/v1/rooms/mcu/tracks", map[string]any{"id": "cam", "participant": "p1", "kind": "video",
		"codec": "vp8", "ssrc": ssrc, "payload_type": 96}, nil); err != nil {
		return nil, nil, err
	}
	tx, err := newStampSender(room.RTP.Port, ssrc, mc.warmup)
	if err != nil {
		return nil, nil, err
	}
	defer tx.close()
	rx, err := newStampReceiver(tx)
	if err != nil {
		return nil, nil, err
	}
	defer rx.close()
	if err := a.do(ctx, "POST", "/v1/rooms/mcu/streams", map[string]any{"id": "mcu", "type": "rtp", "host": "127.0.0.1", "port": rx.port(),
		"video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 800}}, nil); err != nil {
		return nil, nil, err
	}
	var lay layoutJSON
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := a.do(ctx, "GET", "/v1/rooms/mcu/layout", nil, &lay); err == nil && len(lay.Layout.Tiles) == 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("no tile in the layout")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rx.setContent(lay.Layout.Tiles[0].Content)
	// Warm up: wait for stamps to read, then measure.
	deadline = time.Now().Add(20 * time.Second)
	for rx.count() < 30 {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("no readable stamps from the MCU output (%d frames decoded)", rx.decoded())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	rx.reset()
	if err := sleepCtx(ctx, mc.window); err != nil {
		return nil, nil, err
	}
	lat := rx.latencies()

	steps := mcuSteps(rx.port(), "hls") // under the server's --data
	cpu := make([]float64, len(steps))
	for i, s := range steps {
		if s.add != nil {
			add := map[string]any{"id": fmt.Sprintf("extra%d", i)}
			for k, v := range s.add {
				add[k] = v
			}
			if err := a.do(ctx, "POST", "/v1/rooms/mcu/streams", add, nil); err != nil {
				return nil, nil, err
			}
			if err := sleepCtx(ctx, 2*time.Second); err != nil { // the new output settles
				return nil, nil, err
			}
		}
		c0, err := procCPU(srv.cmd.Process.Pid)
		if err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		if err := sleepCtx(ctx, mc.window); err != nil {
			return nil, nil, err
		}
		c1, err := procCPU(srv.cmd.Process.Pid)
		if err != nil {
			return nil, nil, err
		}
		cpu[i] = (c1 - c0).Seconds() / time.Since(t0).Seconds()
	}
	return lat, cpu, nil
}

// stampSender encodes stamped frames (VP8, realtime) and sends the RTP to
// the room, remembering when each frame number went into the encoder.
type stampSender struct {
	pipe *gst.Pipeline
	src  *app.Source
	conn *net.UDPConn
	mu   sync.Mutex
	sent map[int]time.Time
	stop chan struct{}
	done chan struct{}
	// sending opens after an optional warm-up (-warmup): with none, the
	// first packets come late (the encoder starting up) and in a burst,
	// which once added their lateness to every later frame (the jitter
	// buffer anchored on the first arrival) and could leave the tile on its
	// placeholder (a keyframe from before the mix's start).
	sending atomic.Bool
}

func newStampSender(port int, ssrc uint32, warmup time.Duration) (*stampSender, error) {
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, err
	}
	pipe, err := gst.NewPipelineFromString(fmt.Sprintf("appsrc name=src is-live=true format=time do-timestamp=true "+
		"caps=video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! vp8enc deadline=1 cpu-used=8 threads=1 lag-in-frames=0 "+
		"end-usage=cbr target-bitrate=800000 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=%d mtu=1200 ! appsink name=out sync=false", ssrc))
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &stampSender{pipe: pipe, conn: conn, sent: map[int]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	e, _ := pipe.GetElementByName("src")
	s.src = app.SrcFromElement(e)
	e, _ = pipe.GetElementByName("out")
	app.SinkFromElement(e).SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(sk *app.Sink) gst.FlowReturn {
		smp := sk.PullSample()
		if smp == nil {
			return gst.FlowEOS
		}
		if b := smp.GetBuffer().Bytes(); s.sending.Load() {
			_, _ = conn.Write(b)
		}
		return gst.FlowOK
	}})
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		conn.Close()
		return nil, err
	}
	go s.loop(warmup)
	return s, nil
}

func (s *stampSender) loop(warmup time.Duration) {
	defer close(s.done)
	frame := make([]byte, 640*360*3/2)
	for i := range frame[:640*360] {
		frame[i] = 90
	}
	for i := range frame[640*360:] {
		frame[640*360+i] = 128
	}
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	warm := time.Now().Add(warmup)
	for n := 0; ; n++ {
		if !s.sending.Load() && time.Now().After(warm) {
			s.sending.Store(true)
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		stamp := n % (1 << stampBits)
		stampI420(frame, 640, 360, stamp)
		s.mu.Lock()
		s.sent[stamp] = time.Now()
		s.mu.Unlock()
		gstx.PushBytes(s.src, frame)
	}
}

func (s *stampSender) sentAt(n int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.sent[n]
	return t, ok
}

func (s *stampSender) close() {
	close(s.stop)
	<-s.done
	_ = gstx.StopElement(s.pipe.Element, 5*time.Second)
	s.conn.Close()
}

// stampReceiver decodes the MCU output and reads each frame's stamp.
type stampReceiver struct {
	tx      *stampSender
	conn    *net.UDPConn
	pipe    *gst.Pipeline
	src     *app.Source
	mu      sync.Mutex
	content rect
	seen    map[int]bool
	lat     []float64
	frames  int
	wg      sync.WaitGroup
}

func newStampReceiver(tx *stampSender) (*stampReceiver, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	pipe, err := gst.NewPipelineFromString("appsrc name=src is-live=true format=time do-timestamp=true " +
		"caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96 ! rtph264depay ! h264parse ! " +
		"avdec_h264 max-threads=1 ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false")
	if err != nil {
		conn.Close()
		return nil, err
	}
	r := &stampReceiver{tx: tx, conn: conn, pipe: pipe, seen: map[int]bool{}}
	e, _ := pipe.GetElementByName("src")
	r.src = app.SrcFromElement(e)
	e, _ = pipe.GetElementByName("out")
	app.SinkFromElement(e).SetCallbacks(&app.SinkCallbacks{NewSampleFunc: r.onFrame})
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		conn.Close()
		return nil, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 2000)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n > 12 && (buf[1] < 192 || buf[1] > 223) && buf[1]&0x7f == 96 { // video RTP only
				gstx.PushBytes(r.src, buf[:n])
			}
		}
	}()
	return r, nil
}

func (r *stampReceiver) onFrame(sk *app.Sink) gst.FlowReturn {
	smp := sk.PullSample()
	if smp == nil {
		return gst.FlowEOS
	}
	now := time.Now()
	pix := smp.GetBuffer().Bytes()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames++
	if r.content.W == 0 || len(pix) < 640*360 {
		return gst.FlowOK
	}
	n, ok := readStamp(grayFrame{pix: pix, w: 640, h: 360}, r.content, 640, 360)
	if !ok || r.seen[n] {
		return gst.FlowOK
	}
	r.seen[n] = true
	if at, ok := r.tx.sentAt(n); ok && now.Sub(at) < 5*time.Second {
		r.lat = append(r.lat, float64(now.Sub(at).Microseconds())/1000)
	}
	return gst.FlowOK
}

func (r *stampReceiver) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *stampReceiver) setContent(c rect) {
	r.mu.Lock()
	r.content = c
	r.mu.Unlock()
}

func (r *stampReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat)
}

func (r *stampReceiver) decoded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

// reset forgets what was measured (stamps wrap after 4096 frames, 136 s).
func (r *stampReceiver) reset() {
	r.mu.Lock()
	r.lat, r.seen = nil, map[int]bool{}
	r.mu.Unlock()
}

func (r *stampReceiver) latencies() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.lat...)
}

func (r *stampReceiver) close() {
	r.conn.Close()
	r.wg.Wait()
	_ = gstx.StopElement(r.pipe.Element, 5*time.Second)
}
