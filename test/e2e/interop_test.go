package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// senderCase is one independent RTP sender and what its file must contain.
type senderCase struct {
	name      string
	track     map[string]any
	cmd       string // "gst" or "ffmpeg"
	args      func(port int) []string
	codec     string
	width     int
	mediaSecs float64
}

var interopCases = []senderCase{
	{
		name: "ffmpeg-libvpx", cmd: "ffmpeg", codec: "vp8", width: 640, mediaSecs: 5,
		track: map[string]any{"participant": "ff", "kind": "video", "codec": "vp8", "ssrc": 424242, "payload_type": 96},
		args: func(port int) []string {
			return []string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-t", "5",
				"-c:v", "libvpx", "-deadline", "realtime", "-b:v", "800k", "-g", "30", "-ssrc", "424242", "-payload_type", "96",
				"-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)}
		},
	},
	{
		name: "ffmpeg-libopus", cmd: "ffmpeg", codec: "opus", mediaSecs: 5,
		track: map[string]any{"participant": "ff", "kind": "audio", "codec": "opus", "ssrc": 515151, "payload_type": 111},
		args: func(port int) []string {
			return []string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "5",
				"-c:a", "libopus", "-b:a", "48k", "-ssrc", "515151", "-payload_type", "111",
				"-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", port, port)}
		},
	},
	{
		name: "gst-vp8", cmd: "gst", codec: "vp8", width: 320, mediaSecs: 5,
		track: map[string]any{"participant": "gst", "kind": "video", "codec": "vp8", "ssrc": 1001, "payload_type": 96},
		args: func(port int) []string {
			return []string{fmt.Sprintf("videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=1001 ! udpsink host=127.0.0.1 port=%d", port)}
		},
	},
	{
		name: "gst-vp9", cmd: "gst", codec: "vp9", width: 320, mediaSecs: 5,
		track: map[string]any{"participant": "gst", "kind": "video", "codec": "vp9", "ssrc": 1002, "payload_type": 98},
		args: func(port int) []string {
			return []string{fmt.Sprintf("videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp9enc deadline=1 cpu-used=8 keyframe-max-dist=30 ! rtpvp9pay pt=98 ssrc=1002 ! udpsink host=127.0.0.1 port=%d", port)}
		},
	},
	{
		name: "gst-h264", cmd: "gst", codec: "h264", width: 320, mediaSecs: 5,
		track: map[string]any{"participant": "gst", "kind": "video", "codec": "h264", "ssrc": 1003, "payload_type": 102},
		args: func(port int) []string {
			return []string{fmt.Sprintf("videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay pt=102 ssrc=1003 config-interval=-1 mtu=1200 ! udpsink host=127.0.0.1 port=%d", port)}
		},
	},
	{
		name: "gst-opus", cmd: "gst", codec: "opus", mediaSecs: 5,
		track: map[string]any{"participant": "gst", "kind": "audio", "codec": "opus", "ssrc": 1004, "payload_type": 111},
		args: func(port int) []string {
			return []string{fmt.Sprintf("audiotestsrc is-live=true num-buffers=250 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay pt=111 ssrc=1004 ! udpsink host=127.0.0.1 port=%d", port)}
		},
	},
}

// TestInteropSenders records each codec from senders this project did not
// write (ffmpeg's RTP muxer, GStreamer payloaders) and checks the files.
func TestInteropSenders(t *testing.T) {
	srv := startServer(t)
	for _, c := range interopCases {
		t.Run(c.name, func(t *testing.T) {
			srv.t = t
			room := srv.createRoom("interop-" + c.name)
			tr := srv.addTrack(room.ID, c.track)
			rec := srv.startRecording(room.ID, nil)
			var sd *sender
			if c.cmd == "ffmpeg" {
				sd = startSender(t, "ffmpeg", c.args(room.RTP.Port)...)
			} else {
				sd = gstLaunch(t, c.args(room.RTP.Port)[0])
			}
			select {
			case <-sd.done:
			case <-time.After(20 * time.Second):
				t.Fatal("sender did not finish")
			}
			time.Sleep(400 * time.Millisecond) // let the jitterbuffer drain
			final := srv.stopRecording(room.ID, rec.ID)
			if final.State != "stopped" || len(final.Files) != 1 {
				t.Fatalf("recording: %+v", final)
			}
			f := final.Files[0]
			if f.State != "final" || f.Track != tr.ID || f.Codec != c.codec {
				t.Fatalf("file entry: %+v", f)
			}
			path := filepath.Join(srv.dataDir, f.Path)
			p := ffprobe(t, path)
			if len(p.Streams) != 1 || p.Streams[0].CodecName != c.codec {
				t.Fatalf("streams: %+v", p.Streams)
			}
			if c.width != 0 && p.Streams[0].Width != c.width {
				t.Errorf("width %d, want %d", p.Streams[0].Width, c.width)
			}
			if d := duration(p); !within(d, c.mediaSecs, 0.5) {
				t.Errorf("duration %.2f s, want %.1f ± 0.5", d, c.mediaSecs)
			}
			if !within(float64(f.DurationMS)/1000, c.mediaSecs, 0.5) {
				t.Errorf("manifest duration %d ms, want ~%.0f s", f.DurationMS, c.mediaSecs)
			}
			if errs := decodeErrors(t, path); errs != "" {
				t.Errorf("decode errors: %s", errs)
			}
			if ext := filepath.Ext(path); (c.codec == "h264") != (ext == ".mkv") {
				t.Errorf("container %s for %s", ext, c.codec)
			}
			if c.cmd == "ffmpeg" && f.FirstSampleNTP == nil {
				t.Errorf("ffmpeg sends RTCP sender reports, but the manifest has no first_sample_ntp")
			}
			srv.must(200, "DELETE", "/v1/rooms/"+room.ID, nil, nil)
		})
	}
}

// TestBadInputIsCountedNotFatal sends garbage, unknown SSRCs, wrong payload
// types, oversized datagrams and RTCP before the first RTP, then real media;
// the file must be intact and every bad datagram counted.
func TestBadInputIsCountedNotFatal(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("faults")
	srv.addTrack(room.ID, map[string]any{"id": "cam", "participant": "p", "kind": "video", "codec": "vp8", "ssrc": 7777, "payload_type": 96})
	rec := srv.startRecording(room.ID, nil)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", room.RTP.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// RTCP sender report before any RTP of the track.
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 7777, NTPTime: uint64(time.Now().Unix()+2208988800) << 32, RTPTime: 1234}})
	send := func(b []byte, n int) {
		for i := 0; i < n; i++ {
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(sr, 1)
	send([]byte("definitely not RTP"), 10)
	send([]byte{0x80}, 5)
	unknown := []byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0x99, 0x99, 0x10, 0}
	send(unknown, 7)
	wrongPT := []byte{0x80, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0x1e, 0x61, 0x10, 0} // ssrc 7777, pt 100
	send(wrongPT, 3)
	send(make([]byte, 1600), 2) // oversized
	time.Sleep(200 * time.Millisecond)
	r := srv.room(room.ID)
	want := map[string]uint64{"malformed": 15, "unknown_ssrc": 7, "wrong_payload_type": 3, "oversized": 2, "rtcp": 1}
	for k, v := range want {
		if r.Counters[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, r.Counters[k], v, r.Counters)
		}
	}
	if statNum(r.Tracks[0], "sender_reports") != 1 {
		t.Errorf("sender report before RTP not kept: %v", r.Tracks[0].Stats)
	}
	sd := gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=7777 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	<-sd.done
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	f := final.Files[0]
	if f.State != "final" {
		t.Fatalf("file: %+v", f)
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, f.Path))); !within(d, 3, 0.5) {
		t.Errorf("duration %.2f, want ~3", d)
	}
	if f.FirstSampleNTP == nil {
		t.Error("the SR that came before the RTP should give the first sample a wall-clock time")
	}
}

// TestSIGKILLLeavesReadableFiles kills the server without warning in the
// middle of a track recording and a composite: the files must decode up to
// the last few seconds.
func TestSIGKILLLeavesReadableFiles(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("kill")
	srv.addCamAndMic(room.ID, "p", 31, 32)
	srv.addTrack(room.ID, map[string]any{"id": "h264", "participant": "q", "kind": "video", "codec": "h264", "ssrc": 33, "payload_type": 102})
	rec := srv.startRecording(room.ID, nil)
	var comp compositeResp
	srv.must(201, "POST", "/v1/rooms/kill/recordings", map[string]any{"id": "comp", "kind": "composite"}, &comp)
	gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=31 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	gstLaunch(t, fmt.Sprintf("audiotestsrc is-live=true ! opusenc ! rtpopuspay pt=111 ssrc=32 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay pt=102 ssrc=33 config-interval=-1 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	const recordFor = 8 * time.Second
	time.Sleep(recordFor)
	srv.kill()
	var manifest recordingResp
	data, err := os.ReadFile(filepath.Join(srv.dataDir, rec.Manifest))
	if err != nil {
		t.Fatalf("manifest after SIGKILL: %v", err)
	}
	if err := json.Unmarshal(data, &manifest); err != nil || len(manifest.Files) != 3 {
		t.Fatalf("manifest after SIGKILL: %v %+v", err, manifest)
	}
	for _, f := range manifest.Files {
		path := filepath.Join(srv.dataDir, f.Path)
		spans := mediaSpan(t, path)
		kind := "video"
		if f.Kind == "audio" {
			kind = "audio"
		}
		if got := spans[kind]; got < recordFor.Seconds()-3 {
			t.Errorf("%s: %.2f s readable after SIGKILL at %.0f s, want ≥ %.0f", f.Path, got, recordFor.Seconds(), recordFor.Seconds()-3)
		} else {
			t.Logf("%s: %.2f s readable after SIGKILL at %.0f s", f.Path, got, recordFor.Seconds())
		}
	}
	// The composite (fragmented MP4) keeps all but its last fragment.
	spans := mediaSpan(t, filepath.Join(srv.dataDir, comp.Encodings[0].Path))
	for _, kind := range []string{"video", "audio"} {
		if got := spans[kind]; got < recordFor.Seconds()-3 {
			t.Errorf("composite %s: %.2f s readable after SIGKILL at %.0f s, want ≥ %.0f", kind, got, recordFor.Seconds(), recordFor.Seconds()-3)
		} else {
			t.Logf("composite %s: %.2f s readable after SIGKILL at %.0f s", kind, got, recordFor.Seconds())
		}
	}
	// The next start reports the interrupted recording as failed and keeps
	// every partial file listed: nothing silently lost.
	startServer(t, "--data", srv.dataDir)
	data, err = os.ReadFile(filepath.Join(srv.dataDir, rec.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	var after recordingResp
	if err := json.Unmarshal(data, &after); err != nil {
		t.Fatal(err)
	}
	if after.State != "failed" || !strings.Contains(after.Error, "interrupted") || len(after.Files) != 3 {
		t.Fatalf("after restart: state %q error %q, %d files", after.State, after.Error, len(after.Files))
	}
	for _, f := range after.Files {
		if f.State != "partial" {
			t.Errorf("%s: state %q, want partial", f.Path, f.State)
		}
	}
	var compAfter compositeResp
	data, err = os.ReadFile(filepath.Join(srv.dataDir, "kill", "comp", "composite.json"))
	if err != nil || json.Unmarshal(data, &compAfter) != nil || len(compAfter.Encodings) != 1 {
		t.Fatalf("composite.json after restart: %v %s", err, data)
	}
	if compAfter.State != "failed" || compAfter.Encodings[0].State != "partial" {
		t.Errorf("composite after restart: state %q, encoding %q; want failed, partial", compAfter.State, compAfter.Encodings[0].State)
	}
}
