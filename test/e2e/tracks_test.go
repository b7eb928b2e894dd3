package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func vp8Sender(t *testing.T, port int, ssrc uint32, frames int, pattern string) *sender {
	return gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true pattern=%s num-buffers=%d ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=%d ! udpsink host=127.0.0.1 port=%d", pattern, frames, ssrc, port))
}

func opusSender(t *testing.T, port int, ssrc uint32, buffers int) *sender {
	return gstLaunch(t, fmt.Sprintf("audiotestsrc is-live=true num-buffers=%d samplesperbuffer=960 ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay pt=111 ssrc=%d ! udpsink host=127.0.0.1 port=%d", buffers, ssrc, port))
}

// addCamAndMic registers a participant's camera ("cam", VP8, PT 96) and
// microphone ("mic", Opus, PT 111).
func (s *server) addCamAndMic(room, participant string, camSSRC, micSSRC uint32) {
	s.addTrack(room, map[string]any{"id": "cam", "participant": participant, "kind": "video", "codec": "vp8", "ssrc": camSSRC, "payload_type": 96})
	s.addTrack(room, map[string]any{"id": "mic", "participant": participant, "kind": "audio", "codec": "opus", "ssrc": micSSRC, "payload_type": 111})
}

func waitDone(t *testing.T, sd *sender, timeout time.Duration) {
	t.Helper()
	select {
	case <-sd.done:
	case <-time.After(timeout):
		t.Fatal("sender did not finish")
	}
}

// TestTrackLeavesMidRecording: a participant leaves; its file is final at
// once while the others keep recording.
func TestTrackLeavesMidRecording(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("leave")
	srv.addTrack(room.ID, map[string]any{"id": "stay", "participant": "a", "kind": "video", "codec": "vp8", "ssrc": 11, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "go", "participant": "b", "kind": "video", "codec": "vp8", "ssrc": 12, "payload_type": 96})
	rec := srv.startRecording(room.ID, nil)
	stay := vp8Sender(t, room.RTP.Port, 11, 210, "ball")
	leave := vp8Sender(t, room.RTP.Port, 12, 1000, "smpte")
	time.Sleep(3 * time.Second)
	leave.stop()
	srv.must(200, "DELETE", "/v1/rooms/"+room.ID+"/tracks/go", nil, nil)
	var mid recordingResp
	srv.must(200, "GET", "/v1/rooms/"+room.ID+"/recordings/"+rec.ID, nil, &mid)
	if mid.State != "recording" {
		t.Fatalf("recording state %s after one track left", mid.State)
	}
	var gone fileResp
	for _, f := range mid.Files {
		if f.Track == "go" {
			gone = f
		}
	}
	if gone.State != "final" {
		t.Fatalf("file of the departed track is %q, want final at once", gone.State)
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, gone.Path))); !within(d, 3, 0.6) {
		t.Errorf("departed track file %.2f s, want ~3", d)
	}
	waitDone(t, stay, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	for _, f := range final.Files {
		if f.Track == "stay" {
			if d := duration(ffprobe(t, filepath.Join(srv.dataDir, f.Path))); !within(d, 7, 0.5) {
				t.Errorf("remaining track %.2f s, want ~7", d)
			}
		}
	}
	if len(srv.room(room.ID).Tracks) != 1 {
		t.Error("the departed track is still listed")
	}
}

// TestDeviceAndCodecChange: a new camera (new SSRC, same codec) continues the
// same file; a codec change starts a new file listed in the manifest.
func TestDeviceAndCodecChange(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("device")
	srv.addTrack(room.ID, map[string]any{"id": "cam", "participant": "a", "kind": "video", "codec": "vp8", "ssrc": 100, "payload_type": 96})
	rec := srv.startRecording(room.ID, nil)
	waitDone(t, vp8Sender(t, room.RTP.Port, 100, 60, "ball"), 15*time.Second) // 2 s on the first camera
	var tr trackResp
	srv.must(200, "PATCH", "/v1/rooms/"+room.ID+"/tracks/cam", map[string]any{"ssrc": 200}, &tr)
	if tr.SSRC != 200 || tr.Segment != 0 {
		t.Fatalf("after device change: %+v", tr)
	}
	waitDone(t, vp8Sender(t, room.RTP.Port, 200, 60, "smpte"), 15*time.Second) // 2 s on the second camera
	time.Sleep(300 * time.Millisecond)
	var mid recordingResp
	srv.must(200, "GET", "/v1/rooms/"+room.ID+"/recordings/"+rec.ID, nil, &mid)
	if len(mid.Files) != 1 {
		t.Fatalf("device change with the same codec made %d files, want 1", len(mid.Files))
	}
	srv.must(200, "PATCH", "/v1/rooms/"+room.ID+"/tracks/cam", map[string]any{"ssrc": 300, "codec": "h264", "payload_type": 102}, &tr)
	if tr.Segment != 1 || tr.Codec != "h264" {
		t.Fatalf("after codec change: %+v", tr)
	}
	h264 := gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay pt=102 ssrc=300 config-interval=-1 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	waitDone(t, h264, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	if len(final.Files) != 2 {
		t.Fatalf("files: %+v", final.Files)
	}
	first, second := final.Files[0], final.Files[1]
	if first.Codec != "vp8" || second.Codec != "h264" || second.Segment != 1 || filepath.Ext(second.Path) != ".mkv" {
		t.Fatalf("files: %+v", final.Files)
	}
	// Both cameras' frames are in the first file: ~4 s of media plus the gap.
	span := mediaSpan(t, filepath.Join(srv.dataDir, first.Path))["video"]
	if span < 3.8 || span > 6.5 {
		t.Errorf("first file spans %.2f s, want both cameras' ~4 s (+ the switch gap)", span)
	}
	if errs := decodeErrors(t, filepath.Join(srv.dataDir, first.Path)); errs != "" {
		t.Errorf("decode errors across the device change: %s", errs)
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, second.Path))); !within(d, 2, 0.5) {
		t.Errorf("h264 segment %.2f s, want ~2", d)
	}
	if second.StartOffsetMS < first.StartOffsetMS+3500 {
		t.Errorf("second segment offset %d ms should follow the first (%d ms) by ≥ 4 s", second.StartOffsetMS, first.StartOffsetMS)
	}
}

// TestPerParticipantMode merges a participant's audio and video into one file.
func TestPerParticipantMode(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("perpart")
	srv.addCamAndMic(room.ID, "alice", 21, 22)
	srv.must(409, "POST", "/v1/rooms/"+room.ID+"/tracks", map[string]any{"id": "mic", "participant": "bob", "kind": "audio", "codec": "opus", "ssrc": 23, "payload_type": 111}, nil)
	srv.addTrack(room.ID, map[string]any{"id": "bobmic", "participant": "bob", "kind": "audio", "codec": "opus", "ssrc": 23, "payload_type": 111})
	rec := srv.startRecording(room.ID, map[string]any{"kind": "tracks", "mode": "per_participant"})
	v := vp8Sender(t, room.RTP.Port, 21, 120, "ball")
	a := opusSender(t, room.RTP.Port, 22, 200)
	b := opusSender(t, room.RTP.Port, 23, 200)
	for _, s := range []*sender{v, a, b} {
		waitDone(t, s, 15*time.Second)
	}
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	if final.State != "stopped" || len(final.Files) != 2 {
		t.Fatalf("recording: %+v", final)
	}
	for _, f := range final.Files {
		p := ffprobe(t, filepath.Join(srv.dataDir, f.Path))
		switch f.Participant {
		case "alice":
			if len(p.Streams) != 2 || f.Kind != "av" || len(f.Tracks) != 2 {
				t.Errorf("alice: %+v streams %+v", f, p.Streams)
			}
		case "bob":
			if len(p.Streams) != 1 || p.Streams[0].CodecName != "opus" {
				t.Errorf("bob: %+v streams %+v", f, p.Streams)
			}
		default:
			t.Errorf("unexpected file %+v", f)
		}
		if d := duration(p); !within(d, 4, 0.6) {
			t.Errorf("%s: %.2f s, want ~4", f.Path, d)
		}
	}
}

// TestCompositeStopLeavesTrackRecordingsGoing: stopping a composite (its
// decode bins flushed and removed mid-stream, their taps answering FLUSHING
// to the tracks' tees) must not stop the tracks, whose per-track recording
// goes on to the senders' end.
func TestCompositeStopLeavesTrackRecordingsGoing(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("cstop")
	srv.addCamAndMic(room.ID, "a", 21, 22)
	rec := srv.startRecording(room.ID, nil)
	cam := vp8Sender(t, room.RTP.Port, 21, 210, "ball") // 7 s
	mic := opusSender(t, room.RTP.Port, 22, 350)        // 7 s of 20 ms
	time.Sleep(time.Second)
	srv.must(201, "POST", "/v1/rooms/cstop/recordings", map[string]any{"id": "c", "kind": "composite"}, nil)
	time.Sleep(2 * time.Second)
	srv.must(200, "DELETE", "/v1/rooms/cstop/recordings/c", nil, nil)
	waitDone(t, cam, 15*time.Second)
	waitDone(t, mic, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	if len(final.Files) != 2 {
		t.Fatalf("files %+v, want the camera's and the microphone's", final.Files)
	}
	for _, f := range final.Files {
		if d := duration(ffprobe(t, filepath.Join(srv.dataDir, f.Path))); !within(d, 7, 0.5) {
			t.Errorf("track %s recorded %.2f s, want ~7: stopping the composite stopped the track", f.Track, d)
		}
	}
}
