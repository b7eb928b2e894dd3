package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamline-media/streamline/internal/mocksfu"
	"github.com/streamline-media/streamline/internal/testpeer"
)

type streamResp struct {
	ID               string `json:"id"`
	Type             string `json:"type"`
	Participant      string `json:"participant"`
	Recording        string `json:"recording"`
	State            string `json:"state"`
	Error            string `json:"error"`
	Attempts         int    `json:"attempts"`
	KeyframeRequests uint64 `json:"keyframe_requests"`
	BytesOut         uint64 `json:"bytes_out"`
	LocalPort        int    `json:"local_port"`
	Dir              string `json:"dir"`
}

// mockSFU runs the mock SFU in the background until the test ends.
func mockSFU(t *testing.T, cfg mocksfu.Config) {
	t.Helper()
	sfu, err := mocksfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sfu.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (s *server) waitTracks(room string, n int) {
	s.t.Helper()
	waitFor(s.t, 20*time.Second, fmt.Sprintf("%d tracks in %s", n, room), func() bool {
		var raw json.RawMessage
		if s.call("GET", "/v1/rooms/"+room, nil, &raw) != 200 {
			return false
		}
		var list struct{ Tracks []trackResp }
		return s.call("GET", "/v1/rooms/"+room+"/tracks", nil, &list) == 200 && len(list.Tracks) == n
	})
}

func (s *server) stream(room, id string) streamResp {
	s.t.Helper()
	var st streamResp
	s.must(200, "GET", "/v1/rooms/"+room+"/streams/"+id, nil, &st)
	return st
}

// mocksfu participant k (1-based) sends a sine at 300 + 110·(k-1) Hz.
func toneOf(k int) float64 { return 300 + 110*float64(k-1) }

// TestMCUMixMinusOverRTP: three participants; each gets the composite back
// as RTP (H.264 + Opus) with their own mix-minus. Decoded by a receiver per
// participant, participant k's own tone is absent from its mix and the
// others' are present; the video decodes, sender reports arrive for both
// SSRCs, and a PLI sent to the output's port is answered with a keyframe.
func TestMCUMixMinusOverRTP(t *testing.T) {
	srv := startServer(t)
	mockSFU(t, mocksfu.Config{Server: srv.base, Room: "mcu", N: 3, Seed: 11})
	srv.waitTracks("mcu", 6)

	// Bad requests are refused with a reason.
	for _, bad := range []map[string]any{
		{"type": "hls", "dir": "../../etc"},
		{"type": "rtmp"},
		{"type": "rtp", "host": "127.0.0.1", "port": 5000, "video": map[string]any{"codec": "vp8"}},
		{"type": "hls", "dir": "x", "participant": "p1"},
		{"type": "carrier-pigeon"},
	} {
		var e struct{ Error string }
		if code := srv.call("POST", "/v1/rooms/mcu/streams", bad, &e); code != 400 || e.Error == "" {
			t.Errorf("POST %v: %d %q, want 400 with an error", bad, code, e.Error)
		}
	}

	rx := map[int]*testpeer.RTPReceiver{}
	for k := 1; k <= 3; k++ {
		rx[k] = testpeer.NewRTPReceiver(t, 96, 111)
		var st streamResp
		srv.must(201, "POST", "/v1/rooms/mcu/streams", map[string]any{"id": fmt.Sprintf("mcu-p%d", k), "type": "rtp",
			"host": "127.0.0.1", "port": rx[k].Port(), "participant": fmt.Sprintf("p%d", k), "ssrc": 1000 * k,
			"video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 600}}, &st)
		if st.Participant != fmt.Sprintf("p%d", k) || st.LocalPort == 0 {
			t.Fatalf("stream %+v", st)
		}
	}
	var list []streamResp
	srv.must(200, "GET", "/v1/rooms/mcu/streams", nil, &list)
	if len(list) != 3 {
		t.Fatalf("%d streams listed", len(list))
	}
	for k := 1; k <= 3; k++ {
		waitFor(t, 15*time.Second, fmt.Sprintf("p%d's output to decode", k), func() bool { return rx[k].Frames() >= 30 })
		if st := srv.stream("mcu", fmt.Sprintf("mcu-p%d", k)); st.State != "live" {
			t.Errorf("p%d's stream is %s", k, st.State)
		}
	}
	time.Sleep(2 * time.Second) // the mix settles after the jitter buffers
	for k := 1; k <= 3; k++ {
		pcm := rx[k].PCM(24000) // the last 0.5 s
		if pcm == nil {
			t.Fatalf("no audio decoded from p%d's output", k)
		}
		weakest := 1e300
		for j := 1; j <= 3; j++ {
			if j != k {
				weakest = min(weakest, testpeer.Goertzel(pcm, 48000, toneOf(j)))
			}
		}
		own := testpeer.Goertzel(pcm, 48000, toneOf(k))
		t.Logf("p%d's mix: own tone %.3g, weakest other %.3g", k, own, weakest)
		if weakest < 1e5 {
			t.Errorf("p%d's mix lacks another participant's tone (power %.3g)", k, weakest)
		}
		if own > weakest/100 {
			t.Errorf("p%d hears itself: own tone %.3g vs others' %.3g", k, own, weakest)
		}
	}
	// RTCP: sender reports for video (ssrc) and audio (ssrc+1); PLI → IDR.
	waitFor(t, 10*time.Second, "sender reports", func() bool {
		return rx[1].SenderReports(1000) > 0 && rx[1].SenderReports(1001) > 0
	})
	st := srv.stream("mcu", "mcu-p1")
	rx[1].IDRs.Store(0)
	if err := rx[1].SendPLI(st.LocalPort); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a keyframe after the PLI", func() bool {
		return srv.stream("mcu", "mcu-p1").KeyframeRequests == 1 && rx[1].IDRs.Load() > 0
	})

	// Removing one output leaves the others running.
	var stopped streamResp
	srv.must(200, "DELETE", "/v1/rooms/mcu/streams/mcu-p2", nil, &stopped)
	if stopped.State != "stopped" {
		t.Errorf("deleted stream state %s", stopped.State)
	}
	srv.must(404, "GET", "/v1/rooms/mcu/streams/mcu-p2", nil, nil)
	before := rx[3].Frames()
	time.Sleep(time.Second)
	if rx[3].Frames() < before+15 {
		t.Errorf("p3's output stalled after p2's was removed: %d → %d frames", before, rx[3].Frames())
	}
}

// TestCompositeOutputsSurviveRTMPRestart: a composite recording with an
// RTMP output to nginx and an HLS output. nginx is killed mid-stream: the
// RTMP output reports retrying with an error (JSON and WebSocket event),
// HLS and the recording go on, and once nginx is back the RTMP output
// recovers. The recorded file covers the whole time.
func TestCompositeOutputsSurviveRTMPRestart(t *testing.T) {
	rtmp := testpeer.StartRTMP(t)
	srv := startServer(t)
	mockSFU(t, mocksfu.Config{Server: srv.base, Room: "live", N: 2, Seed: 5})
	srv.waitTracks("live", 4)

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.base, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "room": "live", "id": "s"}); err != nil {
		t.Fatal(err)
	}
	var evMu sync.Mutex
	var states []string
	go func() {
		for {
			var ev struct {
				Type string     `json:"type"`
				Data streamResp `json:"data"`
			}
			if ws.ReadJSON(&ev) != nil {
				return
			}
			if ev.Type == "stream_state" && ev.Data.Type == "rtmp" {
				evMu.Lock()
				states = append(states, ev.Data.State+":"+ev.Data.Error)
				evMu.Unlock()
			}
		}
	}()

	started := time.Now()
	srv.must(201, "POST", "/v1/rooms/live/recordings", map[string]any{"id": "rec", "kind": "composite",
		"video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 600},
		"outputs": []map[string]any{
			{"type": "rtmp", "url": rtmp.URL("room"), "video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 600}},
			{"type": "hls", "dir": "hls/live", "segment_s": 1, "video": map[string]any{"width": 640, "height": 360, "bitrate_kbps": 600}},
		}}, nil)
	outputs := func() map[string]streamResp {
		var rec struct {
			State   string       `json:"state"`
			Outputs []streamResp `json:"outputs"`
		}
		srv.must(200, "GET", "/v1/rooms/live/recordings/rec", nil, &rec)
		out := map[string]streamResp{}
		for _, o := range rec.Outputs {
			out[o.Type] = o
		}
		return out
	}
	waitFor(t, 15*time.Second, "both outputs live", func() bool {
		o := outputs()
		return o["rtmp"].State == "live" && o["hls"].State == "live"
	})
	if o := outputs()["hls"]; o.Dir != "hls/live" || o.Recording != "rec" {
		t.Errorf("hls output %+v", o)
	}
	probeStreams(t, rtmp.URL("room"))
	playlist := filepath.Join(srv.dataDir, "hls", "live", "playlist.m3u8")
	waitFor(t, 10*time.Second, "an HLS playlist with segments", func() bool {
		b, _ := os.ReadFile(playlist)
		return strings.Count(string(b), "#EXTINF") >= 2
	})
	probeStreams(t, playlist)

	rtmp.Stop()
	waitFor(t, 15*time.Second, "the RTMP output to report the failure", func() bool {
		o := outputs()
		return o["rtmp"].State == "retrying" && o["rtmp"].Error != ""
	})
	hlsBytes := outputs()["hls"].BytesOut
	time.Sleep(2 * time.Second)
	if o := outputs()["hls"]; o.State != "live" || o.BytesOut <= hlsBytes {
		t.Errorf("HLS disturbed by the RTMP failure: %+v (bytes before %d)", o, hlsBytes)
	}
	rtmp.Start()
	waitFor(t, 30*time.Second, "the RTMP output to recover", func() bool { return outputs()["rtmp"].State == "live" })
	probeStreams(t, rtmp.URL("room"))

	var rec struct {
		State     string                  `json:"state"`
		Encodings []struct{ Path string } `json:"encodings"`
		Outputs   []streamResp            `json:"outputs"`
	}
	srv.must(200, "DELETE", "/v1/rooms/live/recordings/rec", nil, &rec)
	elapsed := time.Since(started).Seconds()
	if rec.State != "stopped" || len(rec.Outputs) != 2 {
		t.Fatalf("stopped recording: %+v", rec)
	}
	for _, o := range rec.Outputs {
		if o.State != "stopped" {
			t.Errorf("output %s after the recording stopped: %s", o.Type, o.State)
		}
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, rec.Encodings[0].Path))); d < elapsed-3 {
		t.Errorf("recording lasts %.1f s of %.1f s: it did not go on through the RTMP outage", d, elapsed)
	}
	evMu.Lock()
	defer evMu.Unlock()
	var sawRetry, sawLiveAfter bool
	for _, s := range states {
		if strings.HasPrefix(s, "retrying:") && len(s) > len("retrying:") {
			sawRetry = true
		}
		if sawRetry && strings.HasPrefix(s, "live:") {
			sawLiveAfter = true
		}
	}
	if !sawRetry || !sawLiveAfter {
		t.Errorf("WebSocket stream_state events for the RTMP output: %v", states)
	}
	b, _ := os.ReadFile(playlist)
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("HLS playlist not ended after the recording stopped")
	}
}

// probeStreams checks with ffprobe that url carries H.264 video and AAC audio.
func probeStreams(t *testing.T, url string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("timeout", "20", "ffprobe", "-v", "error", "-rw_timeout", "5000000", "-print_format", "json", "-show_streams", url).Output()
		var p struct {
			Streams []struct {
				CodecName string `json:"codec_name"`
			} `json:"streams"`
		}
		if err == nil && json.Unmarshal(out, &p) == nil {
			var names []string
			for _, s := range p.Streams {
				names = append(names, s.CodecName)
			}
			last = strings.Join(names, ",")
			if strings.Contains(last, "h264") && strings.Contains(last, "aac") {
				return
			}
		} else if err != nil {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("ffprobe %s: %s", url, last)
}
