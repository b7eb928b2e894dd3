package encode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Tests in this file use the real GStreamer of the machine. Hardware
// encoders are absent on CI machines; assertions about the software fallback
// are skipped where a hardware encoder actually works.

func TestSelectRealRegistry(t *testing.T) {
	reg := NewGstRegistry(0)
	aac := "avenc_aac"
	if reg.Has("fdkaacenc") && reg.TryReady("fdkaacenc") == nil {
		aac = "fdkaacenc"
	}
	want := map[string]string{H264: "x264enc", H265: "x265enc", VP8: "vp8enc", VP9: "vp9enc", AAC: aac, Opus: "opusenc"}
	for _, codec := range append(VideoCodecs, AudioCodecs...) {
		ch, err := Select(codec, Options{}, reg, quietLog())
		if err != nil {
			if codec == H265 && !reg.Has("x265enc") {
				continue // optional codec
			}
			t.Errorf("%s: %v", codec, err)
			continue
		}
		t.Logf("%s: %s (%s)", codec, ch.Element, ch.Reason)
		if ch.Hardware {
			t.Logf("%s: hardware encoder %s works on this machine; software fallback not asserted", codec, ch.Element)
		} else if ch.Element != want[codec] {
			t.Errorf("%s: got %s, want %s", codec, ch.Element, want[codec])
		}
		// Prefer=software always lands on the software encoder.
		if sw, err := Select(codec, Options{Prefer: FamilySoftware}, reg, quietLog()); err != nil || sw.Element != want[codec] {
			t.Errorf("%s prefer software: %+v, %v", codec, sw, err)
		}
	}

	// vaapih264enc: installed plugin but no VA driver here, so it is absent
	// or fails READY; either way it must be recorded and forcing it fails.
	if reg.Has("vaapih264enc") && reg.TryReady("vaapih264enc") == nil {
		t.Skip("vaapih264enc works on this machine")
	}
	ch, err := Select(H264, Options{Prefer: FamilyVAAPI}, reg, quietLog())
	if err != nil || len(ch.Tried) == 0 || ch.Tried[0].Element != "vaapih264enc" {
		t.Fatalf("prefer vaapi: %+v, %v", ch, err)
	}
	t.Logf("vaapih264enc: %s", ch.Tried[0])
	if _, err := Select(H264, Options{Force: "vaapih264enc"}, reg, quietLog()); !errors.Is(err, ErrNoEncoder) {
		t.Errorf("forced vaapih264enc: %v", err)
	}
}

func TestRealRegistryTryReady(t *testing.T) {
	reg := NewGstRegistry(time.Second)
	if err := reg.TryReady("x264enc"); err != nil {
		t.Errorf("x264enc READY: %v", err)
	}
	if err := reg.TryReady("no-such-element"); err == nil {
		t.Error("no-such-element reached READY")
	}
	// A filesink without a location fails its NULL→READY transition, with
	// the element's own message attached.
	err := reg.TryReady("filesink")
	if err == nil || !strings.Contains(err.Error(), "READY") || !strings.Contains(err.Error(), "file") {
		t.Errorf("filesink READY: %v", err)
	}
}

// enumValues are the numeric values of the nicks used in the tables, from
// gst-inspect-1.0 on 1.22; GetProperty returns enums as int, flags as uint.
var enumValues = map[string]string{
	"x264enc/speed-preset": "3", "x264enc/tune": "4",
	"x265enc/speed-preset": "3", "x265enc/tune": "4",
	"vp8enc/end-usage": "1", "vp9enc/end-usage": "1",
}

// TestSoftwarePropertiesApplied builds each installed software encoder bin
// and reads every property back: names, GTypes and enum nicks all took.
func TestSoftwarePropertiesApplied(t *testing.T) {
	gstx.Init()
	for _, c := range candidates {
		if c.hardware() || gst.Find(c.factory) == nil {
			continue
		}
		var enc *Encoder
		var err error
		var props []prop
		if c.video != nil {
			s := VideoSettings{Codec: c.codec, Width: 640, Height: 360, FPS: 25, BitrateKbps: 1200}
			props = c.video(s)
			enc, err = VideoEncoder(Choice{Element: c.factory}, s)
		} else {
			s := AudioSettings{Codec: c.codec, BitrateKbps: 96}
			props = c.audio(s)
			enc, err = AudioEncoder(Choice{Element: c.factory}, s)
		}
		if err != nil {
			t.Errorf("%s: %v", c.factory, err)
			continue
		}
		e, err := enc.Bin.GetElementByName(enc.ElementName)
		if err != nil {
			t.Fatalf("%s: %v", enc.ElementName, err)
		}
		for _, p := range props {
			got, err := e.GetProperty(p.name)
			if err != nil {
				t.Errorf("%s %s: %v", c.factory, p.name, err)
				continue
			}
			want := fmt.Sprint(p.value)
			if _, isNick := p.value.(nick); isNick {
				want = enumValues[c.factory+"/"+p.name]
			}
			if fmt.Sprint(got) != want {
				t.Errorf("%s %s = %v (%T), want %s", c.factory, p.name, got, got, want)
			}
		}
		// One encoder thread for 640x360@25 (see Threads), whatever the
		// machine's CPUs.
		if c.factory == "vp8enc" || c.factory == "vp9enc" || c.factory == "x264enc" {
			if got, err := e.GetProperty("threads"); err != nil || fmt.Sprint(got) != "1" {
				t.Errorf("%s threads = %v (%v), want 1", c.factory, got, err)
			}
		}
	}
}

func TestEncoderErrors(t *testing.T) {
	s := VideoSettings{Codec: VP8, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500}
	var fe *FieldError
	if _, err := VideoEncoder(Choice{Element: "x264enc"}, s); !errors.As(err, &fe) || fe.Field != "Choice.Element" {
		t.Errorf("x264enc for vp8: %v", err)
	}
	if _, err := VideoEncoder(Choice{Element: "opusenc"}, s); !errors.As(err, &fe) || fe.Field != "Choice.Element" {
		t.Errorf("opusenc as video: %v", err)
	}
	s.Width = 321
	if _, err := VideoEncoder(Choice{Element: "vp8enc"}, s); !errors.As(err, &fe) || fe.Field != "VideoSettings.Width" {
		t.Errorf("odd width: %v", err)
	}
	if _, err := AudioEncoder(Choice{Element: "opusenc"}, AudioSettings{Codec: AAC, BitrateKbps: 128}); !errors.As(err, &fe) || fe.Field != "Choice.Element" {
		t.Errorf("opusenc for aac: %v", err)
	}
	if _, err := Muxer(MuxSpec{Format: FormatWebM, Video: H264}); !errors.Is(err, ErrIncompatible) {
		t.Errorf("h264 in webm: %v", err)
	}
}

// probe is the part of ffprobe's JSON the tests look at.
type probe struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		CodecType    string `json:"codec_type"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		SampleRate   string `json:"sample_rate"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,codec_type,width,height,sample_rate,nb_read_frames:format=duration", "-of", "json", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v: %s", path, err, ee.Stderr)
		}
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return p
}

func (p probe) stream(kind string) (codec string, w, h, frames int) {
	for _, s := range p.Streams {
		if s.CodecType == kind {
			n, _ := strconv.Atoi(s.NbReadFrames)
			return s.CodecName, s.Width, s.Height, n
		}
	}
	return "", 0, 0, 0
}

// buildAV assembles sources → encoders → muxer in p and returns the muxer.
func buildAV(t *testing.T, p *gst.Pipeline, reg Registry, live bool, video, audio string, spec MuxSpec) (*Encoder, *Mux) {
	t.Helper()
	vch, err := Select(video, Options{}, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ach, err := Select(audio, Options{}, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	venc, err := VideoEncoder(vch, VideoSettings{Codec: video, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500})
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := AudioEncoder(ach, AudioSettings{Codec: audio, BitrateKbps: 96})
	if err != nil {
		t.Fatal(err)
	}
	spec.Video, spec.Audio = video, audio
	mux, err := Muxer(spec)
	if err != nil {
		t.Fatal(err)
	}
	// 60 frames at 30 fps and 100 × 20 ms of audio: 2 s each (live runs
	// until killed or EOS).
	vdesc := "videotestsrc num-buffers=60 ! capsfilter caps=video/x-raw,width=320,height=240,framerate=30/1"
	adesc := "audiotestsrc num-buffers=100 samplesperbuffer=960 ! capsfilter caps=audio/x-raw,rate=48000,channels=2"
	if live {
		vdesc = "videotestsrc is-live=true ! capsfilter caps=video/x-raw,width=320,height=240,framerate=30/1"
		adesc = "audiotestsrc is-live=true samplesperbuffer=960 ! capsfilter caps=audio/x-raw,rate=48000,channels=2"
	}
	vsrc, err := gst.NewBinFromString(vdesc, true)
	if err != nil {
		t.Fatal(err)
	}
	asrc, err := gst.NewBinFromString(adesc, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*gst.Element{vsrc.Element, asrc.Element, venc.Bin.Element, aenc.Bin.Element, mux.Bin.Element} {
		if err := p.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	link := func(a, b *gst.Element, pad string) {
		t.Helper()
		if ret := a.GetStaticPad("src").Link(b.GetStaticPad(pad)); ret != gst.PadLinkOK {
			t.Fatalf("link %s → %s.%s: %s", a.GetName(), b.GetName(), pad, ret)
		}
	}
	link(vsrc.Element, venc.Bin.Element, "sink")
	link(asrc.Element, aenc.Bin.Element, "sink")
	link(venc.Bin.Element, mux.Bin.Element, "video")
	link(aenc.Bin.Element, mux.Bin.Element, "audio")
	return venc, mux
}

// runToEOS plays p until EOS or an error.
func runToEOS(p *gst.Pipeline, timeout time.Duration) error {
	defer p.BlockSetState(gst.StateNull)
	if err := p.SetState(gst.StatePlaying); err != nil {
		return err
	}
	msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(timeout), gst.MessageEOS|gst.MessageError)
	switch {
	case msg == nil:
		return fmt.Errorf("no EOS within %s", timeout)
	case msg.Type() == gst.MessageError:
		gerr := msg.ParseError()
		return fmt.Errorf("%s: %s (%s)", msg.Source(), gerr.Error(), gerr.DebugString())
	}
	return nil
}

func TestEncodeToFiles(t *testing.T) {
	reg := NewGstRegistry(0)
	dir := t.TempDir()
	cases := []struct{ format, video, audio string }{
		{FormatMP4, H264, AAC},
		{FormatWebM, VP8, Opus},
		{FormatWebM, VP9, Opus},
		{FormatMKV, H264, AAC},
		{FormatMP4, VP9, Opus},
		{FormatMKV, H265, Opus},
	}
	for _, tc := range cases {
		if tc.video == H265 && !reg.Has("x265enc") {
			continue
		}
		name := tc.video + "-" + tc.audio + "-" + tc.format
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+Extension(tc.format))
			p, err := gst.NewPipeline("")
			if err != nil {
				t.Fatal(err)
			}
			buildAV(t, p, reg, false, tc.video, tc.audio, MuxSpec{Format: tc.format, Location: path})
			start := time.Now()
			if err := runToEOS(p, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			pr := ffprobe(t, path)
			vc, w, h, frames := pr.stream("video")
			ac, _, _, _ := pr.stream("audio")
			dur, _ := strconv.ParseFloat(pr.Format.Duration, 64)
			t.Logf("%s: %s %dx%d %d frames, %s, %.3f s (encoded in %s)", name, vc, w, h, frames, ac, dur, time.Since(start).Round(time.Millisecond))
			wantV := map[string]string{H264: "h264", H265: "hevc", VP8: "vp8", VP9: "vp9"}[tc.video]
			wantA := map[string]string{AAC: "aac", Opus: "opus"}[tc.audio]
			if vc != wantV || w != 320 || h != 240 || ac != wantA {
				t.Errorf("streams: %+v", pr.Streams)
			}
			if frames != 60 {
				t.Errorf("video frames = %d, want 60", frames)
			}
			if dur < 1.9 || dur > 2.2 {
				t.Errorf("duration %.3f s, want ≈ 2 s", dur)
			}
		})
	}
}

// TestBranchAddedAtRuntime links a second muxer branch to the encoder's tee
// while the pipeline plays; it must start on a keyframe and be playable.
func TestBranchAddedAtRuntime(t *testing.T) {
	reg := NewGstRegistry(0) // initialises GStreamer
	dir := t.TempDir()
	p, err := gst.NewPipeline("")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Select(H264, Options{}, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	venc, err := VideoEncoder(ch, VideoSettings{Codec: H264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500})
	if err != nil {
		t.Fatal(err)
	}
	src, err := gst.NewBinFromString("videotestsrc is-live=true ! capsfilter caps=video/x-raw,width=320,height=240,framerate=30/1", true)
	if err != nil {
		t.Fatal(err)
	}
	tee, _ := gst.NewElementWithName("tee", "t")
	first, err := Muxer(MuxSpec{Format: FormatMKV, Video: H264, Location: filepath.Join(dir, "first.mkv")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddMany(src.Element, venc.Bin.Element, tee, first.Bin.Element); err != nil {
		t.Fatal(err)
	}
	if err := gst.ElementLinkMany(src.Element, venc.Bin.Element, tee); err != nil {
		t.Fatal(err)
	}
	if ret := tee.GetRequestPad("src_%u").Link(first.Bin.GetStaticPad("video")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	bus := p.GetPipelineBus()
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer p.BlockSetState(gst.StateNull)
	time.Sleep(700 * time.Millisecond) // mid-GOP: keyframes come every 2 s

	second, err := Muxer(MuxSpec{Format: FormatMP4, Video: H264, Location: filepath.Join(dir, "second.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(second.Bin.Element); err != nil {
		t.Fatal(err)
	}
	if !second.Bin.SyncStateWithParent() {
		t.Fatal("sync state")
	}
	if ret := tee.GetRequestPad("src_%u").Link(second.Bin.GetStaticPad("video")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	if !venc.RequestKeyframe() {
		t.Error("RequestKeyframe not handled")
	}
	time.Sleep(1200 * time.Millisecond)
	p.SendEvent(gst.NewEOSEvent())
	msg := bus.TimedPopFiltered(gst.ClockTime(10*time.Second), gst.MessageEOS|gst.MessageError)
	if msg == nil || msg.Type() != gst.MessageEOS {
		if msg != nil {
			t.Fatalf("%s: %s", msg.Source(), msg.ParseError().Error())
		}
		t.Fatal("no EOS")
	}
	_ = p.BlockSetState(gst.StateNull)

	pr := ffprobe(t, filepath.Join(dir, "second.mp4"))
	_, _, _, frames := pr.stream("video")
	dur, _ := strconv.ParseFloat(pr.Format.Duration, 64)
	t.Logf("runtime branch: %d frames, %.3f s", frames, dur)
	// Without the keyframe request the branch would wait until 2 s for the
	// next GOP and record nothing in 1.2 s.
	if frames < 25 || dur < 0.8 || dur > 1.6 {
		t.Errorf("runtime branch: %d frames, %.3f s; want ≈ 1.2 s", frames, dur)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame",
		"-read_intervals", "%+#1", "-of", "csv=p=0", filepath.Join(dir, "second.mp4")).Output()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("first frame of the runtime branch is not a keyframe: %q, %v", out, err)
	}
}

const crashEnv = "ENCODE_TEST_CRASH_OUTPUT"

// TestCrashHelper is the subprocess of TestFragmentedMP4SurvivesSIGKILL: a
// live h264+aac fragmented-MP4 recording that runs until it is killed.
func TestCrashHelper(t *testing.T) {
	out := os.Getenv(crashEnv)
	if out == "" {
		t.Skip("helper process only")
	}
	gstx.Init()
	p, err := gst.NewPipeline("")
	if err != nil {
		t.Fatal(err)
	}
	buildAV(t, p, NewGstRegistry(0), true, H264, AAC, MuxSpec{Format: FormatMP4, Location: out})
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PLAYING")
	msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(20*time.Second), gst.MessageError)
	if msg != nil {
		fmt.Println("ERROR", msg.ParseError().Error())
	}
	os.Exit(3) // not killed in time
}

func TestFragmentedMP4SurvivesSIGKILL(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	path := filepath.Join(t.TempDir(), "crash.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	playing := false
	for lines.Scan() {
		if lines.Text() == "PLAYING" {
			playing = true
			break
		}
		t.Log("helper:", lines.Text())
	}
	if !playing {
		_ = cmd.Wait()
		t.Fatal("helper never reached PLAYING")
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no EOS, no header rewrite
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("helper did not die by the signal: %v", err)
	}

	pr := ffprobe(t, path)
	vc, w, h, frames := pr.stream("video")
	ac, _, _, aframes := pr.stream("audio")
	st, _ := os.Stat(path)
	t.Logf("after SIGKILL at 3 s: %d bytes, %s %dx%d %d frames (%.2f s), %s %d frames", st.Size(), vc, w, h, frames, float64(frames)/30, ac, aframes)
	if vc != "h264" || ac != "aac" {
		t.Fatalf("streams: %+v", pr.Streams)
	}
	if frames < 45 {
		t.Errorf("%d decodable video frames (%.2f s), want ≥ 1.5 s", frames, float64(frames)/30)
	}
}

// TestMissingFramesStayMissing: frames missing from a video encoder's input
// (dropped by the leaky queue in front of an encoder the machine cannot keep
// up with) are not filled with copies, which would cost an encode each and
// keep the encoder behind; an input slower than the rendition (a mix not yet
// at the rendition's rate) is encoded at its own rate, not refused; a faster
// one is brought down to the rendition's rate.
func TestMissingFramesStayMissing(t *testing.T) {
	gstx.Init()
	for _, tc := range []struct {
		name     string
		inFPS    int
		outFPS   int
		frames   int
		drop     func(i int) bool
		wantOut  int
		tolerate int
	}{
		{"two thirds of a second missing", 30, 30, 60, func(i int) bool { return i >= 20 && i < 40 }, 40, 1},
		{"every other frame missing", 30, 30, 60, func(i int) bool { return i%2 == 1 }, 30, 1},
		{"input at half the rate", 15, 30, 30, func(int) bool { return false }, 30, 0},
		{"input at twice the rate", 60, 30, 120, func(int) bool { return false }, 60, 1},
		{"four frames missing, rendition at half the rate", 30, 15, 60, func(i int) bool { return i >= 21 && i < 25 }, 29, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := VideoEncoder(Choice{Codec: VP8, Element: "vp8enc"}, VideoSettings{Codec: VP8, Width: 320, Height: 240, FPS: tc.outFPS, BitrateKbps: 500})
			if err != nil {
				t.Fatal(err)
			}
			p, err := gst.NewPipelineFromString(fmt.Sprintf("videotestsrc name=src num-buffers=%d ! video/x-raw,format=I420,width=320,height=240,framerate=%d/1 ! queue name=q", tc.frames, tc.inFPS))
			if err != nil {
				t.Fatal(err)
			}
			sink, _ := gst.NewElementWithName("fakesink", "out")
			if err := p.AddMany(enc.Bin.Element, sink); err != nil {
				t.Fatal(err)
			}
			q, _ := p.GetElementByName("q")
			if err := gst.ElementLinkMany(q, enc.Bin.Element, sink); err != nil {
				t.Fatal(err)
			}
			src, _ := p.GetElementByName("src")
			in := 0
			src.GetStaticPad("src").AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
				i := in
				in++
				if tc.drop(i) {
					return gst.PadProbeDrop
				}
				return gst.PadProbeOK
			})
			var mu sync.Mutex
			var pts []time.Duration
			sink.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
				mu.Lock()
				pts = append(pts, time.Duration(info.GetBuffer().PresentationTimestamp()))
				mu.Unlock()
				return gst.PadProbeOK
			})
			if err := runToEOS(p, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := len(pts); got < tc.wantOut-tc.tolerate || got > tc.wantOut+tc.tolerate {
				t.Errorf("%d frames encoded, want %d", got, tc.wantOut)
			}
			// Every frame on the rendition's grid (its rate from the
			// first), one per slot: a Matroska or MP4 file then has no two
			// frames in one frame's time.
			slot := time.Second / time.Duration(tc.outFPS)
			for i, ts := range pts {
				k := (ts - pts[0] + slot/2) / slot
				if off := ts - pts[0] - k*slot; off < -time.Millisecond || off > time.Millisecond {
					t.Errorf("frame %d at %v: %v off the %d fps grid", i, ts, off, tc.outFPS)
				}
				if i > 0 && ts-pts[i-1] < slot-time.Millisecond {
					t.Errorf("frame %d at %v, %v after the previous one", i, ts, ts-pts[i-1])
				}
			}
		})
	}
}

// TestMuxerKeepsAudioWhileVideoStalls: while the video encoder is starved
// (an overloaded machine), the muxer, which interleaves by time, holds the
// audio back. Its audio input holds that audio instead of blocking the
// audio encoder, whose leaky queue (as in a composite encoding) would then
// drop the mix: with the queue's default second, a 3 s stall of the video
// lost 0.9 s of sound.
func TestMuxerKeepsAudioWhileVideoStalls(t *testing.T) {
	reg := NewGstRegistry(0)
	path := filepath.Join(t.TempDir(), "stall.mp4")
	p, err := gst.NewPipeline("")
	if err != nil {
		t.Fatal(err)
	}
	venc, mux := buildAV(t, p, reg, true, H264, AAC, MuxSpec{Format: FormatMP4, Location: path})
	// The audio side gets the leaky queue of a composite encoding.
	aenc := mux.Bin.GetStaticPad("audio").GetPeer().GetParentElement()
	asrcPad := aenc.GetStaticPad("sink").GetPeer()
	asrc := asrcPad.GetParentElement()
	q, err := gst.NewElementWithProperties("queue", map[string]any{"max-size-buffers": uint(0), "max-size-bytes": uint(0), "max-size-time": uint64(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	q.SetArg("leaky", "downstream")
	if err := p.Add(q); err != nil {
		t.Fatal(err)
	}
	asrcPad.Unlink(aenc.GetStaticPad("sink"))
	if err := gst.ElementLinkMany(asrc, q, aenc); err != nil {
		t.Fatal(err)
	}
	// The video encoder's input stalls for 3 s after a second.
	var frames atomic.Int64
	venc.Bin.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
		if frames.Add(1) == 30 {
			time.Sleep(3 * time.Second)
		}
		return gst.PadProbeOK
	})
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	p.SendEvent(gst.NewEOSEvent())
	if err := runToEOS(p, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ts []float64
	for _, f := range strings.Fields(strings.ReplaceAll(string(out), ",", " ")) {
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			ts = append(ts, v)
		}
	}
	if len(ts) < 100 {
		t.Fatalf("%d audio packets", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if gap := ts[i] - ts[i-1]; gap > 0.1 {
			t.Errorf("audio gap of %.2f s at %.2f s", gap, ts[i-1])
		}
	}
	t.Logf("%d audio packets over %.2f s", len(ts), ts[len(ts)-1]-ts[0])
}
