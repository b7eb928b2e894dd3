package ctl

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdmitComposites: with AdmitComposites a composite whose estimated
// cost does not fit beside the node's load is refused with 503 and the
// figures, one that fits starts, and its cost then counts against the
// next; without it the same request starts.
func TestAdmitComposites(t *testing.T) {
	newServer := func(admit bool) *httptest.Server {
		_, ts := newTestServerWith(t, 1, func(c *Config) { c.Capacity, c.AdmitComposites = 0.5, admit })
		if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"r"}`); code != 201 {
			t.Fatalf("room: %d %v", code, body)
		}
		for _, body := range []string{
			`{"id":"cam","participant":"ann","kind":"video","codec":"vp8","ssrc":11,"payload_type":96}`,
			`{"id":"mic","participant":"ann","kind":"audio","codec":"opus","ssrc":12,"payload_type":111}`,
		} {
			if code, res, _ := do(t, ts, "POST", "/v1/rooms/r/tracks", body); code != 201 {
				t.Fatalf("track: %d %v", code, res)
			}
		}
		return ts
	}
	// 1280x720@30 H.264: 0.48 + 0.03 for one participant, past 0.5 with
	// the tracks' 0.004.
	const big = `{"id":"big","kind":"composite"}`
	// 640x360@15: 0.06 + 0.03.
	small := func(id string) string {
		return `{"id":"` + id + `","kind":"composite","video":{"width":640,"height":360,"fps":15}}`
	}

	ts := newServer(true)
	code, body, _ := do(t, ts, "POST", "/v1/rooms/r/recordings", big)
	if msg, _ := body["error"].(string); code != 503 || !strings.Contains(msg, "no CPU headroom") || !strings.Contains(msg, "needs ~0.51 cores") {
		t.Errorf("720p composite on a 0.5-core node: %d %v, want 503 naming the figures", code, body)
	}
	for i, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		code, body, _ := do(t, ts, "POST", "/v1/rooms/r/recordings", small(id))
		// Each costs 0.09: five fit in 0.5 beside the tracks, the sixth not.
		if want := map[bool]int{true: 201, false: 503}[i < 5]; code != want {
			t.Errorf("small composite %s: %d %v, want %d", id, code, body, want)
		}
	}

	ts = newServer(false)
	if code, body, _ := do(t, ts, "POST", "/v1/rooms/r/recordings", big); code != 201 {
		t.Errorf("without admission: %d %v, want 201", code, body)
	}
}
