package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// layoutOverWS sends a layout over the WebSocket and returns the data of the
// layout_rendered event that follows.
func layoutOverWS(t *testing.T, srv *server, room string) map[string]any {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.base, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteJSON(map[string]any{"type": "subscribe", "room": room, "id": "s"})
	_ = ws.WriteJSON(map[string]any{"type": "layout", "room": room, "id": "l", "layout": map[string]any{"template": "speaker", "focus": "p"}})
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for layout_rendered: %v", err)
		}
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(data, &m) == nil && m.Type == "layout_rendered" {
			return m.Data
		}
	}
}

// scrape reads /metrics into "name{labels}" → value, plus each family's TYPE.
func scrape(t *testing.T, srv *server) (map[string]float64, map[string]string) {
	t.Helper()
	res, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	vals, types := map[string]float64{}, map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(rest, " "); ok {
				types[name] = typ
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			vals[line[:i]] = v
		}
	}
	return vals, types
}

// find returns the value of the series of family name whose labels contain
// every part.
func find(vals map[string]float64, name string, parts ...string) (float64, bool) {
	for k, v := range vals {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			return v, true
		}
	}
	return 0, false
}

// TestMetricsDuringComposite scrapes /metrics while a real composite
// recording runs: per-encoding frame rate, realtime factor and latency, the
// node's load, recordings counted once, and loss exported as gauges.
func TestMetricsDuringComposite(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("met")
	srv.addTrack(room.ID, map[string]any{"id": "cam", "participant": "p", "kind": "video", "codec": "vp8", "ssrc": 31, "payload_type": 96})
	// The room's pipeline runs a while before the composite: the latency
	// is on the encoding's own timeline, not the room's age.
	time.Sleep(3 * time.Second)
	srv.startRecording(room.ID, map[string]any{"id": "mix", "kind": "composite", "tracks": true,
		"video": map[string]any{"width": 320, "height": 240, "fps": 15}})
	sd := vp8Sender(t, room.RTP.Port, 31, 30*6, "ball")
	time.Sleep(2500 * time.Millisecond)
	scrape(t, srv) // the baseline of the rates
	time.Sleep(1500 * time.Millisecond)
	vals, types := scrape(t, srv)
	rendered := layoutOverWS(t, srv, "met")
	waitDone(t, sd, 10*time.Second)
	srv.stopRecording(room.ID, "mix")

	enc := []string{`room="met"`, `recording="mix"`, `encoding="0"`, `encoder="x264enc"`}
	fps, ok := find(vals, "streamline_encoding_fps", enc...)
	if !ok || fps < 7 || fps > 23 {
		t.Errorf("streamline_encoding_fps = %v (present %v), want about the 15 configured", fps, ok)
	}
	rtf, ok := find(vals, "streamline_encoding_realtime_factor", enc...)
	if !ok || rtf < 0.5 || rtf > 1.5 {
		t.Errorf("streamline_encoding_realtime_factor = %v (present %v), want about 1", rtf, ok)
	}
	lat, ok := find(vals, "streamline_encoding_latency_seconds", enc...)
	if !ok || lat <= 0 || lat > 2 {
		t.Errorf("streamline_encoding_latency_seconds = %v (present %v)", lat, ok)
	}
	if frames, ok := find(vals, "streamline_encoding_frames_total", enc...); !ok || frames < 30 {
		t.Errorf("streamline_encoding_frames_total = %v (present %v)", frames, ok)
	}
	t.Logf("composite 320x240@15: fps %.1f, realtime factor %.2f, pipeline latency %.0f ms", fps, rtf, lat*1000)
	if load, ok := vals["streamline_node_load_cores"]; !ok || load <= 0 {
		t.Errorf("streamline_node_load_cores = %v (present %v), want > 0 with a composite running", load, ok)
	}
	if capa := vals["streamline_node_capacity_cores"]; capa < 1 {
		t.Errorf("streamline_node_capacity_cores = %v", capa)
	}
	// The composite with "tracks": true is one recording, not two.
	if n, _ := find(vals, "streamline_recordings_active", `kind="tracks"`, `room="met"`); n != 0 {
		t.Errorf("track recordings active = %v, want 0 (the composite's raw part is counted as the composite)", n)
	}
	if n, _ := find(vals, "streamline_recordings_active", `kind="composite"`, `room="met"`); n != 1 {
		t.Errorf("composite recordings active = %v, want 1", n)
	}
	for _, name := range []string{"streamline_track_packets_lost", "streamline_track_packets_out_of_order"} {
		if types[name] != "gauge" {
			t.Errorf("%s has type %q, want gauge (the value can go down)", name, types[name])
		}
	}
	if types["streamline_track_packets_total"] != "counter" {
		t.Errorf("streamline_track_packets_total type %q", types["streamline_track_packets_total"])
	}
	// The first frame with a new layout is reported (layout_rendered) and
	// observed in the histogram.
	if lat := rendered["latency_ms"].(float64); lat <= 0 || lat > 1000 {
		t.Errorf("layout_rendered latency_ms = %v", lat)
	}
	t.Logf("layout → first frame with it: %.1f ms (the compositor built it %.1f ms after the layout was applied)", rendered["latency_ms"], rendered["apply_ms"])
	after, _ := scrape(t, srv)
	if n := after["streamline_layout_render_seconds_count"]; n != 1 {
		t.Errorf("streamline_layout_render_seconds_count = %v, want 1", n)
	}
	var list struct {
		Recordings []map[string]any `json:"recordings"`
	}
	srv.must(200, "GET", "/v1/rooms/met/recordings", nil, &list)
	if len(list.Recordings) != 1 || list.Recordings[0]["kind"] != "composite" {
		t.Errorf("recordings of a composite with tracks: %d listed, want the composite once", len(list.Recordings))
	}
}
