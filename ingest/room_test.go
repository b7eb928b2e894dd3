package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// newTestRoom opens a room on a free loopback port recording into a temp dir.
func newTestRoom(t *testing.T) *Room {
	t.Helper()
	return newTestRoomWith(t, nil)
}

// newTestRoomWith is newTestRoom with tweak applied to its configuration.
func newTestRoomWith(t *testing.T, tweak func(*RoomConfig)) *Room {
	t.Helper()
	cfg := RoomConfig{
		ID: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), DataDir: t.TempDir(),
		JitterLatency: 100 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := NewRoom(cfg)
	if err != nil {
		t.Fatalf("NewRoom: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// gstSender starts gst-launch-1.0 sending RTP to the room until ctx ends.
func gstSender(t *testing.T, ctx context.Context, pipeline string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", append([]string{"-q"}, strings.Fields(pipeline)...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gst-launch: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

type probeResult struct {
	warnings string // what ffprobe printed on stderr (probeFile)
	Streams  []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) (probeResult, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res probeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	d, _ := strconv.ParseFloat(res.Format.Duration, 64)
	return res, d
}

func TestRoomRecordsVP8AndOpusFromGStreamerSenders(t *testing.T) {
	r := newTestRoom(t)
	port := r.Addr().Port()
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "alice", Codec: "vp8", SSRC: 1111, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddTrack(TrackInfo{ID: "mic", Participant: "alice", Codec: "opus", SSRC: 2222, PayloadType: 111}); err != nil {
		t.Fatal(err)
	}
	rec, err := r.StartRecording("r1", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gstSender(t, ctx, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=1111 ! udpsink host=127.0.0.1 port=%d", port))
	gstSender(t, ctx, fmt.Sprintf("audiotestsrc is-live=true ! opusenc ! rtpopuspay pt=111 ssrc=2222 ! udpsink host=127.0.0.1 port=%d", port))
	time.Sleep(4 * time.Second)
	cancel()
	info, err := r.StopRecording(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateStopped || len(info.Files) != 2 {
		t.Fatalf("recording = %+v", info)
	}
	for _, f := range info.Files {
		if f.State != FileFinal {
			t.Errorf("file %s state %s (%s)", f.Path, f.State, f.Error)
		}
		res, dur := ffprobe(t, filepath.Join(r.cfg.DataDir, f.Path))
		if len(res.Streams) != 1 || res.Streams[0].CodecName != f.Codec {
			t.Errorf("%s: streams %+v", f.Path, res.Streams)
		}
		if dur < 3 || dur > 4.6 {
			t.Errorf("%s: duration %.2f s, want ~3.5-4", f.Path, dur)
		}
		t.Logf("%s: %+v dur=%.2f start=%s manifest=%+v", f.Path, res.Streams, dur, res.Format.StartTime, *f)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.DataDir, info.Manifest)); err != nil {
		t.Errorf("manifest: %v", err)
	}
}

// A tap's consumer runs on the track's own thread. When it refuses the
// frames (here a sink that is never started, so every push answers
// FLUSHING, as a consumer being removed does) the track's recording must go
// on to the end, and the tap counts what was refused.
func TestTapConsumerRefusingDoesNotStopTheTrack(t *testing.T) {
	r := newTestRoom(t)
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "alice", Codec: "vp8", SSRC: 1111, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	rec, err := r.StartRecording("r1", "")
	if err != nil {
		t.Fatal(err)
	}
	tap, err := r.Tap("cam")
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := gst.NewElementWithProperties("fakesink", map[string]any{"sync": false, "async": false})
	if err != nil {
		t.Fatal(err)
	}
	stopped.SetLockedState(true) // stays NULL while the room plays
	if err := r.Pipeline().Add(stopped); err != nil {
		t.Fatal(err)
	}
	if ret := tap.Pad.Link(stopped.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatalf("link tap: %s", ret)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gstSender(t, ctx, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=1111 ! udpsink host=127.0.0.1 port=%d", r.Addr().Port()))
	time.Sleep(4 * time.Second)
	cancel()
	info, err := r.StopRecording(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Files) != 1 || info.Files[0].State != FileFinal {
		t.Fatalf("recording = %+v", info)
	}
	if _, dur := ffprobe(t, filepath.Join(r.cfg.DataDir, info.Files[0].Path)); dur < 3 {
		t.Errorf("recording lasts %.2f s, want ~3.5-4: the refusing tap stopped the track", dur)
	}
	n, last := tap.Refused()
	if n < 30 || last != gst.FlowFlushing {
		t.Errorf("tap refused %d buffers, last %s; want ≥ 30 (3 s at 30 fps), the last FLUSHING", n, last)
	}
	tap.Close()
}
