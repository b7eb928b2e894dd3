package ctl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCostModelMatchesTheMeasurements(t *testing.T) {
	c := DefaultCosts
	hd := []VideoJSON{{Width: 1280, Height: 720, FPS: 30}}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"raw track", c.Tracks(1), 0.002},
		{"100 raw tracks", c.Tracks(100), 0.2},
		{"composite of 4 at 1280x720", c.Composite(4, hd), 0.6},
		{"composite of 9 at 1280x720", c.Composite(9, hd), 0.75},
		{"defaults are 1280x720@30", c.Composite(4, []VideoJSON{{}}), 0.6},
		{"1920x1080 scales the encoding by pixel rate", c.Composite(4, []VideoJSON{{Width: 1920, Height: 1080, FPS: 30}}), 0.12 + 0.48*2.25},
		{"half the frame rate halves the encoding", c.Composite(4, []VideoJSON{{Width: 1280, Height: 720, FPS: 15}}), 0.12 + 0.24},
		{"a second rendition adds its encoding", c.Composite(4, append(hd, VideoJSON{Width: 640, Height: 360, FPS: 30})), 0.6 + 0.12},
		// VP8 (one libvpx thread) costs 0.227 cores at 720p30 against x264's
		// 0.487, VP9 0.549 (encode.SoftwareCores).
		{"a VP8 rendition costs what VP8 costs", c.Composite(4, []VideoJSON{{Width: 1280, Height: 720, FPS: 30, Codec: "vp8"}}), 0.12 + 0.48*0.227/0.487},
		{"a VP9 rendition costs what VP9 costs", c.Composite(4, []VideoJSON{{Width: 640, Height: 360, FPS: 60, Codec: "vp9"}}), 0.12 + 0.48*0.5*0.549/0.487},
	} {
		if math.Abs(tc.got-tc.want) > 1e-9 {
			t.Errorf("%s: %.4f cores, want %.4f", tc.name, tc.got, tc.want)
		}
	}
}

func TestPickNodeMostHeadroomOrRefuse(t *testing.T) {
	nodes := []NodeInfo{
		{ID: "a", API: "x", Capacity: 2, Load: 1.5, Rooms: 1},
		{ID: "b", API: "x", Capacity: 8, Load: 6.0, Rooms: 9}, // 2.0 free: the most
		{ID: "c", API: "x", Capacity: 16, Load: 1, Draining: true},
		{ID: "d", Capacity: 16}, // no address: not a candidate
	}
	best, ok, err := pickNode(nodes, 0.01)
	if err != nil || !ok || best.ID != "b" {
		t.Fatalf("pick: %+v %v %v, want b", best, ok, err)
	}
	// A tie goes to the node with fewer rooms.
	nodes[0].Load = 0
	nodes[0].Capacity = 2
	if best, _, _ := pickNode(nodes, 0.01); best.ID != "a" {
		t.Fatalf("tie: %s, want a (fewer rooms)", best.ID)
	}
	full := []NodeInfo{{ID: "a", API: "x", Capacity: 2, Load: 2.4}, {ID: "b", API: "x", Capacity: 4, Load: 3.995}}
	_, ok, err = pickNode(full, 0.01)
	if !ok || !errors.Is(err, ErrNoCapacity) || !strings.Contains(err.Error(), "node b") {
		t.Fatalf("full cluster: %v %v", ok, err)
	}
	if _, ok, err := pickNode([]NodeInfo{{ID: "a", API: "x", Capacity: 2, Draining: true}}, 0.01); ok || err != nil {
		t.Fatalf("all draining: %v %v, want no candidate", ok, err)
	}
	// A node that cannot record (disk below --min-free-mb) takes a room
	// only when no other node can.
	low := []NodeInfo{{ID: "full", API: "x", Capacity: 16, DiskLow: true}, {ID: "ok", API: "x", Capacity: 2, Load: 1}}
	if best, _, err := pickNode(low, 0.01); err != nil || best.ID != "ok" {
		t.Fatalf("disk low: %s %v, want ok", best.ID, err)
	}
	if best, _, err := pickNode(low[:1], 0.01); err != nil || best.ID != "full" {
		t.Fatalf("only a disk-low node: %s %v, want it", best.ID, err)
	}
	low[1].Load = 2 // the other one has no headroom left
	if best, _, err := pickNode(low, 0.01); err != nil || best.ID != "full" {
		t.Fatalf("disk low, the other full: %s %v, want the disk-low one", best.ID, err)
	}
}

// TestPlacementRefusesWhenNoNodeHasRoom: POST /v1/rooms answers 503 with the
// reason when every node's estimated load leaves no headroom, and places on
// the node with the most headroom otherwise.
func TestPlacementRefusesWhenNoNodeHasRoom(t *testing.T) {
	rs := newRedisStore(t)
	s, err := NewServer(Config{RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 4), DataDir: t.TempDir(),
		NodeID: "tiny", APIAddr: "http://127.0.0.1:1", Store: rs, Capacity: 0.005, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer func() { ts.Close(); _ = s.Close(context.Background()) }()
	// Another node, busy: 4 cores, 3.999 used.
	if err := rs.Heartbeat(context.Background(), NodeInfo{ID: "busy", API: "http://127.0.0.1:1", Capacity: 4, Load: 3.999}, time.Minute); err != nil {
		t.Fatal(err)
	}
	status, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"nope"}`)
	if msg, _ := body["error"].(string); status != 503 || !strings.Contains(msg, "CPU headroom") {
		t.Fatalf("full cluster: %d %v", status, body)
	}
	// The busy node frees up: it is chosen (and, being unreachable here,
	// the forward fails with 502, which proves the choice).
	if err := rs.Heartbeat(context.Background(), NodeInfo{ID: "busy", API: "http://127.0.0.1:1", Capacity: 4, Load: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := s.placement(context.Background())
	if err != nil || n.ID != "busy" {
		t.Fatalf("placement: %+v %v, want busy", n, err)
	}
	if status, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"there"}`); status != 502 || !strings.Contains(body["error"].(string), "busy") {
		t.Fatalf("forward to busy: %d %v", status, body)
	}
}

func TestEncodingRates(t *testing.T) {
	start := time.Unix(1000, 0)
	r := encodingReading{started: start, frames: 300, firstPTS: 0, lastPTS: int64(10 * time.Second)}
	// First scrape: averages since the start.
	fps, rtf, ok := rates(encSample{}, r, start.Add(10*time.Second))
	if !ok || math.Abs(fps-30) > 1e-9 || math.Abs(rtf-1) > 1e-9 {
		t.Fatalf("since start: %v %v %v", fps, rtf, ok)
	}
	// Later: over the window since the previous scrape (falling behind:
	// 2 s of wall clock, 1 s of media, 15 frames).
	prev := encSample{at: start.Add(10 * time.Second), frames: 300, lastPTS: int64(10 * time.Second)}
	r.frames, r.lastPTS = 315, int64(11*time.Second)
	fps, rtf, ok = rates(prev, r, start.Add(12*time.Second))
	if !ok || math.Abs(fps-7.5) > 1e-9 || math.Abs(rtf-0.5) > 1e-9 {
		t.Fatalf("window: %v %v %v", fps, rtf, ok)
	}
	// Nothing encoded yet: no figure rather than a false zero.
	if _, _, ok := rates(encSample{}, encodingReading{started: start, firstPTS: -1, lastPTS: -1}, start.Add(time.Second)); ok {
		t.Fatal("rates before the first frame")
	}
}
