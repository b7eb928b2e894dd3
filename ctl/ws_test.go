package ctl

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// both reads messages until one of each type arrived, in any order.
func both(t *testing.T, conn *websocket.Conn, a, b string) (map[string]any, map[string]any) {
	t.Helper()
	got := map[string]map[string]any{}
	deadline := time.Now().Add(5 * time.Second)
	for got[a] == nil || got[b] == nil {
		_ = conn.SetReadDeadline(deadline)
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %q and %q: %v", a, b, err)
		}
		if typ, _ := m["type"].(string); (typ == a || typ == b) && got[typ] == nil {
			got[typ] = m
		}
	}
	return got[a], got[b]
}

// next reads messages until one of type typ arrives (others are skipped).
func next(t *testing.T, conn *websocket.Conn, typ string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %q: %v", typ, err)
		}
		if m["type"] == typ {
			return m
		}
	}
}

func TestWebSocketControlAndEvents(t *testing.T) {
	_, ts := newTestServer(t, 2)
	do(t, ts, "POST", "/v1/rooms", `{"id":"w"}`)
	conn := dialWS(t, ts.URL)
	send := func(v any) {
		t.Helper()
		if err := conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "subscribe", "room": "nope", "id": "s0"})
	if m := next(t, conn, "error"); m["id"] != "s0" || !strings.Contains(m["error"].(string), "not found") {
		t.Fatalf("subscribe to a missing room: %v", m)
	}
	send(map[string]any{"type": "subscribe", "room": "w", "id": "s1"})
	if m := next(t, conn, "ack"); m["id"] != "s1" {
		t.Fatalf("subscribe ack: %v", m)
	}
	// A REST change reaches the subscriber.
	do(t, ts, "POST", "/v1/rooms/w/tracks", `{"id":"cam","participant":"alice","kind":"video","codec":"vp8","ssrc":5,"payload_type":96}`)
	if m := next(t, conn, "track_added"); m["room"] != "w" || m["data"].(map[string]any)["id"] != "cam" {
		t.Fatalf("track_added: %v", m)
	}
	// Track events over the socket: mute.
	send(map[string]any{"type": "track", "room": "w", "track": "cam", "muted": true, "id": "m1"})
	if m, _ := both(t, conn, "ack", "track_muted"); m["id"] != "m1" || m["track"].(map[string]any)["muted"] != true {
		t.Fatalf("mute ack: %v", m)
	}
	// Layout over the socket: ack with rectangles, and a layout_changed event.
	send(map[string]any{"type": "layout", "room": "w", "id": "l1", "layout": map[string]any{"template": "single", "focus": "alice"}})
	ack, changed := both(t, conn, "ack", "layout_changed")
	if ack["id"] != "l1" || changed["room"] != "w" {
		t.Fatalf("layout ack %v / event %v", ack, changed)
	}
	tiles := ack["layout"].(map[string]any)["layout"].(map[string]any)["tiles"].([]any)
	if len(tiles) != 1 || tiles[0].(map[string]any)["width"] != float64(1280) {
		t.Fatalf("single layout tiles: %v", tiles)
	}
	// Bad input gets a clear error naming the problem, never a crash.
	send(map[string]any{"type": "layout", "room": "w", "id": "l2", "layout": map[string]any{"template": "mosaic"}})
	if m := next(t, conn, "error"); m["id"] != "l2" || !strings.Contains(m["error"].(string), "template") {
		t.Fatalf("bad layout: %v", m)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, conn, "error"); !strings.Contains(m["error"].(string), "invalid message") {
		t.Fatalf("garbage: %v", m)
	}
	send(map[string]any{"type": "keyframe", "room": "w", "track": "cam", "id": "k1"})
	both(t, conn, "ack", "keyframe_requested")
	// An oversized message closes the connection (limit) rather than buffering it.
	big, _ := json.Marshal(map[string]any{"type": "layout", "room": "w", "layout": strings.Repeat("x", wsMaxMessage+1)})
	_ = conn.WriteMessage(websocket.TextMessage, big)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break // closed, as it should be
		}
	}
	// Other clients are unaffected and see the room close.
	other := dialWS(t, ts.URL)
	if err := other.WriteJSON(map[string]any{"type": "subscribe", "room": "*"}); err != nil {
		t.Fatal(err)
	}
	next(t, other, "ack")
	do(t, ts, "DELETE", "/v1/rooms/w", "")
	if m := next(t, other, "room_closed"); m["room"] != "w" {
		t.Fatalf("room_closed: %v", m)
	}
}

func TestSlowWebSocketConsumerIsDropped(t *testing.T) {
	h := newHub()
	slow := &wsClient{send: make(chan []byte, 2), done: make(chan struct{}), rooms: map[string]bool{"r": true}}
	fast := &wsClient{send: make(chan []byte, 100), done: make(chan struct{}), rooms: map[string]bool{"r": true}}
	h.add(slow)
	h.add(fast)
	for i := 0; i < 10; i++ {
		h.publish(Event{Type: "x", Room: "r"})
	}
	select {
	case <-slow.done:
	default:
		t.Fatal("a client that stopped reading was not dropped")
	}
	if len(fast.send) != 10 {
		t.Fatalf("the reading client got %d of 10 events", len(fast.send))
	}
	h.mu.Lock()
	_, still := h.clients[slow]
	h.mu.Unlock()
	if still {
		t.Fatal("dropped client still registered")
	}
}

// TestRoomCreatedEventIsTheRESTRoom: the room_created payload has the same
// shape and values as the POST /v1/rooms answer.
func TestRoomCreatedEventIsTheRESTRoom(t *testing.T) {
	_, ts := newTestServer(t, 2)
	conn := dialWS(t, ts.URL)
	if err := conn.WriteJSON(map[string]any{"type": "subscribe", "room": "*", "id": "s"}); err != nil {
		t.Fatal(err)
	}
	next(t, conn, "ack")
	_, rest, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"shape"}`)
	ev := next(t, conn, "room_created")
	data, _ := json.Marshal(ev["data"])
	want, _ := json.Marshal(rest)
	if string(data) != string(want) {
		t.Fatalf("room_created data\n%s\nREST room\n%s", data, want)
	}
}
