package ctl

import (
	"fmt"
	"testing"

	"github.com/streamline-media/streamline/internal/cpupin"
)

// TestRoomsWithACompositeArePinned: with PinRooms each room running a
// composite gets a CPU of its own while the estimates fit, a room without
// one floats, and a room whose composite stopped floats again at the next
// plan.
func TestRoomsWithACompositeArePinned(t *testing.T) {
	if cpupin.CPUs() < 2 {
		t.Skip("one CPU: nothing to place")
	}
	s, ts := newTestServerWith(t, 3, func(c *Config) { c.PinRooms = true })
	for _, room := range []string{"a", "b", "c"} {
		if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"`+room+`"}`); code != 201 {
			t.Fatalf("room %s: %d %v", room, code, body)
		}
		for i, body := range []string{
			`{"id":"cam","participant":"ann","kind":"video","codec":"vp8","ssrc":%d1,"payload_type":96}`,
			`{"id":"mic","participant":"ann","kind":"audio","codec":"opus","ssrc":%d2,"payload_type":111}`,
		} {
			if code, res, _ := do(t, ts, "POST", "/v1/rooms/"+room+"/tracks", fmt.Sprintf(body, i+1)); code != 201 {
				t.Fatalf("track: %d %v", code, res)
			}
		}
	}
	pinned := func(room string) int { return s.room(room).PinnedTo() }
	// 640x360@15 with one participant: ~0.09 cores each.
	small := `{"id":"c1","kind":"composite","video":{"width":640,"height":360,"fps":15,"codec":"vp8"},"format":"webm"}`
	for _, room := range []string{"a", "b"} {
		if code, body, _ := do(t, ts, "POST", "/v1/rooms/"+room+"/recordings", small); code != 201 {
			t.Fatalf("composite in %s: %d %v", room, code, body)
		}
	}
	a, b := pinned("a"), pinned("b")
	if a == cpupin.Float || b == cpupin.Float || a == b {
		t.Errorf("two rooms with composites placed on CPUs %d and %d, want one each", a, b)
	}
	if c := pinned("c"); c != cpupin.Float {
		t.Errorf("room without a composite on CPU %d, want floating", c)
	}
	if code, body, _ := do(t, ts, "DELETE", "/v1/rooms/a/recordings/c1", ""); code != 200 {
		t.Fatalf("stop: %d %v", code, body)
	}
	s.replan(nil, 0, true) // what pinLoop does every pinInterval
	if got := pinned("a"); got != cpupin.Float {
		t.Errorf("room whose composite stopped on CPU %d, want floating", got)
	}
	if got := pinned("b"); got != b {
		t.Errorf("the other room moved from CPU %d to %d", b, got)
	}
}

// TestDefaultBudgetPinsRoomsOfFourNotNine: with the default cost model and
// budget, on two CPUs, two rooms of 4 at 720p get a CPU each, a third
// floats, and a room of 9 floats alone (its estimate leaves no margin on a
// slower machine, see DefaultPinBudget).
func TestDefaultBudgetPinsRoomsOfFourNotNine(t *testing.T) {
	roomOf := func(n int) float64 {
		return DefaultCosts.Tracks(2*n) + DefaultCosts.Composite(n, []VideoJSON{{}})
	}
	p := cpupin.NewPlanner([]int{0, 1}, DefaultPinBudget)
	p.Plan(map[string]float64{"four-a": roomOf(4)}, nil) // one at a time, as they start
	p.Plan(map[string]float64{"four-a": roomOf(4), "four-b": roomOf(4)}, nil)
	got := p.Plan(map[string]float64{"four-a": roomOf(4), "four-b": roomOf(4), "four-c": roomOf(4)}, nil)
	if got["four-a"] == cpupin.Float || got["four-b"] == cpupin.Float || got["four-a"] == got["four-b"] {
		t.Errorf("rooms of 4 (%.3f cores each) on %v, want a CPU each", roomOf(4), got)
	}
	if got["four-c"] != cpupin.Float {
		t.Errorf("a third room of 4 on CPU %d, want floating", got["four-c"])
	}
	alone := cpupin.NewPlanner([]int{0, 1}, DefaultPinBudget).Plan(map[string]float64{"nine": roomOf(9)}, nil)
	if alone["nine"] != cpupin.Float {
		t.Errorf("a room of 9 (%.3f cores) on CPU %d, want floating", roomOf(9), alone["nine"])
	}
}
