package main

// -mode control (`make bench-control`): the control plane's latencies on
// loopback, against a fresh `streamline serve`.
//
//   - fan-out: -clients WebSocket clients subscribe to one room; a layout
//     change is made over REST; each client notes when its layout_changed
//     arrives. Per round p50/p99 of (arrival − the moment the PUT was sent);
//     the table shows each round and the medians over -rounds rounds.
//   - layout → frame: a room of -participants VP8 senders (gst-launch-1.0)
//     with a composite recording; a WebSocket client sends -layouts layout
//     messages and, for each, waits for layout_rendered, whose rendered_at is
//     when the compositor pushed the first frame built after the layout was
//     applied (samples selected after it, see internal/gstx/framewatch.go).
//     Latency = rendered_at − the moment the client sent the message (one
//     clock: same machine). Target: p99 under 50 ms.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

type controlConfig struct {
	clients, rounds        int
	layouts, participants  int
	width, height, fps     int
	interval               time.Duration
	server                 string
	skipFanout, skipRender bool
}

func runControl(args []string, stdout, stderr io.Writer) int {
	var c controlConfig
	fs := flag.NewFlagSet("bench -mode control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.clients, "clients", 1000, "WebSocket clients subscribed to the fan-out room")
	fs.IntVar(&c.rounds, "rounds", 7, "layout changes fanned out (the medians are over these)")
	fs.IntVar(&c.layouts, "layouts", 40, "layout messages in the layout → frame measurement")
	fs.IntVar(&c.participants, "participants", 4, "VP8 senders in the composited room")
	fs.IntVar(&c.width, "width", 1280, "composite width")
	fs.IntVar(&c.height, "height", 720, "composite height")
	fs.IntVar(&c.fps, "fps", 30, "composite frame rate")
	fs.DurationVar(&c.interval, "interval", 300*time.Millisecond, "pause between layout changes")
	fs.StringVar(&c.server, "server", "", "streamline binary (default: bin/streamline of this module)")
	fs.BoolVar(&c.skipFanout, "no-fanout", false, "skip the fan-out measurement")
	fs.BoolVar(&c.skipRender, "no-render", false, "skip the layout → frame measurement")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.clients < 1 || c.rounds < 1 || c.layouts < 1 || c.participants < 1 {
		fmt.Fprintln(stderr, "bench: -clients, -rounds, -layouts and -participants must be positive")
		return 2
	}
	if err := controlBench(c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// ctlServer is a `streamline serve` run for the control bench.
type ctlServer struct {
	cmd  *exec.Cmd
	base string
	api  *api
	log  string
	port int // first RTP port
}

func startCtlServer(bin, dir string) (*ctlServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rtp := 30000 + os.Getpid()%2000*10
	s := &ctlServer{base: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, "server.log"), port: rtp}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--data", filepath.Join(dir, "data"),
		"--rtp-ports", fmt.Sprintf("%d-%d", rtp, rtp+9), "--rtp-listen", "127.0.0.1", "--jitter-ms", "100", "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logf.Close() }()
	s.api = newAPI(s.base)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.api.healthy(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server not healthy: %v: %s", err, tail(s.log, 1000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *ctlServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _, _ = s.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

func (s *ctlServer) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(s.base, "http")+"/v1/ws", nil)
	return ws, err
}

func controlBench(c controlConfig, stdout, stderr io.Writer) error {
	_, bin, err := locateServer(c.server)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "streamline-bench-control")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startCtlServer(bin, dir)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Fprintf(stdout, "control plane bench — %s, server %s\n\n", time.Now().Format(time.RFC3339), bin)
	if !c.skipFanout {
		if err := fanoutBench(c, srv, stdout, stderr); err != nil {
			return fmt.Errorf("fan-out: %w", err)
		}
	}
	if !c.skipRender {
		if err := renderBench(c, srv, stdout, stderr); err != nil {
			return fmt.Errorf("layout → frame: %w", err)
		}
	}
	return nil
}

// layoutsCycle are the specs the benches alternate between.
func layoutsCycle(i int, focus string) map[string]any {
	switch i % 3 {
	case 0:
		return map[string]any{"template": "speaker", "focus": focus}
	case 1:
		return map[string]any{"template": "grid", "gap": 8}
	default:
		return map[string]any{"template": "pip", "focus": focus}
	}
}

func fanoutBench(c controlConfig, srv *ctlServer, stdout, stderr io.Writer) error {
	ctx := context.Background()
	if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms", map[string]string{"id": "fan"}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "  connecting %d WebSocket clients…\n", c.clients)
	var sent atomic.Int64 // UnixNano of the current round's PUT
	results := make(chan time.Duration, c.clients)
	conns := make([]*websocket.Conn, c.clients)
	var wg sync.WaitGroup
	errs := make(chan error, c.clients)
	sem := make(chan struct{}, 50)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := srv.dial()
			if err != nil {
				errs <- err
				return
			}
			if err := ws.WriteJSON(map[string]any{"type": "subscribe", "room": "fan", "id": "s"}); err != nil {
				errs <- err
				return
			}
			_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, data, err := ws.ReadMessage(); err != nil || !bytes.Contains(data, []byte(`"ack"`)) {
				errs <- fmt.Errorf("subscribe: %v %s", err, data)
				return
			}
			_ = ws.SetReadDeadline(time.Time{})
			conns[i] = ws
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		for _, ws := range conns {
			if ws != nil {
				ws.Close()
			}
		}
		return err
	}
	var readers sync.WaitGroup
	for _, ws := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(data, []byte(`"type":"layout_changed"`)) {
					results <- time.Duration(time.Now().UnixNano() - sent.Load())
				}
			}
		}()
	}
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
		readers.Wait()
	}()
	fmt.Fprintf(stdout, "WebSocket fan-out: %d clients subscribed to one room, layout_changed after PUT …/layout\n", c.clients)
	fmt.Fprintf(stdout, "  %-6s %10s %10s %10s %9s\n", "round", "p50", "p99", "max", "received")
	var p50s, p99s []float64
	for r := 0; r < c.rounds; r++ {
		time.Sleep(c.interval)
		sent.Store(time.Now().UnixNano())
		if err := srv.api.do(ctx, http.MethodPut, "/v1/rooms/fan/layout", layoutsCycle(r, "p0"), nil); err != nil {
			return err
		}
		var lat []float64
		timeout := time.After(10 * time.Second)
	collect:
		for len(lat) < c.clients {
			select {
			case d := <-results:
				lat = append(lat, d.Seconds()*1000)
			case <-timeout:
				break collect
			}
		}
		sort.Float64s(lat)
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		p50s, p99s = append(p50s, p50), append(p99s, p99)
		fmt.Fprintf(stdout, "  %-6d %8.2fms %8.2fms %8.2fms %4d/%d\n", r+1, p50, p99, lat[len(lat)-1], len(lat), c.clients)
	}
	sort.Float64s(p50s)
	sort.Float64s(p99s)
	fmt.Fprintf(stdout, "  median over %d rounds: p50 %.2f ms, p99 %.2f ms\n\n", c.rounds, percentile(p50s, 50), percentile(p99s, 50))
	return srv.api.do(ctx, http.MethodDelete, "/v1/rooms/fan", nil, nil)
}

func renderBench(c controlConfig, srv *ctlServer, stdout, stderr io.Writer) error {
	ctx := context.Background()
	var room roomJSON
	if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms", map[string]string{"id": "render"}, &room); err != nil {
		return err
	}
	defer func() { _ = srv.api.do(ctx, http.MethodDelete, "/v1/rooms/render", nil, nil) }()
	seconds := int((time.Duration(c.layouts)*(c.interval+50*time.Millisecond) + 10*time.Second).Seconds())
	var pipeline []string
	patterns := []string{"ball", "smpte", "snow", "pinwheel", "spokes", "gamut", "zone-plate", "chroma-zone-plate", "circular"}
	for i := 0; i < c.participants; i++ {
		ssrc := 5000 + i
		req := map[string]any{"id": fmt.Sprintf("p%d-cam", i), "participant": fmt.Sprintf("p%d", i), "kind": "video",
			"codec": "vp8", "ssrc": ssrc, "payload_type": 96}
		if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms/render/tracks", req, nil); err != nil {
			return err
		}
		pipeline = append(pipeline, strings.Fields(fmt.Sprintf(
			"videotestsrc is-live=true pattern=%s num-buffers=%d ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 ssrc=%d ! udpsink host=127.0.0.1 port=%d",
			patterns[i%len(patterns)], 30*seconds, ssrc, room.RTP.Port))...)
	}
	gst := exec.Command("gst-launch-1.0", append([]string{"-q"}, pipeline...)...)
	if err := gst.Start(); err != nil {
		return fmt.Errorf("gst-launch-1.0 (make deps-test installs it): %w", err)
	}
	defer func() { _ = gst.Process.Kill(); _ = gst.Wait() }()
	rec := map[string]any{"id": "comp", "kind": "composite",
		"video": map[string]any{"width": c.width, "height": c.height, "fps": c.fps, "codec": "h264"}}
	if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms/render/recordings", rec, nil); err != nil {
		return err
	}
	defer func() { _ = srv.api.do(ctx, http.MethodDelete, "/v1/rooms/render/recordings/comp", nil, nil) }()
	time.Sleep(3 * time.Second) // every tile decoding
	ws, err := srv.dial()
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "room": "render", "id": "s"}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "  %d layout messages against a %dx%d@%d composite of %d participants…\n", c.layouts, c.width, c.height, c.fps, c.participants)
	var clientMS, serverMS []float64
	missed := 0
	for i := 0; i < c.layouts; i++ {
		time.Sleep(c.interval)
		id := fmt.Sprintf("l%d", i)
		sentAt := time.Now()
		if err := ws.WriteJSON(map[string]any{"type": "layout", "room": "render", "id": id, "layout": layoutsCycle(i, "p0")}); err != nil {
			return err
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				missed++
				break
			}
			var ev struct {
				Type string `json:"type"`
				ID   string `json:"id"`
				Err  string `json:"error"`
				Data struct {
					RenderedAt time.Time `json:"rendered_at"`
					LatencyMS  float64   `json:"latency_ms"`
				} `json:"data"`
			}
			if json.Unmarshal(data, &ev) != nil {
				continue
			}
			if ev.Type == "error" && ev.ID == id {
				return fmt.Errorf("layout refused: %s", ev.Err)
			}
			if ev.Type == "layout_rendered" {
				clientMS = append(clientMS, float64(ev.Data.RenderedAt.Sub(sentAt).Microseconds())/1000)
				serverMS = append(serverMS, ev.Data.LatencyMS)
				break
			}
		}
		if missed > 3 {
			return fmt.Errorf("no layout_rendered for %d layouts: is the composite running? %s", missed, tail(srv.log, 1000))
		}
	}
	sort.Float64s(clientMS)
	sort.Float64s(serverMS)
	frame := 1000 / float64(c.fps)
	fmt.Fprintf(stdout, "Layout message (WebSocket) → first composite frame built with it: %dx%d@%d, %d participants, %d layouts (%d missed)\n",
		c.width, c.height, c.fps, c.participants, len(clientMS), missed)
	fmt.Fprintf(stdout, "  %-28s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "max")
	for _, row := range []struct {
		name string
		v    []float64
	}{{"client send → frame out", clientMS}, {"server receipt → frame out", serverMS}} {
		fmt.Fprintf(stdout, "  %-28s %6.1fms %6.1fms %6.1fms %6.1fms\n", row.name, percentile(row.v, 50), percentile(row.v, 90), percentile(row.v, 99), row.v[len(row.v)-1])
	}
	verdict := "met"
	if percentile(clientMS, 99) >= 50 {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "  one frame lasts %.1f ms at %d fps (a change waits for the next frame: about half a frame on average)\n", frame, c.fps)
	fmt.Fprintf(stdout, "  target p99 < 50 ms: %s (p99 = %.1f frame intervals)\n\n", verdict, percentile(clientMS, 99)/frame)
	return nil
}
