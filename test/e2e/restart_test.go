package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/testredis"
)

// restart starts the server again with the same arguments (HTTP port, data
// directory, RTP range, node id) after it died.
func (s *server) restart() {
	s.t.Helper()
	s.done = make(chan struct{})
	s.cmd = exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := s.done
	go func() { _ = s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("restarted server did not become healthy:\n%s", s.log.String())
		}
		select {
		case <-done:
			s.t.Fatalf("restarted server exited:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestKilledNodeResumesItsRooms: a node with Redis is killed (SIGKILL) while
// recording; restarted with the same node id and data directory it serves
// the room again on the same RTP port, with its tracks, mute state and
// layout; the interrupted recordings are failed with their partial files;
// and RTP sent to the room afterwards is recorded by a new recording.
func TestKilledNodeResumesItsRooms(t *testing.T) {
	port := testredis.FreePort(t)
	testredis.Start(t, port)
	srv := startServer(t, "--redis", fmt.Sprintf("redis://127.0.0.1:%d/0", port), "--node-id", "phoenix")
	room := srv.createRoom("px")
	srv.addCamAndMic(room.ID, "ann", 21, 22)
	srv.must(200, "PATCH", "/v1/rooms/px/tracks/mic", map[string]any{"muted": true}, nil)
	srv.must(200, "PUT", "/v1/rooms/px/layout", map[string]any{"template": "speaker", "focus": "ann"}, nil)
	srv.startRecording(room.ID, map[string]any{"id": "raw", "kind": "tracks"})
	srv.startRecording(room.ID, map[string]any{"id": "mix", "kind": "composite", "video": map[string]any{"width": 320, "height": 240, "fps": 15}})
	sd := vp8Sender(t, room.RTP.Port, 21, 30*3, "ball")
	waitDone(t, sd, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the persister has long written the last change
	srv.kill()

	srv.restart()
	got := srv.room("px")
	if got.RTP.Port != room.RTP.Port {
		t.Errorf("restored room on RTP port %d, want the old %d (free)", got.RTP.Port, room.RTP.Port)
	}
	if len(got.Tracks) != 2 {
		t.Fatalf("restored tracks: %+v", got.Tracks)
	}
	for _, tr := range got.Tracks {
		if (tr.ID == "cam" && (tr.SSRC != 21 || tr.Muted)) || (tr.ID == "mic" && (tr.SSRC != 22 || !tr.Muted)) || tr.Participant != "ann" {
			t.Errorf("restored track: %+v", tr)
		}
	}
	var lay struct {
		Spec struct{ Template, Focus string } `json:"spec"`
	}
	srv.must(200, "GET", "/v1/rooms/px/layout", nil, &lay)
	if lay.Spec.Template != "speaker" || lay.Spec.Focus != "ann" {
		t.Errorf("restored layout: %+v", lay.Spec)
	}
	byID := map[string]recordingResp{}
	for _, r := range got.Recordings {
		byID[r.ID] = r
	}
	for _, id := range []string{"raw", "mix"} {
		r, ok := byID[id]
		if !ok || r.State != "failed" || r.Error == "" || len(r.Files) == 0 {
			t.Fatalf("interrupted recording %s after the restart: %+v (all: %+v)", id, r, got.Recordings)
		}
		for _, f := range r.Files {
			st, err := os.Stat(filepath.Join(srv.dataDir, f.Path))
			// The muted microphone sent nothing; every other file holds media.
			if f.State != "partial" || err != nil || (f.Track != "mic" && st.Size() == 0) {
				t.Errorf("%s: file %+v (on disk: %v)", id, f, err)
			}
		}
	}
	var rawCam string
	for _, f := range byID["raw"].Files {
		if f.Track == "cam" {
			rawCam = f.Path
		}
	}
	if d := mediaSpan(t, filepath.Join(srv.dataDir, rawCam))["video"]; d < 2 {
		t.Errorf("partial raw file holds %.2f s of video, want the ~3 s sent before the kill", d)
	}

	// The room works again: RTP sent now is recorded by a new recording.
	after := srv.startRecording(room.ID, map[string]any{"id": "after", "kind": "tracks"})
	sd = vp8Sender(t, got.RTP.Port, 21, 30*3, "smpte")
	waitDone(t, sd, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, after.ID)
	var video *fileResp
	for i, f := range final.Files {
		if f.Track == "cam" {
			video = &final.Files[i]
		}
	}
	if final.State != "stopped" || video == nil || video.State != "final" {
		t.Fatalf("recording after the restart: %+v", final)
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, video.Path))); !within(d, 3, 0.5) {
		t.Errorf("file recorded after the restart: %.2f s, want 3 s", d)
	}
}
