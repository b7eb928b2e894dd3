package ctl

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// TestRoomsResumeAfterRestart: a node with Redis stops; a new process with
// the same node id and data directory brings its room back with its port,
// tracks, mute state, layout and recordings, and a recording the first run
// never finalized is listed as failed with its partial file.
func TestRoomsResumeAfterRestart(t *testing.T) {
	rs := newRedisStore(t)
	dataDir := t.TempDir()
	ports := freeUDPRange(t, 3)
	start := func() (*Server, *httptest.Server) {
		s, err := NewServer(Config{RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: ports, DataDir: dataDir,
			NodeID: "node-r", APIAddr: "http://127.0.0.1:1", Store: rs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s, httptest.NewServer(s.Handler())
	}
	s, ts := start()
	if st, _, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"keep"}`); st != 201 {
		t.Fatalf("create room: %d", st)
	}
	_, room, _ := do(t, ts, "GET", "/v1/rooms/keep", "")
	port := room["rtp"].(map[string]any)["port"].(float64)
	for _, body := range []string{
		`{"id":"cam","participant":"alice","kind":"video","codec":"vp8","ssrc":11,"payload_type":96,"rtx_ssrc":13,"rtx_payload_type":97}`,
		`{"id":"mic","participant":"alice","kind":"audio","codec":"opus","ssrc":12,"payload_type":111}`,
	} {
		if st, b, _ := do(t, ts, "POST", "/v1/rooms/keep/tracks", body); st != 201 {
			t.Fatalf("add track: %d %v", st, b)
		}
	}
	do(t, ts, "PATCH", "/v1/rooms/keep/tracks/mic", `{"muted":true}`)
	if st, b, _ := do(t, ts, "PUT", "/v1/rooms/keep/layout", `{"template":"speaker","focus":"alice"}`); st != 200 {
		t.Fatalf("layout: %d %v", st, b)
	}
	if st, b, _ := do(t, ts, "POST", "/v1/rooms/keep/recordings", `{"id":"done","kind":"tracks"}`); st != 201 {
		t.Fatalf("recording: %d %v", st, b)
	}
	do(t, ts, "DELETE", "/v1/rooms/keep/recordings/done", "")
	ts.Close()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: a recording the store lists whose manifest still
	// says "recording", with a partial file.
	crashed := filepath.Join(dataDir, "keep", "crashed")
	if err := os.MkdirAll(crashed, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(crashed, "cam.webm"), make([]byte, 1234), 0o644)
	manifest := `{"id":"crashed","room":"keep","kind":"tracks","mode":"per_track","state":"recording","dir":"keep/crashed",
		"manifest":"keep/crashed/manifest.json","files":[{"path":"keep/crashed/cam.webm","participant":"alice","track":"cam","kind":"video","codec":"VP8","container":"webm","state":"recording"}]}`
	_ = os.WriteFile(filepath.Join(crashed, "manifest.json"), []byte(manifest), 0o644)
	rec, err := rs.Room(context.Background(), "keep")
	if err != nil {
		t.Fatal(err)
	}
	rec.Recordings = append(rec.Recordings, "crashed")
	if err := rs.SaveRoom(context.Background(), rec); err != nil {
		t.Fatal(err)
	}

	s, ts = start()
	defer func() { ts.Close(); _ = s.Close(context.Background()) }()
	st, got, _ := do(t, ts, "GET", "/v1/rooms/keep", "")
	if st != 200 {
		t.Fatalf("restored room: %d %v", st, got)
	}
	if p := got["rtp"].(map[string]any)["port"].(float64); p != port {
		t.Errorf("restored on port %v, want the old %v", p, port)
	}
	tracks := got["tracks"].([]any)
	if len(tracks) != 2 {
		t.Fatalf("restored tracks: %v", tracks)
	}
	for _, tr := range tracks {
		m := tr.(map[string]any)
		want := map[string]any{"cam": []any{float64(11), false, float64(13)}, "mic": []any{float64(12), true, nil}}[m["id"].(string)]
		if want == nil || m["ssrc"] != want.([]any)[0] || m["muted"] != want.([]any)[1] || m["rtx_ssrc"] != want.([]any)[2] || m["participant"] != "alice" {
			t.Errorf("restored track: %v", m)
		}
	}
	recs := map[string]map[string]any{}
	for _, r := range got["recordings"].([]any) {
		m := r.(map[string]any)
		recs[m["id"].(string)] = m
	}
	if recs["done"]["state"] != "stopped" {
		t.Errorf("finished recording after restart: %v", recs["done"])
	}
	c := recs["crashed"]
	if c["state"] != "failed" || c["error"] == "" {
		t.Fatalf("interrupted recording after restart: %v", c)
	}
	f := c["files"].([]any)[0].(map[string]any)
	if f["state"] != "partial" || f["bytes"] != float64(1234) {
		t.Errorf("partial file: %v", f)
	}
	_, lay, _ := do(t, ts, "GET", "/v1/rooms/keep/layout", "")
	if spec := lay["spec"].(map[string]any); spec["template"] != "speaker" || spec["focus"] != "alice" {
		t.Errorf("restored layout: %v", lay["spec"])
	}
	// The restored record in the store carries the state for the next restart.
	rec, _ = rs.Room(context.Background(), "keep")
	if rec.Restarts != 1 || len(rec.Tracks) != 2 || rec.Layout == nil || len(rec.Recordings) != 2 {
		data, _ := json.Marshal(rec)
		t.Errorf("stored record after restore: %s", data)
	}
	// A new recording of the restored room works, and a past one cannot be
	// overwritten.
	if st, b, _ := do(t, ts, "POST", "/v1/rooms/keep/recordings", `{"id":"crashed","kind":"tracks"}`); st != 409 {
		t.Errorf("reusing a past recording id: %d %v", st, b)
	}
	if st, b, _ := do(t, ts, "POST", "/v1/rooms/keep/recordings", `{"id":"again","kind":"tracks"}`); st != 201 {
		t.Errorf("new recording after restart: %d %v", st, b)
	}
}

// TestRestoredRoomMovesWhenItsPortIsTaken: another process took the room's
// port while the node was down; the room comes back on another port of the
// range and reports it (in the API and the store).
func TestRestoredRoomMovesWhenItsPortIsTaken(t *testing.T) {
	rs := newRedisStore(t)
	dataDir, ports := t.TempDir(), freeUDPRange(t, 3)
	start := func() (*Server, *httptest.Server) {
		s, err := NewServer(Config{RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: ports, DataDir: dataDir,
			NodeID: "node-m", Store: rs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s, httptest.NewServer(s.Handler())
	}
	s, ts := start()
	_, room, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"mover"}`)
	old := int(room["rtp"].(map[string]any)["port"].(float64))
	ts.Close()
	_ = s.Close(context.Background())
	squatter, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: old})
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	s, ts = start()
	defer func() { ts.Close(); _ = s.Close(context.Background()) }()
	st, got, _ := do(t, ts, "GET", "/v1/rooms/mover", "")
	if st != 200 {
		t.Fatalf("restored room: %d %v", st, got)
	}
	port := int(got["rtp"].(map[string]any)["port"].(float64))
	if port == old || port < ports.Min || port > ports.Max {
		t.Fatalf("restored on port %d (old %d taken, range %v)", port, old, ports)
	}
	if rec, err := rs.Room(context.Background(), "mover"); err != nil || rec.RTPPort != port {
		t.Fatalf("stored port %d, want %d (%v)", rec.RTPPort, port, err)
	}
}
