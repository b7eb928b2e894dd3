package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	hooks := newHookReceiver(t)
	const limit = 1536 << 10 // bytes a file of the server may hold
	srv := startServerUnder(t, []string{"prlimit", fmt.Sprintf("--fsize=%d", limit), "--"}, "--webhook-url", hooks.url)
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
	hooks.await("recording_encoding_failed", map[string]any{"recording": "big", "path": big.Encodings[0].Path})
}

// hookReceiver collects the webhooks a server posts.
type hookReceiver struct {
	t    *testing.T
	url  string
	mu   sync.Mutex
	seen []hookEvent
}

type hookEvent struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev hookEvent
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		h.mu.Lock()
		h.seen = append(h.seen, ev)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// await waits for a webhook of type typ whose data has every field of
// want, and a non-empty error.
func (h *hookReceiver) await(typ string, want map[string]any) {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, "the webhook "+typ, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, ev := range h.seen {
			if ev.Type != typ || ev.Data["error"] == "" || ev.Data["error"] == nil {
				continue
			}
			match := true
			for k, v := range want {
				match = match && ev.Data[k] == v
			}
			if match {
				return true
			}
		}
		return false
	})
}

// TestFailedTrackFileIsReported: a track recording's file that cannot be
// written (it is /dev/full) is reported failed — API, webhook, metric —
// while the same track's file in another recording records to the end.
func TestFailedTrackFileIsReported(t *testing.T) {
	hooks := newHookReceiver(t)
	srv := startServer(t, "--webhook-url", hooks.url)
	room := srv.createRoom("tfull")
	full := srv.startRecording(room.ID, map[string]any{"id": "full", "kind": "tracks"})
	ok := srv.startRecording(room.ID, map[string]any{"id": "ok", "kind": "tracks"})
	dir := filepath.Join(srv.dataDir, room.ID, full.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(dir, "alice_cam.webm")); err != nil {
		t.Fatal(err)
	}
	srv.addTrack(room.ID, map[string]any{"id": "cam", "participant": "alice", "kind": "video", "codec": "vp8", "ssrc": 51, "payload_type": 96})
	waitDone(t, vp8Sender(t, room.RTP.Port, 51, 30*4, "ball"), 20*time.Second)
	time.Sleep(300 * time.Millisecond)

	hooks.await("recording_file_failed", map[string]any{"recording": "full", "track": "cam", "path": filepath.Join(room.ID, full.ID, "alice_cam.webm")})
	vals, _ := scrape(t, srv)
	if n, _ := find(vals, "streamline_recording_failures_total", `kind="file"`); n != 1 {
		t.Errorf(`streamline_recording_failures_total{kind="file"} = %v, want 1`, n)
	}
	failed := srv.stopRecording(room.ID, full.ID)
	good := srv.stopRecording(room.ID, ok.ID)
	if len(failed.Files) != 1 || failed.Files[0].State != "failed" || !strings.Contains(failed.Files[0].Error, "space") {
		t.Errorf("the unwritable file: %+v; want failed, no space left", failed.Files)
	}
	if len(good.Files) != 1 || good.Files[0].State != "final" {
		t.Fatalf("the other recording's file: %+v", good.Files)
	}
	if span := mediaSpan(t, filepath.Join(srv.dataDir, good.Files[0].Path)); span["video"] < 3.5 {
		t.Errorf("the other recording's file holds %.2f s of the 4 s sent", span["video"])
	}
}
