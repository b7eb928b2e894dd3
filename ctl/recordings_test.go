package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/internal/mocksfu"
)

// Track recordings started and stopped through the API, short and longer,
// while the mock SFU sends a participant's VP8 and Opus and a preview keeps
// the compositor's bins in the room's pipeline: every file either holds its
// stream or is reported empty with its reason, and none is left broken.
func TestTrackRecordingsStartStopWithMockSFU(t *testing.T) {
	s, ts := newTestServer(t, 2)
	sfu, err := mocksfu.New(mocksfu.Config{Server: ts.URL, Room: "rs", N: 1, Seed: 7, Width: 320, Height: 180,
		KeyframeInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sfu.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if room := s.room("rs"); room != nil && len(room.Tracks()) == 2 {
			ready := true
			for _, tr := range room.Tracks() {
				ready = ready && tr.Stats.Packets > 0
			}
			if ready {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("mock SFU tracks not sending after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	mr, res := openPreview(t, pctx, ts.URL+"/v1/rooms/rs/preview.mjpeg")
	defer res.Body.Close()
	readFrame(t, mr)

	for i, hold := range []time.Duration{0, 40 * time.Millisecond, 300 * time.Millisecond, 1200 * time.Millisecond} {
		id := fmt.Sprintf("t%d", i)
		began := time.Now()
		if code, body, _ := do(t, ts, "POST", "/v1/rooms/rs/recordings", `{"id":"`+id+`","kind":"tracks"}`); code != 201 {
			t.Fatalf("start %s: %d %v", id, code, body)
		}
		time.Sleep(hold)
		code, _, _ := do(t, ts, "DELETE", "/v1/rooms/rs/recordings/"+id, "")
		wall := time.Since(began)
		if code != 200 {
			t.Fatalf("stop %s: %d", id, code)
		}
		var info ingest.RecordingInfo
		getJSON(t, ts.URL+"/v1/rooms/rs/recordings/"+id, &info)
		if info.State != ingest.StateStopped || len(info.Files) != 2 {
			t.Fatalf("%s: %s with %d files: %+v", id, info.State, len(info.Files), info.Files)
		}
		final := map[string]bool{}
		for _, f := range info.Files {
			path := filepath.Join(s.cfg.DataDir, f.Path)
			switch f.State {
			case ingest.FileFinal:
				final[f.Kind] = true
				streams, dur, err := probeStreams(path)
				if err != nil || streams != 1 {
					t.Errorf("%s (held %v): %d streams, %v", f.Path, hold, streams, err)
				} else if dur > wall.Seconds()+0.1 {
					t.Errorf("%s: %.2f s long, recorded for %v", f.Path, dur, wall)
				}
			case ingest.FileEmpty:
				if _, err := os.Stat(path); !os.IsNotExist(err) || f.Error == "" {
					t.Errorf("%s: empty (%q) but on disk: %v", f.Path, f.Error, err)
				}
			default:
				t.Errorf("%s (held %v): %s: %s", f.Path, hold, f.State, f.Error)
			}
		}
		if hold >= 300*time.Millisecond && !final["audio"] {
			t.Errorf("%s: held %v, no audio: %+v", id, hold, info.Files)
		}
		if hold >= 1200*time.Millisecond && !final["video"] {
			t.Errorf("%s: held %v, no video: %+v", id, hold, info.Files)
		}
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func probeStreams(path string) (int, float64, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe: %w: %s", err, out)
	}
	var res struct {
		Streams []json.RawMessage `json:"streams"`
		Format  struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, 0, err
	}
	d, _ := strconv.ParseFloat(res.Format.Duration, 64)
	return len(res.Streams), d, nil
}
