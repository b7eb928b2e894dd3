package ctl

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestWebhooksSignedAndRetried(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	calls := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 { // the first delivery fails: it must be retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(SignatureHeader) != Sign([]byte("hook-key"), body) {
			t.Errorf("bad signature %q", r.Header.Get(SignatureHeader))
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body: %v", err)
		}
		got = append(got, ev)
	}))
	defer receiver.Close()
	s, err := NewServer(Config{
		RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 1), DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WebhookURL: receiver.URL, WebhookSecret: []byte("hook-key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.hub.webhooks.backoff = 10 * time.Millisecond
	ts := httptest.NewServer(s.Handler())
	defer func() { ts.Close(); _ = s.Close(context.Background()) }()
	do(t, ts, "POST", "/v1/rooms", `{"id":"h"}`)
	do(t, ts, "POST", "/v1/rooms/h/recordings", `{"id":"rec","kind":"tracks"}`)
	do(t, ts, "DELETE", "/v1/rooms/h/recordings/rec", "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook events received: %d (calls %d), want 2", n, calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0].Type != "recording_started" || got[1].Type != "recording_stopped" || got[1].Room != "h" {
		t.Fatalf("events: %+v", got)
	}
	if data, _ := got[1].Data.(map[string]any); data["id"] != "rec" || data["state"] != "stopped" {
		t.Fatalf("stopped event data: %v", got[1].Data)
	}
}
