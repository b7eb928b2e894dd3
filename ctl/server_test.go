package ctl

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func freeUDPRange(t *testing.T, n int) PortRange {
	t.Helper()
	// Find n consecutive free ports by probing from a random free one.
	for attempt := 0; attempt < 20; attempt++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if base+n > 65535 {
			continue
		}
		return PortRange{Min: base, Max: base + n - 1}
	}
	t.Fatal("no free UDP range")
	return PortRange{}
}

func newTestServer(t *testing.T, ports int) (*Server, *httptest.Server) {
	t.Helper()
	return newTestServerWith(t, ports, nil)
}

// testLogger discards the server's log, or with STREAMLINE_TEST_LOG set
// writes it, debug included, to stderr (for a failure seen once in many runs).
func testLogger() *slog.Logger {
	if os.Getenv("STREAMLINE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestServerWith is newTestServer with tweak applied to its Config.
func newTestServerWith(t *testing.T, ports int, tweak func(*Config)) (*Server, *httptest.Server) {
	t.Helper()
	cfg := Config{
		RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, ports), DataDir: t.TempDir(),
		Logger: testLogger(), MaxBodyBytes: 4096,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); _ = s.Close(context.Background()) })
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, data)
		}
	}
	return res.StatusCode, out, res.Header
}

func TestRESTContractAndErrors(t *testing.T) {
	_, ts := newTestServer(t, 2)
	const video = `{"id":"cam","participant":"alice","kind":"video","codec":"vp8","ssrc":1234,"payload_type":96}`
	cases := []struct {
		name, method, path, body string
		status                   int
		errContains              string
	}{
		{"create room", "POST", "/v1/rooms", `{"id":"r1"}`, 201, ""},
		{"duplicate room", "POST", "/v1/rooms", `{"id":"r1"}`, 409, "already exists"},
		{"bad room id", "POST", "/v1/rooms", `{"id":"../etc"}`, 400, "room id"},
		{"unknown field", "POST", "/v1/rooms", `{"id":"r2","colour":"red"}`, 400, "unknown field"},
		{"broken json", "POST", "/v1/rooms", `{"id":`, 400, "invalid JSON"},
		{"trailing data", "POST", "/v1/rooms", `{"id":"x"} {}`, 400, "trailing"},
		{"too large", "POST", "/v1/rooms", `{"id":"` + strings.Repeat("a", 5000) + `"}`, 413, "larger than"},
		{"unknown room", "GET", "/v1/rooms/nope", "", 404, "not found"},
		{"add track", "POST", "/v1/rooms/r1/tracks", video, 201, ""},
		{"duplicate ssrc", "POST", "/v1/rooms/r1/tracks", strings.Replace(video, `"cam"`, `"cam2"`, 1), 409, "ssrc 1234"},
		{"duplicate track id", "POST", "/v1/rooms/r1/tracks", strings.Replace(video, "1234", "999", 1), 409, "already exists"},
		{"missing ssrc", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","payload_type":96}`, 400, "ssrc"},
		{"bad kind", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"data","codec":"vp8","ssrc":1,"payload_type":96}`, 400, "kind"},
		{"kind/codec mismatch", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"audio","codec":"vp8","ssrc":1,"payload_type":96}`, 400, "does not match"},
		{"bad codec", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"av1","ssrc":1,"payload_type":96}`, 400, "codec"},
		{"bad payload type", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","ssrc":1,"payload_type":300}`, 400, "payload_type"},
		{"rtcp-colliding payload type", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","ssrc":1,"payload_type":72}`, 400, "RFC 5761"},
		{"bad participant", "POST", "/v1/rooms/r1/tracks", `{"participant":"a/b","kind":"video","codec":"vp8","ssrc":1,"payload_type":96}`, 400, "participant"},
		{"rtx stream without its payload type", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","ssrc":5,"payload_type":96,"rtx_ssrc":6}`, 400, "rtx_ssrc 6 without rtx_payload_type"},
		{"rtcp-colliding rtx payload type", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","ssrc":5,"payload_type":96,"rtx_ssrc":6,"rtx_payload_type":72}`, 400, "rtx_payload_type 72"},
		{"rtx stream on another track's ssrc", "POST", "/v1/rooms/r1/tracks", `{"participant":"a","kind":"video","codec":"vp8","ssrc":5,"payload_type":96,"rtx_ssrc":1234,"rtx_payload_type":97}`, 409, "already used"},
		{"patch rtx stream", "PATCH", "/v1/rooms/r1/tracks/cam", `{"rtx_ssrc":4321,"rtx_payload_type":97}`, 200, ""},
		{"mute", "PATCH", "/v1/rooms/r1/tracks/cam", `{"muted":true}`, 200, ""},
		{"patch unknown track", "PATCH", "/v1/rooms/r1/tracks/zzz", `{"muted":true}`, 404, "not found"},
		{"patch codec to audio codec", "PATCH", "/v1/rooms/r1/tracks/cam", `{"codec":"opus"}`, 400, "audio"},
		{"keyframe", "POST", "/v1/rooms/r1/tracks/cam/keyframe", "", 202, ""},
		// Bad settings are named by their place in the request's JSON.
		{"composite with a codec the container refuses", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","format":"webm","video":{"codec":"h264"}}`, 400, `invalid: video.codec="h264": webm cannot carry it`},
		{"composite with a missing encoder", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","video":{"encoder":"nvh264enc"}}`, 400, `invalid: video.encoder="nvh264enc": element is not installed`},
		{"composite with an unknown preference", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","video":{"prefer":"quantum"}}`, 400, `invalid: video.prefer="quantum": unknown`},
		{"composite video too small", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","video":{"width":13}}`, 400, "invalid: video.width=13: out of range 16..7680"},
		{"composite second encoding odd", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","encodings":[{"width":640,"height":360},{"width":641,"height":360}]}`, 400, "invalid: encodings[1].width=641: must be even"},
		{"composite encoding after video", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","video":{"width":640,"height":360},"encodings":[{"fps":500}]}`, 400, "invalid: encodings[0].fps=500"},
		{"composite audio bitrate", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","audio":{"bitrate_kbps":5000}}`, 400, "invalid: audio.bitrate_kbps=5000: out of range"},
		{"composite with a region too small for its frame", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","layout":{"template":"custom","regions":[{"x":0,"y":0,"w":0.001,"h":0.001}]}}`, 400, "invalid: layout: regions[0]: frame too small"},
		{"composite unknown format", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","format":"avi"}`, 400, `invalid: format="avi": unknown format`},
		{"stream video too small", "POST", "/v1/rooms/r1/streams", `{"type":"rtmp","url":"rtmp://127.0.0.1/live/x","video":{"width":13}}`, 400, "invalid: video.width=13"},
		{"composite output video too small", "POST", "/v1/rooms/r1/recordings", `{"kind":"composite","outputs":[{"type":"rtmp","url":"rtmp://127.0.0.1/live/x","video":{"height":7}}]}`, 400, "outputs[0]: invalid: video.height=7"},
		{"composite-only field on a tracks recording", "POST", "/v1/rooms/r1/recordings", `{"kind":"tracks","format":"mp4"}`, 400, "composite"},
		{"bad mode", "POST", "/v1/rooms/r1/recordings", `{"kind":"tracks","mode":"weird"}`, 400, "mode"},
		{"start recording", "POST", "/v1/rooms/r1/recordings", `{"id":"rec1","kind":"tracks"}`, 201, ""},
		{"duplicate recording", "POST", "/v1/rooms/r1/recordings", `{"id":"rec1","kind":"tracks"}`, 409, "already exists"},
		{"get recording", "GET", "/v1/rooms/r1/recordings/rec1", "", 200, ""},
		{"unknown recording", "GET", "/v1/rooms/r1/recordings/zzz", "", 404, "not found"},
		{"stop recording", "DELETE", "/v1/rooms/r1/recordings/rec1", "", 200, ""},
		{"delete track", "DELETE", "/v1/rooms/r1/tracks/cam", "", 200, ""},
		{"delete track twice", "DELETE", "/v1/rooms/r1/tracks/cam", "", 404, "not found"},
		{"second room", "POST", "/v1/rooms", `{"id":"r2"}`, 201, ""},
		{"ports exhausted", "POST", "/v1/rooms", `{"id":"r3"}`, 503, "no free RTP port"},
		{"delete room", "DELETE", "/v1/rooms/r2", "", 200, ""},
		{"port reused after delete", "POST", "/v1/rooms", `{"id":"r3"}`, 201, ""},
		{"unknown endpoint", "GET", "/v1/nothing", "", 404, "no such endpoint"},
	}
	for _, c := range cases {
		status, body, _ := do(t, ts, c.method, c.path, c.body)
		if status != c.status {
			t.Errorf("%s: %s %s → %d, want %d (%v)", c.name, c.method, c.path, status, c.status, body)
			continue
		}
		if c.errContains != "" {
			msg, _ := body["error"].(string)
			if !strings.Contains(msg, c.errContains) {
				t.Errorf("%s: error %q does not mention %q", c.name, msg, c.errContains)
			}
		}
	}
	// The stopped recording reports its (empty) track file as final.
	_, rec, _ := do(t, ts, "GET", "/v1/rooms/r1/recordings/rec1", "")
	if rec["state"] != "stopped" {
		t.Errorf("recording state %v", rec["state"])
	}
	_, list, _ := do(t, ts, "GET", "/v1/rooms", "")
	if rooms, _ := list["rooms"].([]any); len(rooms) != 2 {
		t.Errorf("rooms listed: %v", list)
	}
}

func TestPipelineSVGAndHealth(t *testing.T) {
	_, ts := newTestServer(t, 1)
	do(t, ts, "POST", "/v1/rooms", `{"id":"g"}`)
	do(t, ts, "POST", "/v1/rooms/g/tracks", `{"participant":"p","kind":"audio","codec":"opus","ssrc":5,"payload_type":111}`)
	res, err := http.Get(ts.URL + "/v1/rooms/g/pipeline.svg")
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(svg), "<svg") ||
		!strings.Contains(string(svg), "GstTee") {
		t.Errorf("pipeline.svg: %d %s %.200s", res.StatusCode, res.Header.Get("Content-Type"), svg)
	}
	res, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"streamline_rooms 1", `streamline_tracks{room="g"} 1`, `streamline_track_packets_total{codec="opus"`,
		`streamline_track_nack_sent_total{codec="opus"`, `streamline_track_rtx_packets_total{codec="opus"`, "go_goroutines"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	status, h, _ := do(t, ts, "GET", "/healthz", "")
	if status != 200 || h["status"] != "ok" || h["rooms"] != float64(1) {
		t.Errorf("healthz: %d %v", status, h)
	}
}

func TestParsePortRange(t *testing.T) {
	good := map[string]PortRange{"40000-40999": {40000, 40999}, " 5-5 ": {5, 5}}
	for in, want := range good {
		if got, err := ParsePortRange(in); err != nil || got != want {
			t.Errorf("%q → %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "40000", "9-1", "0-10", "1-70000", "a-b"} {
		if _, err := ParsePortRange(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestRTPAllowDropsOtherNetworks(t *testing.T) {
	s, err := NewServer(Config{
		RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 1), DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RTPAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer func() { ts.Close(); _ = s.Close(context.Background()) }()
	_, room, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"a"}`)
	port := int(room["rtp"].(map[string]any)["port"].(float64))
	conn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 3; i++ {
		_, _ = conn.Write([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0x10, 0})
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, r, _ := do(t, ts, "GET", "/v1/rooms/a", "")
		c := r["counters"].(map[string]any)
		if c["not_allowed"] == float64(3) && c["rtp"] == float64(0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters %v: want 3 datagrams refused as not allowed", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
