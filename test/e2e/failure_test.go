package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type compositeResp struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Encodings []struct {
		Path       string `json:"path"`
		State      string `json:"state"`
		Error      string `json:"error"`
		DurationMS int64  `json:"duration_ms"`
	} `json:"encodings"`
}

func (s *server) composite(room, id string) compositeResp {
	var c compositeResp
	s.must(200, "GET", "/v1/rooms/"+room+"/recordings/"+id, nil, &c)
	if len(c.Encodings) != 1 {
		s.t.Fatalf("recording %s: %d encodings, want 1", id, len(c.Encodings))
	}
	return c
}

// TestFailedEncodingLeavesTheOthersRecording: one composite recording's file
// can no longer be written (the server runs under a file size limit, which
// fails a write as a full disk does). That encoding is reported failed, to
// the API and to the webhook, its file keeps what was written, and the
// room's other composite recording goes on with video and audio. Before,
// the error reached the compositor through the tee of the mixed video: the
// mix stopped, and every other recording of the room kept only its audio.
func TestFailedEncodingLeavesTheOthersRecording(t *testing.T) {
	var mu sync.Mutex
	var hooks []struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		hooks = append(hooks, struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}{})
		if err := json.Unmarshal(body, &hooks[len(hooks)-1]); err != nil {
			t.Errorf("webhook body: %v", err)
		}
	}))
	defer receiver.Close()

	const limit = 1536 << 10 // bytes a file of the server may hold
	srv := startServerUnder(t, []string{"prlimit", fmt.Sprintf("--fsize=%d", limit), "--"}, "--webhook-url", receiver.URL)
	room := srv.createRoom("full")
	srv.addCamAndMic(room.ID, "alice", 41, 42)
	vp8Sender(t, room.RTP.Port, 41, 30*30, "snow")
	opusSender(t, room.RTP.Port, 42, 50*30)
	time.Sleep(time.Second)
	// big outgrows the limit within seconds; small stays far below it.
	srv.must(201, "POST", "/v1/rooms/full/recordings", map[string]any{"id": "big", "kind": "composite",
		"video": map[string]any{"width": 1280, "height": 720, "bitrate_kbps": 8000}}, nil)
	srv.must(201, "POST", "/v1/rooms/full/recordings", map[string]any{"id": "small", "kind": "composite",
		"video": map[string]any{"width": 320, "height": 180, "bitrate_kbps": 150}, "audio": map[string]any{"codec": "aac", "bitrate_kbps": 64}}, nil)
	start := time.Now()

	var big compositeResp
	waitFor(t, 20*time.Second, "big's encoding failed", func() bool {
		big = srv.composite(room.ID, "big")
		return big.Encodings[0].State == "failed"
	})
	failedAfter := time.Since(start)
	if big.State != "recording" || big.Encodings[0].Error == "" {
		t.Errorf("after the failure: recording %q, encoding error %q; want recording, and the error", big.State, big.Encodings[0].Error)
	}
	before := srv.composite(room.ID, "small").Encodings[0].DurationMS
	time.Sleep(4 * time.Second)
	small := srv.composite(room.ID, "small")
	if grew := small.Encodings[0].DurationMS - before; small.Encodings[0].State != "recording" || grew < 3000 {
		t.Errorf("small after big failed (at %v): %s, video grew %d ms in 4 s", failedAfter.Round(time.Millisecond), small.Encodings[0].State, grew)
	}

	var stopped compositeResp
	srv.must(200, "DELETE", "/v1/rooms/full/recordings/small", nil, &stopped)
	recorded := time.Since(start).Seconds()
	if stopped.State != "stopped" || stopped.Encodings[0].State != "final" {
		t.Errorf("small stopped: %s, encoding %s %q", stopped.State, stopped.Encodings[0].State, stopped.Encodings[0].Error)
	}
	span := mediaSpan(t, filepath.Join(srv.dataDir, stopped.Encodings[0].Path))
	if span["video"] < recorded-2.5 || span["audio"] < recorded-2.5 {
		t.Errorf("small's file: video %.1f s, audio %.1f s, of %.1f s recorded", span["video"], span["audio"], recorded)
	}
	srv.must(200, "DELETE", "/v1/rooms/full/recordings/big", nil, &big)
	if big.State != "failed" || big.Encodings[0].State != "failed" {
		t.Errorf("big stopped: %s, encoding %s", big.State, big.Encodings[0].State)
	}
	bigSpan := mediaSpan(t, filepath.Join(srv.dataDir, big.Encodings[0].Path))
	if bigSpan["video"] < 0.5 {
		t.Errorf("big's file keeps %.2f s of video; what was written before the failure must stay readable", bigSpan["video"])
	}
	t.Logf("big failed after %v (%q), its file keeps %.1f s of video; small recorded %.1f s of video, %.1f s of audio in %.1f s",
		failedAfter.Round(time.Millisecond), big.Encodings[0].Error, bigSpan["video"], span["video"], span["audio"], recorded)

	vals, _ := scrape(t, srv)
	if n, _ := find(vals, "streamline_recording_failures_total", `kind="encoding"`); n != 1 {
		t.Errorf("streamline_recording_failures_total{kind=\"encoding\"} = %v, want 1", n)
	}
	waitFor(t, 10*time.Second, "the webhook of the failed encoding", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if h.Type == "recording_encoding_failed" && h.Data["recording"] == "big" && h.Data["path"] == big.Encodings[0].Path && h.Data["error"] != "" {
				return true
			}
		}
		return false
	})
}
