package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCoverOf(t *testing.T) {
	for _, tc := range []struct {
		mixW, mixH, w, h int
		coverW, coverH   int
	}{
		{1280, 720, 640, 360, 640, 360},     // same shape, smaller
		{1280, 720, 1280, 720, 1280, 720},   // the same
		{640, 360, 1920, 1080, 1920, 1080},  // same shape, larger
		{1280, 720, 640, 480, 640, 360},     // 4:3 showing 16:9: the width bounds
		{640, 360, 1280, 960, 1280, 720},    // the same, larger
		{640, 360, 720, 1280, 720, 406},     // portrait (405 rounded up to even)
		{640, 480, 1920, 1080, 1440, 1080},  // 16:9 showing 4:3: the height bounds
		{16, 16, 7680, 4320, 4320, 4320},    // square mix
		{1920, 1080, 480, 480, 480, 270},    // square rendition
		{1280, 720, 7680, 4320, 7680, 4320}, // the largest rendition
	} {
		w, h := coverOf(tc.mixW, tc.mixH, tc.w, tc.h)
		if w != tc.coverW || h != tc.coverH {
			t.Errorf("coverOf(%dx%d for %dx%d) = %dx%d, want %dx%d", tc.mixW, tc.mixH, tc.w, tc.h, w, h, tc.coverW, tc.coverH)
		}
		if w%2 != 0 || h%2 != 0 || w > tc.w || h > tc.h {
			t.Errorf("coverOf(%dx%d for %dx%d) = %dx%d: odd, or beyond the rendition", tc.mixW, tc.mixH, tc.w, tc.h, w, h)
		}
	}
}

func TestMixFor(t *testing.T) {
	for _, tc := range []struct {
		encodings   []VideoJSON
		w, h, fps   int
		description string
	}{
		{[]VideoJSON{{Width: 1280, Height: 720, FPS: 30}, {Width: 640, Height: 360, FPS: 15}}, 1280, 720, 30, "largest first"},
		{[]VideoJSON{{Width: 640, Height: 360, FPS: 15}, {Width: 1280, Height: 720, FPS: 30}}, 1280, 720, 30, "largest last: not a scale-up of the first"},
		{[]VideoJSON{{Width: 640, Height: 360, FPS: 30}, {Width: 640, Height: 480, FPS: 60}}, 640, 360, 60, "another shape, already covered: the highest rate"},
		{[]VideoJSON{{Width: 1280, Height: 720, FPS: 30}, {Width: 480, Height: 480, FPS: 30}}, 1280, 720, 30, "a smaller one of another shape"},
		{[]VideoJSON{{Width: 640, Height: 360, FPS: 30}, {Width: 1280, Height: 960, FPS: 30}}, 1280, 720, 30, "another shape, larger: the first's shape grown"},
	} {
		got := mixFor(tc.encodings)
		if got.Width != tc.w || got.Height != tc.h || got.FPS != tc.fps {
			t.Errorf("%s: mix %dx%d@%d, want %dx%d@%d", tc.description, got.Width, got.Height, got.FPS, tc.w, tc.h, tc.fps)
		}
	}
}

// encodingDurations is what each encoding of a composite recording has
// written, in milliseconds (duration_ms).
func encodingDurations(t *testing.T, ts *httptest.Server, room, id string) []float64 {
	t.Helper()
	_, body, _ := do(t, ts, "GET", "/v1/rooms/"+room+"/recordings/"+id, "")
	encs, _ := body["encodings"].([]any)
	out := make([]float64, len(encs))
	for i, e := range encs {
		em, _ := e.(map[string]any)
		out[i], _ = em["duration_ms"].(float64)
	}
	return out
}

// mixFrame is the size and rate the room's running compositor mixes at.
func mixFrame(s *Server, room string) (w, h, fps int) {
	m := s.media(room)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.graph.Frame()
}

// TestLargerCompositeGrowsTheMix: a room's compositor runs at its first
// composite's size and rate; a second composite with a larger, faster
// rendition grows it (so that rendition is not the small mix scaled up, nor
// frames repeated), one of another shape that the mix already covers does
// not; stopping the large one shrinks the mix to what the others need, and
// every recording's file keeps its own size and decodes to the end.
func TestLargerCompositeGrowsTheMix(t *testing.T) {
	s, ts := newTestServer(t, 1)
	if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"grow"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	frame := func() string {
		t.Helper()
		code, body, _ := do(t, ts, "GET", "/v1/rooms/grow/layout", "")
		lay, _ := body["layout"].(map[string]any)
		f, _ := lay["frame"].(map[string]any)
		if code != 200 || f == nil {
			t.Fatalf("layout: %d %v", code, body)
		}
		_, _, fps := mixFrame(s, "grow")
		return fmt.Sprintf("%vx%v@%d", f["width"], f["height"], fps)
	}
	// start starts a composite and waits until every encoding has half a
	// second in its file: on a starved machine the first frames take a
	// while, and a file stopped before them would hold no video to check.
	start := func(id, video string) {
		t.Helper()
		if code, body, _ := do(t, ts, "POST", "/v1/rooms/grow/recordings", `{"kind":"composite","id":"`+id+`",`+video+`}`); code != 201 {
			t.Fatalf("composite %s: %d %v", id, code, body)
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			durations := encodingDurations(t, ts, "grow", id)
			written := 0
			for _, d := range durations {
				if d >= 500 {
					written++
				}
			}
			if written == len(durations) && written > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("composite %s: encodings without half a second written after 15 s: %v ms", id, durations)
			}
		}
	}
	start("small", `"video":{"width":320,"height":180,"fps":15,"bitrate_kbps":300}`)
	if got := frame(); got != "320x180@15" {
		t.Fatalf("mix %s after a 320x180@15 composite", got)
	}
	// A composite that fails to start (its encoder is not installed) leaves
	// the mix as the running ones need it.
	if code, body, _ := do(t, ts, "POST", "/v1/rooms/grow/recordings", `{"kind":"composite","id":"bad","video":{"width":1280,"height":720,"encoder":"nvh264enc"}}`); code != 400 {
		t.Fatalf("composite with a missing encoder: %d %v", code, body)
	}
	if got := frame(); got != "320x180@15" {
		t.Fatalf("mix %s after a failed 1280x720 composite, want 320x180@15", got)
	}
	start("large", `"encodings":[{"width":640,"height":360,"fps":15,"codec":"vp8"},{"width":1280,"height":720,"fps":30}],"format":"mkv"`)
	if got := frame(); got != "1280x720@30" {
		t.Fatalf("mix %s after a composite with a 1280x720@30 rendition, want it grown to that", got)
	}
	start("square", `"video":{"width":480,"height":480,"fps":15,"bitrate_kbps":300}`)
	if got := frame(); got != "1280x720@30" {
		t.Fatalf("mix %s after a 480x480@15 composite, want 1280x720@30 kept", got)
	}
	// Stopping the largest and fastest shrinks the mix to what the others
	// need: the square rendition shows the 16:9 mix 480 wide, at 15 fps.
	want := map[string]string{}
	for _, step := range []struct{ id, mixAfter string }{{"large", "480x270@15"}, {"square", "320x180@15"}, {"small", ""}} {
		id := step.id
		code, body, _ := do(t, ts, "DELETE", "/v1/rooms/grow/recordings/"+id, "")
		encs, _ := body["encodings"].([]any)
		if code != 200 || len(encs) == 0 {
			t.Fatalf("stop %s: %d %v", id, code, body)
		}
		for _, e := range encs {
			em, _ := e.(map[string]any)
			v, _ := em["video"].(map[string]any)
			if em["state"] != "final" {
				t.Errorf("%s: encoding %v", id, em)
			}
			want[fmt.Sprint(em["path"])] = fmt.Sprintf("%vx%v", v["width"], v["height"])
		}
		if step.mixAfter != "" {
			if got := frame(); got != step.mixAfter {
				t.Errorf("mix %s after stopping %s, want %s", got, id, step.mixAfter)
			}
			time.Sleep(time.Second)
		}
	}
	for path, size := range want {
		full := filepath.Join(s.cfg.DataDir, path)
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
			"-show_entries", "stream=width,height,nb_read_frames", "-of", "json", full).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v %s", path, err, out)
		}
		var res struct {
			Streams []struct {
				Width, Height int
				Frames        string `json:"nb_read_frames"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
			t.Fatalf("ffprobe %s: %v %s", path, err, out)
		}
		st := res.Streams[0]
		if got := fmt.Sprintf("%dx%d", st.Width, st.Height); got != size || st.Frames == "" || st.Frames == "0" {
			t.Errorf("%s: %s with %s frames, want %s", path, got, st.Frames, size)
		}
		if errs, _ := exec.Command("ffmpeg", "-v", "error", "-i", full, "-f", "null", "-").CombinedOutput(); strings.TrimSpace(string(errs)) != "" {
			t.Errorf("%s decodes with errors: %s", path, errs)
		}
	}
}

// TestPreviewKeepsTheMixItsSize: an open preview (640 wide) counts as a
// rendition: a smaller composite started meanwhile does not shrink the mix
// below it, and when the composite stops the mix comes down to the preview's
// size, not below.
func TestPreviewKeepsTheMixItsSize(t *testing.T) {
	s, ts := newTestServer(t, 1)
	if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"pvmix"}`); code != 201 {
		t.Fatalf("room: %d %v", code, body)
	}
	frame := func() string {
		w, h, fps := mixFrame(s, "pvmix")
		return fmt.Sprintf("%dx%d@%d", w, h, fps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mr, res := openPreview(t, ctx, ts.URL+"/v1/rooms/pvmix/preview.mjpeg")
	defer res.Body.Close()
	readFrame(t, mr)
	if got := frame(); got != "1280x720@30" {
		t.Fatalf("preview's mix %s, want the default 1280x720@30", got)
	}
	if code, body, _ := do(t, ts, "POST", "/v1/rooms/pvmix/recordings", `{"kind":"composite","id":"tiny","video":{"width":320,"height":180,"fps":15,"bitrate_kbps":300}}`); code != 201 {
		t.Fatalf("composite: %d %v", code, body)
	}
	if got := frame(); got != "640x360@15" {
		t.Errorf("mix %s with a preview and a 320x180@15 composite, want 640x360@15", got)
	}
	readFrame(t, mr)
	if code, body, _ := do(t, ts, "DELETE", "/v1/rooms/pvmix/recordings/tiny", ""); code != 200 {
		t.Fatalf("stop: %d %v", code, body)
	}
	if got := frame(); got != "640x360@15" {
		t.Errorf("mix %s with the preview alone, want 640x360 (its rate kept)", got)
	}
	readFrame(t, mr)
}
