package e2e

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flashBeepSender makes a clip whose video turns white every other second
// and whose audio beeps every second, both computed by ffmpeg per frame and
// per sample from the same time (each flash starts on a video frame at the
// exact sample where a beep starts), and sends it in real time with
// GStreamer's rtpbin, whose RTCP sender reports map RTP time to the capture
// clock as a browser's do.
func flashBeepSender(t *testing.T, port int, secs int) *sender {
	clip := filepath.Join(t.TempDir(), "flash-beep.mkv")
	gen := exec.Command("ffmpeg", "-y", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "color=black:s=320x180:r=30", "-f", "lavfi", "-i", "color=white:s=320x180:r=30",
		"-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1):s=48000",
		"-filter_complex", "[0][1]overlay=enable='lt(mod(t,2),0.5)'[v]", "-map", "[v]", "-map", "2:a",
		"-t", fmt.Sprint(secs), "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "30",
		"-c:a", "pcm_s16le", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("make flash/beep clip: %v\n%s", err, out)
	}
	dst := fmt.Sprintf("udpsink host=127.0.0.1 port=%d", port)
	return gstLaunch(t, strings.Join([]string{
		"rtpbin name=rb filesrc location=" + clip + " ! matroskademux name=d",
		"d.video_0 ! queue ! rtpvp8pay pt=96 ssrc=501 ! rb.send_rtp_sink_0",
		"rb.send_rtp_src_0 ! " + dst + " sync=true",
		"rb.send_rtcp_src_0 ! " + dst + " sync=false async=false",
		"d.audio_0 ! queue ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 ssrc=502 ! rb.send_rtp_sink_1",
		"rb.send_rtp_src_1 ! " + dst + " sync=true",
		"rb.send_rtcp_src_1 ! " + dst + " sync=false async=false",
	}, " "))
}

var (
	blackEnd   = regexp.MustCompile(`black_end:\s*(-?[0-9.]+)`)
	silenceEnd = regexp.MustCompile(`silence_end:\s*(-?[0-9.]+)`)
)

// flashesAndBeeps returns when the picture turns bright and when each beep
// starts, on the file's presentation timeline as FFmpeg plays it (start
// times, edit lists and encoder delays applied): blackdetect's black_end is
// the first bright output frame, and the compositor shows an input frame in
// every output frame it overlaps, so that output frame starts up to one
// output frame interval before the flash: half an interval (frameS/2) is
// added; silencedetect's silence_end is the first loud sample.
func flashesAndBeeps(t *testing.T, path string, frameS float64) (flashes, beeps []float64) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", path,
		"-vf", "blackdetect=d=0.1:pix_th=0.3", "-af", "silencedetect=n=-30dB:d=0.3", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("analyse %s: %v\n%s", path, err, out)
	}
	parse := func(re *regexp.Regexp, shift float64) []float64 {
		var v []float64
		for _, m := range re.FindAllStringSubmatch(string(out), -1) {
			f, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatalf("analyse %s: %q: %v", path, m[0], err)
			}
			v = append(v, f-shift)
		}
		return v
	}
	// Only flashes a second or more from either end: the placeholder
	// (light initials) before the first frame decodes reads as a flash, and
	// the audio's end of stream reads as the end of a silence.
	dur, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("duration of %s: %v", path, err)
	}
	total, err := strconv.ParseFloat(strings.TrimSpace(string(dur)), 64)
	if err != nil {
		t.Fatalf("duration of %s: %q: %v", path, dur, err)
	}
	for _, f := range parse(blackEnd, -frameS/2) {
		if f >= 1 && f <= total-1 {
			flashes = append(flashes, f)
		}
	}
	return flashes, parse(silenceEnd, 0)
}

// avOffsets pairs every flash with the nearest beep: audio minus video, ms.
// Flashes with no beep within maxPair are counted as missing instead.
func avOffsets(flashes, beeps []float64) (offsets []float64, at []float64, missing int) {
	const maxPair = 0.25
	for _, f := range flashes {
		j := sort.SearchFloat64s(beeps, f)
		best := math.Inf(1)
		for _, k := range []int{j - 1, j} {
			if k >= 0 && k < len(beeps) && math.Abs(beeps[k]-f) < math.Abs(best) {
				best = beeps[k] - f
			}
		}
		if math.Abs(best) > maxPair {
			missing++
			continue
		}
		offsets, at = append(offsets, best*1000), append(at, f)
	}
	return offsets, at, missing
}

// TestCompositeAVSync measures lip-sync in the composite, in the default
// MP4/AAC output and in WebM/Opus recorded at the same time: over 60 s,
// every flash must come within ±20 ms of its beep, with no drift. The
// output runs at 60 fps, so the video side is known to ±8.3 ms.
func TestCompositeAVSync(t *testing.T) {
	secs := 64
	if testing.Short() {
		secs = 24
	}
	srv := startServer(t)
	room := srv.createRoom("sync")
	srv.addTrack(room.ID, map[string]any{"id": "v", "participant": "p", "kind": "video", "codec": "vp8", "ssrc": 501, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "p", "kind": "audio", "codec": "opus", "ssrc": 502, "payload_type": 111})
	sd := flashBeepSender(t, room.RTP.Port, secs)
	time.Sleep(1500 * time.Millisecond)
	type rec struct {
		Encodings []struct{ Path string } `json:"encodings"`
	}
	var mp4, webm rec
	video := map[string]any{"width": 640, "height": 360, "fps": 60, "bitrate_kbps": 800}
	srv.must(201, "POST", "/v1/rooms/sync/recordings", map[string]any{"id": "mp4", "kind": "composite", "video": video}, &mp4)
	webmVideo := map[string]any{"width": 640, "height": 360, "fps": 60, "bitrate_kbps": 800, "codec": "vp8"}
	srv.must(201, "POST", "/v1/rooms/sync/recordings", map[string]any{"id": "webm", "kind": "composite", "video": webmVideo, "format": "webm"}, &webm)
	time.Sleep(time.Duration(secs-4) * time.Second)
	srv.must(200, "DELETE", "/v1/rooms/sync/recordings/mp4", nil, nil)
	srv.must(200, "DELETE", "/v1/rooms/sync/recordings/webm", nil, nil)
	sd.stop()
	for _, r := range []struct {
		name string
		rec  rec
	}{{"mp4/aac", mp4}, {"webm/opus", webm}} {
		path := filepath.Join(srv.dataDir, r.rec.Encodings[0].Path)
		flashes, beeps := flashesAndBeeps(t, path, 1.0/60)
		want := (secs - 10) / 2
		if len(flashes) < want || len(beeps) < 2*want {
			t.Fatalf("%s: found %d flashes and %d beeps in %d s", r.name, len(flashes), len(beeps), secs-4)
		}
		offsets, at, missing := avOffsets(flashes, beeps)
		if missing > len(flashes)/10 || len(offsets) == 0 {
			t.Fatalf("%s: %d of %d flashes have no beep within 250 ms", r.name, missing, len(flashes))
		}
		lo, hi := slices.Min(offsets), slices.Max(offsets)
		t.Logf("%s: A/V offsets (audio minus video, ms) over %d flashes (%d unpaired): min %.1f max %.1f first %.1f last %.1f; all: %.1f",
			r.name, len(offsets), missing, lo, hi, offsets[0], offsets[len(offsets)-1], offsets)
		for i, o := range offsets {
			if math.Abs(o) > 20 {
				t.Errorf("%s: flash at %.2f s: audio is %+.1f ms from video (limit ±20 ms)", r.name, at[i], o)
			}
		}
		if hi-lo > 20 {
			t.Errorf("%s: offset drifts over %.1f ms during the recording", r.name, hi-lo)
		}
	}
}
