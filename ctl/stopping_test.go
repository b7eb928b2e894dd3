package ctl

import (
	"testing"
	"time"
)

// TestDurationWhileStopping: while a composite drains at its stop, its
// encodings go on showing what they have written, not 0.
func TestDurationWhileStopping(t *testing.T) {
	_, ts := newTestServer(t, 1)
	if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"stop"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	if code, body, _ := do(t, ts, "POST", "/v1/rooms/stop/recordings", `{"kind":"composite","id":"c","video":{"width":640,"height":360}}`); code != 201 {
		t.Fatalf("composite: %d %v", code, body)
	}
	duration := func() float64 {
		d := encodingDurations(t, ts, "stop", "c")
		if len(d) != 1 {
			t.Fatalf("encodings' durations: %v", d)
		}
		return d[0]
	}
	deadline := time.Now().Add(10 * time.Second)
	for duration() < 1500 {
		if time.Now().After(deadline) {
			t.Fatal("the composite wrote less than 1.5 s in 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := duration()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if code, body, _ := do(t, ts, "DELETE", "/v1/rooms/stop/recordings/c", ""); code != 200 {
			t.Errorf("stop: %d %v", code, body)
		}
	}()
	seen := 0
	for {
		select {
		case <-done:
			if after := duration(); after < before {
				t.Errorf("duration %v ms after the stop, below the %v ms written before it", after, before)
			}
			t.Logf("%d readings during the stop", seen)
			return
		default:
		}
		if d := duration(); d < before {
			t.Fatalf("duration %v ms while stopping, below the %v ms written before the stop", d, before)
		}
		seen++
	}
}
