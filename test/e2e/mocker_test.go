package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/mocksfu"
)

type manifest struct {
	recordingResp
	StartedAt time.Time `json:"started_at"`
	StoppedAt time.Time `json:"stopped_at"`
}

func runMocker(t *testing.T, cfg mocksfu.Config) mocksfu.Stats {
	t.Helper()
	sfu, err := mocksfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+60*time.Second)
	defer cancel()
	if err := sfu.Run(ctx); err != nil {
		t.Fatalf("mock SFU: %v", err)
	}
	return sfu.Stats()
}

func readManifest(t *testing.T, srv *server, room, recID string) manifest {
	t.Helper()
	var m manifest
	data, err := os.ReadFile(filepath.Join(srv.dataDir, room, recID, "manifest.json"))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

// TestMockSFUEndToEnd: the mock SFU's participants (one joining late) are
// recorded track by track; durations match the media sent, audio is not
// truncated and the manifest's offsets match the join times.
func TestMockSFUEndToEnd(t *testing.T) {
	srv := startServer(t)
	const lateJoin = 4 * time.Second
	stats := runMocker(t, mocksfu.Config{
		Server: srv.base, Room: "e2e", N: 3, Record: true, Duration: 10 * time.Second, Seed: 7,
		Schedule: map[string][]mocksfu.Presence{"p3": {{Join: lateJoin}}},
	})
	if stats.RecordingID == "" {
		t.Fatal("the mock SFU started no recording")
	}
	m := readManifest(t, srv, "e2e", stats.RecordingID)
	if m.State != "stopped" || len(m.Files) != 6 {
		t.Fatalf("manifest: state %s, %d files", m.State, len(m.Files))
	}
	byTrack := map[string]fileResp{}
	for _, f := range m.Files {
		byTrack[f.Track] = f
	}
	for _, ts := range stats.Tracks {
		f, ok := byTrack[ts.ID]
		if !ok {
			t.Errorf("no file for track %s", ts.ID)
			continue
		}
		path := filepath.Join(srv.dataDir, f.Path)
		p := ffprobe(t, path)
		if len(p.Streams) != 1 || p.Streams[0].CodecName != ts.Codec {
			t.Errorf("%s: streams %+v, want %s", f.Path, p.Streams, ts.Codec)
			continue
		}
		if ts.Kind == "video" && (p.Streams[0].Width != 640 || p.Streams[0].Height != 360) {
			t.Errorf("%s: %dx%d, want 640x360", f.Path, p.Streams[0].Width, p.Streams[0].Height)
		}
		// Media sent while recording: from the later of the recording's
		// start and the track's first packet (a joining sender needs a moment
		// to start its encoder) to the stop.
		from := m.StartedAt
		if ts.FirstSent.After(from) {
			from = ts.FirstSent
		}
		sent := m.StoppedAt.Sub(from).Seconds()
		if d := duration(p); !within(d, sent, 0.5) {
			t.Errorf("%s: duration %.2f s, media sent while recording %.2f s", f.Path, d, sent)
		}
		// Offsets against the known join time.
		wantOffset := from.Sub(m.StartedAt).Milliseconds()
		if diff := f.StartOffsetMS - wantOffset; diff < -350 || diff > 350 {
			t.Errorf("%s: start_offset_ms %d, joined at +%d ms", f.Path, f.StartOffsetMS, wantOffset)
		}
		if f.FirstSampleNTP == nil {
			t.Errorf("%s: no first_sample_ntp although the sender sends SRs", f.Path)
		} else if skew := f.FirstSampleNTP.Sub(m.StartedAt.Add(time.Duration(f.StartOffsetMS) * time.Millisecond)); skew.Abs() > 400*time.Millisecond {
			t.Errorf("%s: first_sample_ntp %v is %v away from start+offset", f.Path, f.FirstSampleNTP, skew)
		}
	}
	// Audio is not truncated: each participant's audio covers its video.
	for _, p := range []string{"p1", "p2", "p3"} {
		a, v := byTrack[p+"-audio"], byTrack[p+"-video"]
		if a.DurationMS < v.DurationMS-300 {
			t.Errorf("%s: audio %d ms shorter than video %d ms", p, a.DurationMS, v.DurationMS)
		}
	}
	if late := byTrack["p3-video"].StartOffsetMS; late < lateJoin.Milliseconds()-500 {
		t.Errorf("late joiner offset %d ms, joined after %v", late, lateJoin)
	}
}

// TestMockSFUImpairedNetworkAndMutes: loss, reordering, duplicates and jitter,
// plus mute windows, from an SFU that does not retransmit; files stay
// decodable and keep their timeline, and the server asks for keyframes
// after loss.
func TestMockSFUImpairedNetworkAndMutes(t *testing.T) {
	srv := startServer(t)
	stats := runMocker(t, mocksfu.Config{
		Server: srv.base, Room: "faulty", N: 2, Record: true, Duration: 10 * time.Second, Seed: 3,
		Impairments:  mocksfu.Impairments{Loss: 5, Reorder: 5, Duplicate: 2, Jitter: 20 * time.Millisecond},
		NoRetransmit: true,
		Mutes: []mocksfu.MuteWindow{
			{Participant: "p1", Kind: "audio", From: 3 * time.Second, To: 5 * time.Second},
			{Participant: "p2", Kind: "video", From: 4 * time.Second, To: 6 * time.Second},
		},
		KeepTracks: true,
	})
	m := readManifest(t, srv, "faulty", stats.RecordingID)
	if len(m.Files) != 4 {
		t.Fatalf("files: %+v", m.Files)
	}
	recorded := m.StoppedAt.Sub(m.StartedAt).Seconds()
	for _, f := range m.Files {
		if f.State != "final" {
			t.Errorf("%s: %s", f.Path, f.State)
		}
		path := filepath.Join(srv.dataDir, f.Path)
		packets := filePackets(t, path)
		span := spans(packets)[f.Kind]
		start := float64(f.StartOffsetMS) / 1000
		if end := start + span; end > recorded+0.5 {
			t.Errorf("%s: runs to %.2f s of a %.2f s recording: stretched", f.Path, end, recorded)
		}
		if f.Kind == "audio" {
			// Muted tracks keep the timeline: the file still spans the
			// recording.
			if span < recorded-0.7 {
				t.Errorf("%s: spans %.2f s of a %.2f s recording", f.Path, span, recorded)
			}
			continue
		}
		// Video starts at the first keyframe that arrives whole and, after a
		// loss, goes on at the next one, so how much of the recording it
		// covers is chance. With 5 % loss and no retransmission a 10–14
		// packet keyframe arrives whole about half the time, and requests
		// go out 0.5 s apart: a start after six seconds (twelve requests)
		// would mean requests are not going out. (A span bound, which this
		// test had, failed a CI run and one local run of three: 3 s lost
		// between the start and the end.)
		if start > 6 {
			t.Errorf("%s: first whole keyframe only %.2f s into the recording", f.Path, start)
		}
		// The 2 s video mute stays a gap in the file's timeline.
		if f.Track == "p2-video" {
			gap := largestGap(packets, "video")
			t.Logf("%s: starts +%.2f s, largest gap between frames %.2f s", f.Path, start, gap)
			if gap < 1.8 {
				t.Errorf("%s: largest gap between frames %.2f s: the 2 s mute did not keep its place in the timeline", f.Path, gap)
			}
		}
		if errs := decodeErrors(t, path); strings.Count(errs, "\n") > 3 {
			t.Errorf("%s: decode errors under 5%% loss:\n%s", f.Path, errs)
		}
	}
	r := srv.room("faulty")
	var lost, ooo float64
	for _, tr := range r.Tracks {
		lost += statNum(tr, "lost")
		ooo += statNum(tr, "out_of_order")
	}
	if lost == 0 || ooo == 0 {
		t.Errorf("server saw lost=%v out_of_order=%v under impairment", lost, ooo)
	}
	var plis uint64
	for _, ts := range stats.Tracks {
		plis += ts.PLIs + ts.FIRs
		if ts.Kind == "video" && ts.RRsReceived == 0 {
			t.Errorf("%s: no receiver reports from the server", ts.ID)
		}
	}
	if plis == 0 {
		t.Error("no PLI/FIR reached the sender despite loss")
	}
}

// TestMockSFURetransmitsWhatIsLost: the same lossy path, from an SFU that
// resends what the server's NACKs ask for, on the track's own SSRC or on an
// RTX stream (RFC 4588): (nearly) every video frame forwarded is recorded
// (without retransmission, 3 % loss cost 24 % and 61 % of two cameras'
// frames, each loss freezing a file until the next keyframe).
func TestMockSFURetransmitsWhatIsLost(t *testing.T) {
	for _, rtx := range []bool{false, true} {
		t.Run(map[bool]string{false: "same-ssrc", true: "rtx"}[rtx], func(t *testing.T) {
			srv := startServer(t)
			stats := runMocker(t, mocksfu.Config{
				Server: srv.base, Room: "resend", N: 2, Record: true, Duration: 10 * time.Second, Seed: 3,
				Impairments: mocksfu.Impairments{Loss: 5, Reorder: 5, Duplicate: 2, Jitter: 20 * time.Millisecond},
				KeepTracks:  true, RTX: rtx,
			})
			m := readManifest(t, srv, "resend", stats.RecordingID)
			var resent uint64
			for _, f := range m.Files {
				if f.Kind != "video" {
					continue
				}
				ts, ok := stats.Track(f.Track)
				if !ok {
					t.Fatalf("no mocker stats for %s", f.Track)
				}
				resent += ts.Resent
				packets := filePackets(t, filepath.Join(srv.dataDir, f.Path))
				frames := 0
				for _, p := range packets {
					if p.kind == "video" {
						frames++
					}
				}
				gap := largestGap(packets, "video")
				t.Logf("%s: %d of %d frames forwarded recorded; %d packets lost, %d asked for again, %d resent (%d lost again, %d not in the history); largest gap %.3f s",
					f.Path, frames, ts.FramesOut, ts.Lost, ts.NACKedPackets, ts.Resent, ts.ResendLost, ts.ResendGone, gap)
				// A resent packet is lost again now and then (5 %); the
				// jitterbuffer asks again, but a second answer does not always
				// come within its 200 ms: 4 of 8 runs of these subtests had a
				// gap of 0.17-0.2 s in a file (the frames until the keyframe
				// asked for then), and one CI run 0.43 s and 283 of 300 frames
				// (2 resends lost again). One such loss costs the frames until
				// the keyframe asked for arrives; keyframe requests to a track
				// go out at most every 0.5 s (Config.KeyframeInterval), so a
				// second unrepaired loss soon after the first waits for the
				// throttle: another CI run had 2 resends lost again and a
				// 0.700 s gap, 280 of 295 frames. Hence 0.9 s: the 200 ms the
				// jitterbuffer waits, the 0.5 s throttle and a keyframe's
				// trip. Without
				// retransmission, 3 % loss left files 39 % and 76 % of
				// their frames (mocker by hand).
				if frames < int(ts.FramesOut)*90/100 {
					t.Errorf("%s: %d of %d frames recorded, want all but a few", f.Path, frames, ts.FramesOut)
				}
				if gap > 0.9 {
					t.Errorf("%s: a %.3f s gap between frames: a loss was neither repaired nor followed by a keyframe", f.Path, gap)
				}
			}
			if resent == 0 {
				t.Error("the mock SFU resent nothing: no NACK reached it")
			}
			var nacks, rtxPackets float64
			for _, tr := range srv.room("resend").Tracks {
				nacks += statNum(tr, "nack_sent")
				rtxPackets += statNum(tr, "rtx_packets")
			}
			if nacks < float64(resent) {
				t.Errorf("server stats say %v packets asked for again, the SFU resent %d", nacks, resent)
			}
			if want := float64(resent) * 0.9; rtx && rtxPackets < want || !rtx && rtxPackets != 0 {
				t.Errorf("server stats say %v retransmissions arrived on RTX streams; the SFU resent %d (rtx %v)", rtxPackets, resent, rtx)
			}
		})
	}
}

// TestMockSFUDTXAndResolutionChange: Opus DTX keeps an hour an hour (here:
// seconds), and Chrome-like resolution flips do not break the video file.
func TestMockSFUDTXAndResolutionChange(t *testing.T) {
	srv := startServer(t)
	stats := runMocker(t, mocksfu.Config{
		Server: srv.base, Room: "dtx", N: 1, Record: true, Duration: 9 * time.Second, Seed: 5,
		DTX: true, ResolutionChange: 1500 * time.Millisecond,
	})
	m := readManifest(t, srv, "dtx", stats.RecordingID)
	recorded := m.StoppedAt.Sub(m.StartedAt).Seconds()
	for _, f := range m.Files {
		path := filepath.Join(srv.dataDir, f.Path)
		p := ffprobe(t, path)
		if d := duration(p); !within(d, recorded, 0.6) {
			t.Errorf("%s: %.2f s for %.2f s recorded", f.Path, d, recorded)
		}
		if f.Kind == "audio" {
			st, _ := os.Stat(path)
			// 32 kbit/s without DTX would be ~36 KB; DTX must not inflate it.
			if st.Size() > 60_000 {
				t.Errorf("DTX audio file is %d bytes", st.Size())
			}
		}
		if f.Kind == "video" {
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width",
				"-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			widths := map[string]int{}
			for _, w := range strings.Fields(string(out)) {
				widths[strings.Trim(w, ",")]++
			}
			if widths["640"] == 0 || widths["320"] == 0 {
				t.Errorf("decoded frame widths %v: want both 640 and 320", widths)
			}
			if errs := decodeErrors(t, path); errs != "" {
				t.Errorf("decode errors across resolution changes: %s", errs)
			}
		}
	}
}

// TestMockSFUCodecs records VP9 and H.264 from the mock SFU.
func TestMockSFUCodecs(t *testing.T) {
	srv := startServer(t)
	for _, codec := range []string{"vp9", "h264"} {
		stats := runMocker(t, mocksfu.Config{Server: srv.base, Room: "codec-" + codec, N: 1, Video: codec, Audio: "none",
			Record: true, Duration: 5 * time.Second, Width: 320, Height: 180})
		m := readManifest(t, srv, "codec-"+codec, stats.RecordingID)
		if len(m.Files) != 1 {
			t.Fatalf("%s: files %+v", codec, m.Files)
		}
		p := ffprobe(t, filepath.Join(srv.dataDir, m.Files[0].Path))
		if p.Streams[0].CodecName != codec || p.Streams[0].Width != 320 {
			t.Errorf("%s: %+v", codec, p.Streams)
		}
		if d := duration(p); d < 3.5 {
			t.Errorf("%s: %.2f s", codec, d)
		}
	}
}

// TestMockSFUH264ResolutionChange: new SPS with a new size mid-stream must
// neither fail the Matroska muxer nor end the file.
func TestMockSFUH264ResolutionChange(t *testing.T) {
	srv := startServer(t)
	stats := runMocker(t, mocksfu.Config{Server: srv.base, Room: "h264res", N: 1, Video: "h264", Audio: "none",
		Record: true, Duration: 7 * time.Second, ResolutionChange: 1500 * time.Millisecond, KeyframeInterval: time.Second})
	m := readManifest(t, srv, "h264res", stats.RecordingID)
	if len(m.Files) != 1 || m.Files[0].State != "final" {
		t.Fatalf("files: %+v", m.Files)
	}
	path := filepath.Join(srv.dataDir, m.Files[0].Path)
	recorded := m.StoppedAt.Sub(m.StartedAt).Seconds()
	if span := mediaSpan(t, path)["video"]; span < recorded-1 {
		t.Errorf("h264 file spans %.2f s of %.2f s recorded: resolution change cut it short", span, recorded)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "640") || !strings.Contains(string(out), "320") {
		t.Errorf("decoded widths do not show both sizes: %.200s", out)
	}
}
