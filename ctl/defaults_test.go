package ctl

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultBitrateKbps(t *testing.T) {
	for _, tc := range []struct {
		w, h, fps, kbps int
	}{
		{1280, 720, 30, 2500}, // the reference
		{1920, 1080, 30, 4600},
		{1280, 720, 60, 4200},
		{640, 360, 30, 900},
		{426, 240, 15, 300},
		{16, 16, 1, 100},         // the settings' minimum
		{7680, 4320, 120, 50000}, // the settings' maximum
	} {
		if got := defaultBitrateKbps(tc.w, tc.h, tc.fps); got != tc.kbps {
			t.Errorf("defaultBitrateKbps(%dx%d@%d) = %d, want %d", tc.w, tc.h, tc.fps, got, tc.kbps)
		}
	}
	// More pixels or frames never get fewer bits.
	prev := 0
	for _, h := range []int{180, 240, 360, 480, 720, 1080, 1440, 2160} {
		got := defaultBitrateKbps(h*16/9/2*2, h, 30)
		if got < prev {
			t.Errorf("%dp30: %d kbit/s, below the smaller size's %d", h, got, prev)
		}
		prev = got
	}
}

// TestCompositeDefaultsFollowTheFormat: a WebM composite that names no codec
// records VP8 and Opus (WebM cannot carry the H.264 and AAC defaults), and a
// rendition that names no bitrate gets one for its size and rate.
func TestCompositeDefaultsFollowTheFormat(t *testing.T) {
	s, ts := newTestServer(t, 1)
	if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"defs"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	code, body, _ := do(t, ts, "POST", "/v1/rooms/defs/recordings",
		`{"kind":"composite","id":"w","format":"webm","encodings":[{"width":640,"height":360},{"width":426,"height":240,"fps":15,"codec":"vp9"}]}`)
	if code != 201 {
		t.Fatalf("webm composite without codecs: %d %v", code, body)
	}
	encs, _ := body["encodings"].([]any)
	if len(encs) != 2 {
		t.Fatalf("encodings: %v", body)
	}
	want := []struct {
		codec, acodec string
		kbps          float64
	}{{"vp8", "opus", 900}, {"vp9", "opus", 300}}
	for i, e := range encs {
		em, _ := e.(map[string]any)
		v, _ := em["video"].(map[string]any)
		a, _ := em["audio"].(map[string]any)
		if v["codec"] != want[i].codec || a["codec"] != want[i].acodec || v["bitrate_kbps"] != want[i].kbps {
			t.Errorf("encoding %d: video %v audio %v, want %s at %v kbit/s with %s", i, v, a, want[i].codec, want[i].kbps, want[i].acodec)
		}
	}
	time.Sleep(2 * time.Second)
	code, body, _ = do(t, ts, "DELETE", "/v1/rooms/defs/recordings/w", "")
	if code != 200 {
		t.Fatalf("stop: %d %v", code, body)
	}
	for i, e := range body["encodings"].([]any) {
		em, _ := e.(map[string]any)
		path := filepath.Join(s.cfg.DataDir, fmt.Sprint(em["path"]))
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v %s", path, err, out)
		}
		if got, w := strings.Fields(string(out)), []string{want[i].codec, want[i].acodec}; strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: streams %v, want %v", path, got, w)
		}
	}
}
