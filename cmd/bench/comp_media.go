package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
)

// The composite benchmark's inputs: one WebM file per participant (VP8
// 640x360@30 + Opus, each a different moving test pattern and tone, every
// frame stamped with its number), rendered once per bench. The same files
// are packetized for loadgen (so the server receives exactly their
// bitstreams as RTP), decoded by the floor pipelines, and read by ffmpeg.

const (
	inputW   = 640
	inputH   = 360
	inputFPS = 30
)

// inputPatterns are videotestsrc settings that change every frame all over
// the picture (a still pattern would hide a frozen tile and encode to
// nothing).
var inputPatterns = []string{
	"pattern=zone-plate kx2=20 ky2=20 kt=1",
	"pattern=smpte horizontal-speed=3",
	"pattern=circular horizontal-speed=3",
	"pattern=pinwheel horizontal-speed=2",
	"pattern=spokes horizontal-speed=3",
	"pattern=chroma-zone-plate kx2=12 ky2=12 kt=2",
	"pattern=colors horizontal-speed=3",
	"pattern=zone-plate kx2=8 ky2=30 kt=3",
	"pattern=gamut horizontal-speed=3",
}

func inputPattern(i int) string {
	if i < len(inputPatterns) {
		return inputPatterns[i]
	}
	return fmt.Sprintf("pattern=zone-plate kx2=%d ky2=%d kt=%d", 6+2*i, 30-i%20, 1+i%4)
}

// input is one participant's media.
type input struct {
	WebM  string // VP8 + Opus
	Media string // the same, packetized by loadgen (gob)
	Bytes int64
}

// timedRun runs a command to completion as a child of the bench and returns
// its CPU time (user + system of all its threads, from wait4's rusage).
func (b *bench) timedRun(ctx context.Context, cmd *exec.Cmd) (time.Duration, error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if err := b.kids.start(cmd); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	b.kids.forget(cmd)
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err != nil {
		return cpu, fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, oneLine(lastLines(stderr.String(), 5)))
	}
	return cpu, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// renderInput writes participant i's WebM: videotestsrc frames are piped
// through the bench, which stamps each with its number, into vp8enc
// (realtime CBR, a keyframe every 2 s) muxed with an Opus tone.
func (b *bench) renderInput(ctx context.Context, launch, path string, i, seconds, kbps int) error {
	frames := seconds * inputFPS
	srcDesc := fmt.Sprintf("videotestsrc %s num-buffers=%d ! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! fdsink fd=1",
		inputPattern(i), frames, inputW, inputH, inputFPS)
	encDesc := fmt.Sprintf("fdsrc fd=0 blocksize=%d ! rawvideoparse width=%d height=%d format=i420 framerate=%d/1 ! "+
		"vp8enc deadline=1 target-bitrate=%d keyframe-max-dist=%d end-usage=cbr ! webmmux name=m ! filesink location=%s "+
		"audiotestsrc wave=sine freq=%g volume=%g num-buffers=%d samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! "+
		"opusenc bitrate=32000 frame-size=20 ! m.",
		inputW*inputH*3/2, inputW, inputH, inputFPS, kbps*1000, 2*inputFPS, path, inputTone(i), inputToneAmp, seconds*50)
	src := exec.CommandContext(ctx, launch, append([]string{"-q"}, strings.Fields(srcDesc)...)...)
	enc := exec.CommandContext(ctx, launch, append([]string{"-q"}, strings.Fields(encDesc)...)...)
	var srcErr, encErr bytes.Buffer
	src.Stderr, enc.Stderr = &srcErr, &encErr
	out, err := src.StdoutPipe()
	if err != nil {
		return err
	}
	in, err := enc.StdinPipe()
	if err != nil {
		return err
	}
	if err := enc.Start(); err != nil {
		return err
	}
	if err := src.Start(); err != nil {
		in.Close()
		_ = enc.Wait()
		return err
	}
	frame := make([]byte, inputW*inputH*3/2)
	r := bufio.NewReaderSize(out, len(frame))
	n := 0
	var copyErr error
	for ; ; n++ {
		if _, err := io.ReadFull(r, frame); err != nil {
			if !errors.Is(err, io.EOF) {
				copyErr = err
			}
			break
		}
		stampI420(frame, inputW, inputH, n)
		if _, err := in.Write(frame); err != nil {
			copyErr = err
			break
		}
	}
	in.Close()
	errSrc, errEnc := src.Wait(), enc.Wait()
	switch {
	case errSrc != nil:
		return fmt.Errorf("render input %d: videotestsrc: %v: %s", i, errSrc, oneLine(srcErr.String()))
	case errEnc != nil:
		return fmt.Errorf("render input %d: encoder: %v: %s", i, errEnc, oneLine(encErr.String()))
	case copyErr != nil:
		return fmt.Errorf("render input %d: %w", i, copyErr)
	case n != frames:
		return fmt.Errorf("render input %d: %d frames, want %d", i, n, frames)
	}
	return nil
}

// prepareInputs renders and packetizes n inputs, two at a time.
func (b *bench) prepareInputs(ctx context.Context, launch string, n, seconds, kbps int) ([]input, error) {
	inputs := make([]input, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 2)
	done := make(chan struct{})
	for i := range inputs {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			in := &inputs[i]
			in.WebM = filepath.Join(b.tmp, fmt.Sprintf("p%d.webm", i))
			in.Media = filepath.Join(b.tmp, fmt.Sprintf("p%d.gob", i))
			if errs[i] = b.renderInput(ctx, launch, in.WebM, i, seconds, kbps); errs[i] != nil {
				return
			}
			out, err := exec.CommandContext(ctx, b.loadgenBin, "packetize", "-in", in.WebM, "-out", in.Media,
				"-seconds", fmt.Sprintf("%ds", seconds)).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("packetize input %d: %v: %s", i, err, oneLine(string(out)))
				return
			}
			if st, err := os.Stat(in.WebM); err == nil {
				in.Bytes = st.Size()
			}
		}()
	}
	for range inputs {
		<-done
	}
	return inputs, errors.Join(errs...)
}

// gstLaunchOn is gstLaunch of cb's gst-launch-1.0, kept on CPU 0 when
// oneCPU (taskset execs it: the same process is measured).
func (cb *compBench) gstLaunchOn(ctx context.Context, desc string, oneCPU bool) (time.Duration, error) {
	if !oneCPU {
		return cb.gstLaunch(ctx, cb.launch, desc)
	}
	return cb.timedRun(ctx, exec.Command("taskset", append([]string{"-c", "0", cb.launch, "-q"}, strings.Fields(desc)...)...))
}

// gstLaunch runs a pipeline description with gst-launch-1.0 and returns its
// CPU time.
func (b *bench) gstLaunch(ctx context.Context, launch, desc string) (time.Duration, error) {
	return b.timedRun(ctx, exec.Command(launch, append([]string{"-q"}, strings.Fields(desc)...)...))
}

// floorPipelines are the three gst-launch-1.0 pipelines whose CPU time sums
// to the floor of a composite of the given inputs: decoding the videos,
// the audio path (decode, mix, AAC), and encoding the grid (read from a raw
// file; readGrid alone is what reading it costs, subtracted).
//
// Paced is the same three parts as one pipeline at a live room's pace: each
// decoder's frames released at their media time (fakesink sync=true, so the
// decoder decodes one frame per frame interval), the mix and the grid
// released at theirs before the encoders (identity sync=true, as the paced
// gst-launch composite does). PacedRead is reading the grid at that pace,
// subtracted like ReadGrid. A live server cannot run ahead of its inputs, so
// this is the floor of the same work under the same constraint.
type floorPipelines struct {
	Decode, Audio, Encode, ReadGrid string
	Paced, PacedRead                string
}

// paceSync releases each buffer at its media time.
const paceSync = "identity sync=true ! "

// x264Launch is x264enc with the server's settings (encode/table.go) as a
// gst-launch element, its thread count included (encode.Threads: one at
// 1280x720@30).
func x264Launch(w, h, kbps, fps int) string {
	return fmt.Sprintf("x264enc speed-preset=veryfast tune=zerolatency bitrate=%d key-int-max=%d bframes=0 threads=%d",
		kbps, 2*fps, encode.Threads(encode.H264, w, h, fps))
}

// mixToAAC is the mixed audio's caps (as the server's mixer outputs it) to
// the parsed AAC of aacEnc; pace goes in front of the conversion.
func mixToAAC(pace, aacEnc string, aacKbps int) string {
	return fmt.Sprintf("audio/x-raw,format=S16LE,rate=48000,channels=2 ! %saudioconvert ! %s bitrate=%d ! aacparse", pace, aacEnc, aacKbps*1000)
}

// opusToMix decodes a demuxed Opus stream into a mixer's format, with the
// server's decoder.
var opusToMix = opusDecoder() + " ! audioconvert ! audioresample"

func opusDecoder() string {
	c, err := ingest.LookupCodec("opus")
	if err != nil {
		panic(err) // the codec table is the server's own
	}
	return c.Decoder
}

func floorDescs(webms []string, grid, outDir string, w, h, fps, kbps int, aacEnc string, aacKbps int) floorPipelines {
	decode := func(sync bool) string {
		var sb strings.Builder
		for _, f := range webms {
			fmt.Fprintf(&sb, "filesrc location=%s ! matroskademux ! video/x-vp8 ! vp8dec ! fakesink sync=%t ", f, sync)
		}
		return strings.TrimSpace(sb.String())
	}
	audio := func(pace, out string) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "audiomixer name=mix ! %s ! mp4mux ! filesink location=%s ", mixToAAC(pace, aacEnc, aacKbps), filepath.Join(outDir, out))
		for _, f := range webms {
			fmt.Fprintf(&sb, "filesrc location=%s ! matroskademux ! audio/x-opus ! %s ! mix. ", f, opusToMix)
		}
		return strings.TrimSpace(sb.String())
	}
	raw := fmt.Sprintf("filesrc location=%s blocksize=%d ! rawvideoparse width=%d height=%d format=i420 framerate=%d/1", grid, w*h*3/2, w, h, fps)
	encode := func(pace, out string) string {
		return fmt.Sprintf("%s ! %s%s ! h264parse ! mp4mux fragment-duration=1000 ! filesink location=%s", raw, pace, x264Launch(w, h, kbps, fps),
			filepath.Join(outDir, out))
	}
	return floorPipelines{
		Decode:    decode(false),
		Audio:     audio("", "floor-audio.mp4"),
		Encode:    encode("", "floor-video.mp4"),
		ReadGrid:  raw + " ! fakesink sync=false",
		Paced:     decode(true) + " " + audio(paceSync, "paced-audio.mp4") + " " + encode(paceSync, "paced-video.mp4"),
		PacedRead: raw + " ! fakesink sync=true",
	}
}

// xstackVideo is the ffmpeg filter graph placing input i's video into
// tiles[i]'s content rectangle on a w×h black frame, labelled [v].
func xstackVideo(tiles []tileRef, w, h int) string {
	var sb strings.Builder
	var layout []string
	maxX, maxY := 0, 0
	for i, t := range tiles {
		c := t.Content
		fmt.Fprintf(&sb, "[%d:v]scale=%d:%d,setsar=1[s%d];", i, c.W, c.H, i)
		layout = append(layout, fmt.Sprintf("%d_%d", c.X, c.Y))
		maxX, maxY = max(maxX, c.X+c.W), max(maxY, c.Y+c.H)
	}
	for i := range tiles {
		fmt.Fprintf(&sb, "[s%d]", i)
	}
	if len(tiles) == 1 {
		sb.WriteString("null")
	} else {
		fmt.Fprintf(&sb, "xstack=inputs=%d:layout=%s:fill=black", len(tiles), strings.Join(layout, "|"))
	}
	if maxX != w || maxY != h {
		// xstack's canvas ends at the inputs' right and bottom edges.
		fmt.Fprintf(&sb, ",pad=%d:%d:0:0:black", w, h)
	}
	sb.WriteString("[v]")
	return sb.String()
}

// ffmpegCompositeArgs are the arguments of the ffmpeg command doing the same composite: the
// tiles' layout with xstack, the audio mixed with amix, libx264 with the
// server's settings, AAC, MP4. Paced, each input is read at its native
// rate (-re), so the whole graph runs at a live room's pace.
func ffmpegCompositeArgs(webms []string, tiles []tileRef, w, h, fps, kbps, aacKbps int, out string, paced bool) []string {
	args := []string{"-v", "error", "-nostdin", "-y"}
	for _, f := range webms {
		if paced {
			args = append(args, "-re")
		}
		args = append(args, "-i", f)
	}
	graph := xstackVideo(tiles, w, h) + ";"
	for i := range webms {
		graph += fmt.Sprintf("[%d:a]", i)
	}
	graph += fmt.Sprintf("amix=inputs=%d[a]", len(webms))
	return append(args, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", fmt.Sprintf("%dk", kbps),
		"-g", fmt.Sprint(2*fps), "-bf", "0", "-r", fmt.Sprint(fps), "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", aacKbps), "-ar", "48000", "-ac", "2", out)
}

// renderGrid writes the composite picture of the inputs, uncompressed
// (I420), as the floor's encoder input: the same content the server
// encodes, so the encoder meets the same complexity.
func (b *bench) renderGrid(ctx context.Context, ffmpeg string, webms []string, tiles []tileRef, w, h, fps int, out string) error {
	args := []string{"-v", "error", "-nostdin", "-y"}
	for _, f := range webms {
		args = append(args, "-i", f)
	}
	args = append(args, "-filter_complex", xstackVideo(tiles, w, h), "-map", "[v]", "-r", fmt.Sprint(fps),
		"-f", "rawvideo", "-pix_fmt", "yuv420p", out)
	_, err := b.timedRun(ctx, exec.Command(ffmpeg, args...))
	if err != nil {
		return fmt.Errorf("render grid: %w", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	if frame := int64(w * h * 3 / 2); st.Size() == 0 || st.Size()%frame != 0 {
		return fmt.Errorf("render grid: %d bytes is not a whole number of %dx%d frames", st.Size(), w, h)
	}
	return nil
}

// gstCompositeDesc is the same composite as one gst-launch-1.0 pipeline, the
// way one would write it by hand: each file demuxed, vp8dec into a
// compositor pad placed (and scaled, by the compositor) on the server's
// tile, the server's Opus decoder into audiomixer, x264enc with the server's settings, AAC,
// fragmented MP4. As fast as it can go, like the floor and ffmpeg; with
// paced, both mixers' outputs are released at their media time (identity
// sync=true), and the decoders, held back by full queues, decode one frame
// per output frame: decoding, mixing and encoding at a live room's pace, as
// in the server. (Pacing the inputs before the decoders instead made the
// compositor's output lose its timestamps.)
func gstCompositeDesc(webms []string, tiles []tileRef, w, h, fps, kbps int, aacEnc string, aacKbps int, out string, paced bool) string {
	var sb strings.Builder
	pace := ""
	if paced {
		pace = paceSync
	}
	sb.WriteString("compositor name=comp background=black")
	for i, t := range tiles {
		c := t.Content
		fmt.Fprintf(&sb, " sink_%d::xpos=%d sink_%d::ypos=%d sink_%d::width=%d sink_%d::height=%d", i, c.X, i, c.Y, i, c.W, i, c.H)
	}
	fmt.Fprintf(&sb, " ! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s%s ! h264parse ! queue ! mux.", w, h, fps, pace, x264Launch(w, h, kbps, fps))
	fmt.Fprintf(&sb, " audiomixer name=amix ! %s ! queue ! mux.", mixToAAC(pace, aacEnc, aacKbps))
	fmt.Fprintf(&sb, " mp4mux name=mux fragment-duration=1000 ! filesink location=%s", out)
	for i, f := range webms {
		fmt.Fprintf(&sb, " filesrc location=%s ! matroskademux name=d%d d%d. ! video/x-vp8 ! queue ! vp8dec ! comp.sink_%d", f, i, i, i)
		fmt.Fprintf(&sb, " d%d. ! audio/x-opus ! queue ! %s ! amix.", i, opusToMix)
	}
	return sb.String()
}
