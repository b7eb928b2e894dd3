package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Raw-track recordings started and stopped over and over while real VP8
// and Opus flow, while other components of the room come and go.

// sendAV starts live VP8 (a keyframe every 10 frames, so short recordings
// see one) and Opus senders for ssrcs 1111 and 2222.
func sendAV(t *testing.T, ctx context.Context, port uint16) {
	t.Helper()
	gstSender(t, ctx, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=10 ! rtpvp8pay pt=96 ssrc=1111 ! udpsink host=127.0.0.1 port=%d", port))
	gstSender(t, ctx, fmt.Sprintf("audiotestsrc is-live=true ! opusenc ! rtpopuspay pt=111 ssrc=2222 ! udpsink host=127.0.0.1 port=%d", port))
}

// churnPipeline adds and removes a bin with an asynchronous sink to the
// room's pipeline until ctx ends, as the compositor, previews, composite
// encodings and live feeds do. Each add makes the pipeline go through
// PAUSED→PLAYING again, and that state change reaches every child that is
// not state-locked; the SetState calls in between do the same more often,
// so a branch being torn down meets one within a few seconds.
func churnPipeline(t *testing.T, ctx context.Context, r *Room) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			bin := gst.NewBin(fmt.Sprintf("churn-%d", i))
			elems, err := gst.NewElementMany("audiotestsrc", "fakesink")
			if err == nil {
				err = elems[0].SetProperty("is-live", true)
			}
			if err == nil {
				err = bin.AddMany(elems...)
			}
			if err == nil {
				err = elems[0].Link(elems[1])
			}
			if err == nil {
				err = r.pipe.Add(bin.Element)
			}
			if err != nil {
				t.Error(err)
				return
			}
			bin.SyncStateWithParent()
			time.Sleep(3 * time.Millisecond)
			_ = gstx.RemoveElement(r.pipe.Bin, bin.Element, 5*time.Second)
			for j := 0; j < 20; j++ {
				_ = r.pipe.SetState(gst.StatePlaying)
			}
		}
	}()
	return done
}

type finishedFile struct {
	FileEntry
	hold time.Duration
}

// checkFinished checks a stopped recording and its files (checkFiles).
func checkFinished(t *testing.T, r *Room, info RecordingInfo, hold, wall time.Duration) []finishedFile {
	t.Helper()
	if info.State != StateStopped {
		t.Errorf("%s: state %s (%s)", info.ID, info.State, info.Error)
	}
	return checkFiles(t, r, info.Files, hold, wall)
}

// checkFiles checks finished files: final ones hold their one stream, as
// many bytes as the manifest says, and no more time than was recorded;
// empty ones say why and left nothing on disk; none failed. It returns
// the final ones.
func checkFiles(t *testing.T, r *Room, files []*FileEntry, hold, wall time.Duration) []finishedFile {
	t.Helper()
	var out []finishedFile
	for _, f := range files {
		path := filepath.Join(r.cfg.DataDir, f.Path)
		switch f.State {
		case FileFinal:
			res, dur, err := probeFile(path)
			if err == nil && res.warnings != "" {
				// Seen on files of 30–150 ms: "0x00 at pos 221 (0xdd) invalid
				// as first byte of an EBML number"; ffprobe reads them anyway.
				t.Logf("%s (held %v): ffprobe warns: %s", f.Path, hold, res.warnings)
			}
			if err != nil {
				st, serr := os.Stat(path)
				t.Errorf("%s (held %v, %d bytes when finalized): %v; on disk now: %v %v", f.Path, hold, f.Bytes, err, st, serr)
				continue
			}
			if len(res.Streams) != 1 || res.Streams[0].CodecName != f.Codec {
				t.Errorf("%s (held %v): streams %+v, want one %s", f.Path, hold, res.Streams, f.Codec)
			}
			if st, err := os.Stat(path); err != nil || uint64(st.Size()) != f.Bytes || f.Bytes == 0 {
				t.Errorf("%s: manifest says %d bytes, file: %v %v", f.Path, f.Bytes, st, err)
			}
			if d := time.Duration(dur * float64(time.Second)); d > wall+100*time.Millisecond {
				t.Errorf("%s: %.3f s long, recorded for %v", f.Path, dur, wall)
			}
			if diff := dur*1000 - float64(f.DurationMS); diff > 60 || diff < -60 {
				t.Errorf("%s: ffprobe %.3f s, manifest %d ms", f.Path, dur, f.DurationMS)
			}
			out = append(out, finishedFile{FileEntry: *f, hold: hold})
		case FileEmpty:
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s: empty file left on disk (%v)", f.Path, err)
			}
			if f.Error == "" {
				t.Errorf("%s: empty without a reason", f.Path)
			}
			t.Logf("%s (held %v): empty: %s", f.Path, hold, f.Error)
		default:
			t.Errorf("%s (held %v): state %s: %s", f.Path, hold, f.State, f.Error)
		}
	}
	return out
}

func TestRecordingStartStopStress(t *testing.T) {
	r := newTestRoom(t)
	addAV(t, r, "cam", "mic", "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sendAV(t, ctx, r.Addr().Port())
	waitPackets(t, r, "cam", "mic")
	churnDone := churnPipeline(t, ctx, r)

	// From "stop at once" to longer than two keyframe intervals.
	holds := []time.Duration{0, 2 * time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond, 700 * time.Millisecond}
	var kept []finishedFile
	for i := 0; i < 2*len(holds); i++ {
		hold := holds[i%len(holds)]
		id := fmt.Sprintf("s%d", i)
		began := time.Now()
		if _, err := r.StartRecording(id, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(hold)
		info, err := r.StopRecording(id)
		if err != nil {
			t.Fatal(err)
		}
		files := checkFinished(t, r, info, hold, time.Since(began))
		kept = append(kept, files...)
		kinds := map[string]bool{}
		for _, f := range files {
			kinds[f.Kind] = true
		}
		// Opus flows in 20 ms frames: 150 ms of recording always holds
		// some; video needs a keyframe (one every 333 ms).
		if hold >= 150*time.Millisecond && !kinds["audio"] {
			t.Errorf("%s: held %v and no audio file: %+v", id, hold, info.Files)
		}
		if hold >= 700*time.Millisecond && !kinds["video"] {
			t.Errorf("%s: held %v and no video file: %+v", id, hold, info.Files)
		}
		for _, f := range info.Files {
			// 150 ms of 30 fps video is frames, if not a keyframe.
			if f.State == FileEmpty && f.Kind == "video" && hold >= 150*time.Millisecond && f.Error != EmptyNoKeyframe {
				t.Errorf("%s: video held %v is empty because %q, want %q", id, hold, f.Error, EmptyNoKeyframe)
			}
		}
	}
	// Two overlapping recordings on the same tees, stopped in reverse order.
	a, _ := r.StartRecording("over-a", "")
	time.Sleep(200 * time.Millisecond)
	b, _ := r.StartRecording("over-b", "")
	time.Sleep(500 * time.Millisecond)
	for _, id := range []string{b.ID, a.ID} {
		info, err := r.StopRecording(id)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, checkFinished(t, r, info, 0, time.Since(a.StartedAt)+time.Second)...)
	}
	cancel()
	<-churnDone

	// What was finalized stays as it was: nothing reopened a finished file.
	if len(kept) < 8 {
		t.Errorf("only %d files kept", len(kept))
	}
	for _, f := range kept {
		path := filepath.Join(r.cfg.DataDir, f.Path)
		st, err := os.Stat(path)
		if err != nil || uint64(st.Size()) != f.Bytes {
			t.Errorf("%s: was %d bytes when finalized, now %v %v", f.Path, f.Bytes, st, err)
			continue
		}
		if res, _, err := probeFile(path); err != nil || len(res.Streams) != 1 {
			t.Errorf("%s: now has streams %+v (%v)", f.Path, res.Streams, err)
		}
	}
}

// probeFile is ffprobe without t.Fatal, so a broken file is reported with
// the rest.
func probeFile(path string) (probeResult, float64, error) {
	cmd := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return probeResult{}, 0, fmt.Errorf("ffprobe: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var res probeResult
	if err := json.Unmarshal(out, &res); err != nil {
		return probeResult{}, 0, fmt.Errorf("ffprobe json: %w (stderr: %s)", err, bytes.TrimSpace(stderr.Bytes()))
	}
	res.warnings = string(bytes.TrimSpace(stderr.Bytes()))
	d, _ := strconv.ParseFloat(res.Format.Duration, 64)
	return res, d, nil
}

// waitPackets waits until every named track has received RTP.
func waitPackets(t *testing.T, r *Room, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			info, err := r.Track(id)
			if err != nil {
				t.Fatal(err)
			}
			if info.Stats.Packets > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("track %s: no packets after 10 s", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Edge cases around a branch's first buffer, each with the pipeline
// churning as above.
func TestRecordingEdgeCases(t *testing.T) {
	r := newTestRoom(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	churnDone := churnPipeline(t, ctx, r)
	defer func() { cancel(); <-churnDone }()

	// A recording running before the tracks exist: each branch is attached
	// to a tee that has seen neither caps nor buffers.
	early, err := r.StartRecording("early", "")
	if err != nil {
		t.Fatal(err)
	}
	addAV(t, r, "cam", "mic", "alice")

	// Started and stopped before any packet: a clear "empty" status with
	// its reason, no file, and a stopped (not failed) recording.
	began := time.Now()
	before, err := r.StartRecording("before-media", "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.StopRecording(before.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFinished(t, r, info, 0, time.Since(began))
	for _, f := range info.Files {
		if f.State != FileEmpty || f.Error != EmptyNoMedia {
			t.Errorf("before any media: %s is %s (%q), want %s (%q)", f.Path, f.State, f.Error, FileEmpty, EmptyNoMedia)
		}
	}

	// Media starts; a recording started right as it does keeps it.
	senders, stopSenders := context.WithCancel(ctx)
	asMediaStarts, err := r.StartRecording("as-media-starts", "")
	if err != nil {
		t.Fatal(err)
	}
	sendAV(t, senders, r.Addr().Port())
	waitPackets(t, r, "cam", "mic")
	time.Sleep(time.Second)
	for _, rec := range []RecordingInfo{early, asMediaStarts} {
		info, err := r.StopRecording(rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if files := checkFinished(t, r, info, time.Second, time.Since(rec.StartedAt)+100*time.Millisecond); len(files) != 2 {
			t.Errorf("%s: %d final files, want video and audio: %+v", rec.ID, len(files), info.Files)
		}
	}

	// Muted: the SFU stops forwarding, so the track sends nothing.
	for _, id := range []string{"cam", "mic"} {
		muted := true
		if _, err := r.UpdateTrack(id, TrackUpdate{Muted: &muted}); err != nil {
			t.Fatal(err)
		}
	}
	stopSenders()
	time.Sleep(300 * time.Millisecond) // what the jitterbuffer held has gone out
	began = time.Now()
	whileMuted, _ := r.StartRecording("while-muted", "")
	time.Sleep(300 * time.Millisecond)
	info, err = r.StopRecording(whileMuted.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFinished(t, r, info, 300*time.Millisecond, time.Since(began))
	for _, f := range info.Files {
		if f.State != FileEmpty || f.Error != EmptyNoMedia {
			t.Errorf("while muted: %s is %s (%q), want %s", f.Path, f.State, f.Error, FileEmpty)
		}
	}

	// A track leaving ends its files while the recording goes on (the
	// segment's whole bin is torn down); what they hold stays. New tracks
	// take over the SSRCs.
	for _, id := range []string{"cam", "mic"} {
		if err := r.RemoveTrack(id); err != nil {
			t.Fatal(err)
		}
	}
	addAV(t, r, "cam2", "mic2", "bob")
	leaving, _ := r.StartRecording("leaving", "")
	sendAV(t, ctx, r.Addr().Port())
	waitPackets(t, r, "cam2", "mic2")
	time.Sleep(time.Second)
	for _, id := range []string{"cam2", "mic2"} {
		if err := r.RemoveTrack(id); err != nil {
			t.Fatal(err)
		}
	}
	info, err = r.Recording(leaving.ID)
	if err != nil {
		t.Fatal(err)
	}
	kept := checkFiles(t, r, info.Files, time.Second, time.Since(leaving.StartedAt))
	if len(kept) != 2 {
		t.Errorf("tracks that left: %d final files, want 2: %+v", len(kept), info.Files)
	}
	time.Sleep(200 * time.Millisecond) // the churn goes on
	for _, f := range kept {
		if st, err := os.Stat(filepath.Join(r.cfg.DataDir, f.Path)); err != nil || uint64(st.Size()) != f.Bytes {
			t.Errorf("%s: was %d bytes when finalized, now %v %v", f.Path, f.Bytes, st, err)
		}
	}
	if _, err := r.StopRecording(leaving.ID); err != nil {
		t.Fatal(err)
	}
}

// addAV registers a participant's VP8 camera (SSRC 1111) and Opus
// microphone (SSRC 2222), the streams sendAV sends.
func addAV(t *testing.T, r *Room, cam, mic, participant string) {
	t.Helper()
	for _, tr := range []TrackInfo{
		{ID: cam, Participant: participant, Codec: "vp8", SSRC: 1111, PayloadType: 96},
		{ID: mic, Participant: participant, Codec: "opus", SSRC: 2222, PayloadType: 111},
	} {
		if _, err := r.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
}
