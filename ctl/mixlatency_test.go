package ctl

import (
	"testing"
	"time"
)

// TestMixLatencyReachesTheMixers: Config.MixLatency is the latency of the
// room's compositor and audio mixer once a composite runs.
func TestMixLatencyReachesTheMixers(t *testing.T) {
	s, ts := newTestServerWith(t, 1, func(c *Config) { c.MixLatency = 150 * time.Millisecond })
	if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"lat"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	if code, body, _ := do(t, ts, "POST", "/v1/rooms/lat/recordings", `{"kind":"composite","video":{"width":320,"height":180,"fps":15}}`); code != 201 {
		t.Fatalf("composite: %d %v", code, body)
	}
	s.mu.Lock()
	room := s.rooms["lat"]
	s.mu.Unlock()
	if room == nil {
		t.Fatal("no room")
	}
	for _, name := range []string{"comp-video", "comp-audio"} {
		e, err := room.Pipeline().GetElementByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v, err := e.GetProperty("latency")
		if err != nil {
			t.Fatalf("%s latency: %v", name, err)
		}
		if got, ok := v.(uint64); !ok || time.Duration(got) != 150*time.Millisecond {
			t.Errorf("%s latency %v, want 150ms", name, v)
		}
	}
}
