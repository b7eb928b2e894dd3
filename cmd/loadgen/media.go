package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Stream is one pre-encoded RTP stream: the packets of one loop with their
// send offsets. Sequence numbers, timestamps, SSRC and payload type are
// rewritten per track when it is replayed.
type Stream struct {
	Kind      string // audio or video
	Codec     string // opus or vp8
	ClockRate uint32
	// Loop is the media length of one loop; LoopTS is the same in RTP ticks:
	// the timestamp advance from one loop to the next.
	Loop   time.Duration
	LoopTS uint32
	// Frames is the number of media frames (RTP timestamps) per loop, and
	// Pictures the VP8 picture IDs used per loop (0 without picture IDs).
	Frames   int
	Pictures int
	Packets  []Packet
}

// Packet is one RTP packet of a loop.
type Packet struct {
	At    time.Duration // send offset from the loop start (from the RTP timestamp)
	TSRel uint32        // RTP timestamp relative to the loop's first packet
	Data  []byte        // the packet as the payloader produced it
	// Payload is the offset of the RTP payload in Data.
	Payload int
	// PicOff is the offset of the VP8 15-bit picture ID in Data (0 = none);
	// PicRel its value relative to the first picture of the loop.
	PicOff int
	PicRel uint16
}

// FrameDuration is the average media duration of one frame.
func (s *Stream) FrameDuration() time.Duration {
	if s.Frames == 0 {
		return 0
	}
	return s.Loop / time.Duration(s.Frames)
}

// Bitrate is the average RTP bitrate (headers included) in bit/s.
func (s *Stream) Bitrate() float64 {
	var n int
	for _, p := range s.Packets {
		n += len(p.Data)
	}
	return float64(n) * 8 / s.Loop.Seconds()
}

// Media is what `loadgen encode` writes: one audio and one video loop.
type Media struct {
	Version int
	Audio   Stream
	Video   Stream
	Encoder string // the pipelines used, for the record
}

const mediaVersion = 1

// EncodeOptions configure the pre-encoding.
type EncodeOptions struct {
	Seconds      int
	Width        int
	Height       int
	FPS          int
	VideoBitrate int
	KeyframeDist int
	VideoSource  string // videotestsrc properties
	AudioBitrate int
}

func defaultEncodeOptions() EncodeOptions {
	return EncodeOptions{
		Seconds: 10, Width: 640, Height: 360, FPS: 30, VideoBitrate: 1_000_000, KeyframeDist: 60,
		// A moving zone plate keeps VP8 near its target bitrate; the
		// bouncing ball (pattern=ball) is so simple it encodes to ~0.1 Mbit/s.
		VideoSource:  "pattern=zone-plate kx2=20 ky2=20 kt=1",
		AudioBitrate: 32_000,
	}
}

func (o EncodeOptions) videoPipeline() string {
	return fmt.Sprintf("videotestsrc %s num-buffers=%d ! video/x-raw,width=%d,height=%d,framerate=%d/1 ! "+
		"vp8enc deadline=1 target-bitrate=%d keyframe-max-dist=%d end-usage=cbr ! "+
		"rtpvp8pay mtu=1200 picture-id-mode=15-bit pt=96 ! rtpstreampay ! fdsink fd=1",
		o.VideoSource, o.Seconds*o.FPS, o.Width, o.Height, o.FPS, o.VideoBitrate, o.KeyframeDist)
}

func (o EncodeOptions) audioPipeline() string {
	return fmt.Sprintf("audiotestsrc wave=sine freq=440 num-buffers=%d samplesperbuffer=960 ! "+
		"audio/x-raw,rate=48000,channels=2 ! opusenc bitrate=%d frame-size=20 ! "+
		"rtpopuspay pt=111 ! rtpstreampay ! fdsink fd=1", o.Seconds*50, o.AudioBitrate)
}

// Encode runs the two gst-launch-1.0 pipelines (in parallel) and captures
// their RTP packets, framed by rtpstreampay (RFC 4571) on stdout.
func Encode(ctx context.Context, o EncodeOptions) (*Media, error) {
	if o.Seconds <= 0 || o.FPS <= 0 {
		return nil, errors.New("encode: seconds and fps must be positive")
	}
	launch, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		return nil, errors.New("encode: gst-launch-1.0 not found (install gstreamer1.0-tools: make deps)")
	}
	vdesc, adesc := o.videoPipeline(), o.audioPipeline()
	res := runCapture(ctx, launch, vdesc, adesc)
	v, a := res[0], res[1]
	if v.err != nil {
		return nil, v.err
	}
	if a.err != nil {
		return nil, a.err
	}
	m := &Media{Version: mediaVersion, Encoder: vdesc + "\n" + adesc}
	loop := time.Duration(o.Seconds) * time.Second
	if m.Video, err = buildStream("video", "vp8", 90000, loop, v.out); err != nil {
		return nil, err
	}
	if m.Audio, err = buildStream("audio", "opus", 48000, loop, a.out); err != nil {
		return nil, err
	}
	return m, nil
}

type captured struct {
	out []byte
	err error
}

// runCapture runs one gst-launch-1.0 per description, in parallel, and
// returns what each wrote on stdout.
func runCapture(ctx context.Context, launch string, descs ...string) []captured {
	chans := make([]chan captured, len(descs))
	for i, desc := range descs {
		chans[i] = make(chan captured, 1)
		go func() {
			cmd := exec.CommandContext(ctx, launch, append([]string{"-q"}, strings.Fields(desc)...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err != nil {
				err = fmt.Errorf("gst-launch-1.0 %s: %w: %s", desc, err, strings.TrimSpace(stderr.String()))
			}
			chans[i] <- captured{stdout.Bytes(), err}
		}()
	}
	out := make([]captured, len(descs))
	for i, ch := range chans {
		out[i] = <-ch
	}
	return out
}

// Packetize turns the VP8 and Opus streams of a WebM/Matroska file (as
// written by `gst-launch-1.0 … ! webmmux`, or ffmpeg) into a loop of RTP
// packets, without re-encoding: the replayed RTP carries exactly the
// bitstream of the file, so the same file can also be decoded directly (the
// composite benchmark compares the server against such pipelines). loop is
// the media length of the file; packets at or past it are left out.
func Packetize(ctx context.Context, path string, loop time.Duration) (*Media, error) {
	if loop <= 0 {
		return nil, errors.New("packetize: the loop length must be positive")
	}
	if strings.ContainsAny(path, " \t\n\"'") {
		return nil, fmt.Errorf("packetize: %q: paths with spaces or quotes are not supported", path)
	}
	launch, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		return nil, errors.New("packetize: gst-launch-1.0 not found (install gstreamer1.0-tools: make deps)")
	}
	vdesc := fmt.Sprintf("filesrc location=%s ! matroskademux ! video/x-vp8 ! "+
		"rtpvp8pay mtu=1200 picture-id-mode=15-bit pt=96 ! rtpstreampay ! fdsink fd=1", path)
	adesc := fmt.Sprintf("filesrc location=%s ! matroskademux ! audio/x-opus ! "+
		"rtpopuspay pt=111 ! rtpstreampay ! fdsink fd=1", path)
	res := runCapture(ctx, launch, vdesc, adesc)
	v, a := res[0], res[1]
	if v.err != nil {
		return nil, v.err
	}
	if a.err != nil {
		return nil, a.err
	}
	m := &Media{Version: mediaVersion, Encoder: "packetized from " + path}
	if m.Video, err = buildStream("video", "vp8", 90000, loop, v.out); err != nil {
		return nil, err
	}
	if m.Audio, err = buildStream("audio", "opus", 48000, loop, a.out); err != nil {
		return nil, err
	}
	return m, nil
}

// splitRFC4571 splits a stream of 16-bit length-prefixed packets.
func splitRFC4571(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("rfc4571: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("rfc4571: packet of %d bytes truncated at %d", n, len(b)-2)
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	return out, nil
}

// rtpPayloadOffset returns where the payload of an RTP packet starts.
func rtpPayloadOffset(p []byte) (int, error) {
	if len(p) < 12 || p[0]>>6 != 2 {
		return 0, errors.New("not an RTP v2 packet")
	}
	off := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if len(p) < off+4 {
			return 0, errors.New("truncated header extension")
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(p[off+2:]))
	}
	if off > len(p) {
		return 0, errors.New("truncated header")
	}
	return off, nil
}

// vp8PictureIDOffset returns the offset of a 15-bit VP8 picture ID in the
// payload descriptor (RFC 7741 §4.2), or 0 when there is none.
func vp8PictureIDOffset(p []byte, payload int) int {
	if payload >= len(p) || p[payload]&0x80 == 0 { // X
		return 0
	}
	if payload+1 >= len(p) || p[payload+1]&0x80 == 0 { // I
		return 0
	}
	off := payload + 2
	if off+1 >= len(p) || p[off]&0x80 == 0 { // M: 15-bit form only
		return 0
	}
	return off
}

func buildStream(kind, codec string, clock uint32, loop time.Duration, framed []byte) (Stream, error) {
	pkts, err := splitRFC4571(framed)
	if err != nil {
		return Stream{}, fmt.Errorf("%s: %w", kind, err)
	}
	if len(pkts) == 0 {
		return Stream{}, fmt.Errorf("%s: the encoder produced no packets", kind)
	}
	// opusenc's first packet is short (the encoder's pre-skip): starting the
	// loop at the second packet keeps every step one frame, across loops too.
	if codec == "opus" && len(pkts) > 2 {
		ts := func(i int) uint32 { return binary.BigEndian.Uint32(pkts[i][4:8]) }
		if ts(1)-ts(0) != ts(2)-ts(1) {
			pkts = pkts[1:]
		}
	}
	s := Stream{Kind: kind, Codec: codec, ClockRate: clock, Loop: loop,
		LoopTS: uint32(loop.Seconds() * float64(clock))}
	ts0 := binary.BigEndian.Uint32(pkts[0][4:8])
	var pic0 uint16
	var maxPic uint16
	lastTS, frames := uint32(0), 0
	for i, p := range pkts {
		payload, err := rtpPayloadOffset(p)
		if err != nil {
			return Stream{}, fmt.Errorf("%s packet %d: %w", kind, i, err)
		}
		rel := binary.BigEndian.Uint32(p[4:8]) - ts0
		if rel >= s.LoopTS {
			break // past the loop (e.g. encoder lookahead): keep loops exact
		}
		if i == 0 || rel != lastTS {
			frames++
			lastTS = rel
		}
		pk := Packet{At: time.Duration(uint64(rel) * uint64(time.Second) / uint64(clock)), TSRel: rel, Data: p, Payload: payload}
		if codec == "vp8" {
			if off := vp8PictureIDOffset(p, payload); off > 0 {
				pid := binary.BigEndian.Uint16(p[off:]) & 0x7fff
				if i == 0 {
					pic0 = pid
				}
				pk.PicOff, pk.PicRel = off, (pid-pic0)&0x7fff
				maxPic = max(maxPic, pk.PicRel)
			}
		}
		s.Packets = append(s.Packets, pk)
	}
	s.Frames = frames
	if codec == "vp8" && s.Packets[0].PicOff > 0 {
		s.Pictures = int(maxPic) + 1
	}
	return s, nil
}

// SaveMedia writes m to path (gob).
func SaveMedia(path string, m *Media) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return fmt.Errorf("encode media: %w", err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// LoadMedia reads a file written by SaveMedia.
func LoadMedia(path string) (*Media, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Media
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a loadgen media file: %w", path, err)
	}
	if m.Version != mediaVersion {
		return nil, fmt.Errorf("%s: media version %d, want %d (re-run loadgen encode)", path, m.Version, mediaVersion)
	}
	if len(m.Audio.Packets) == 0 || len(m.Video.Packets) == 0 {
		return nil, fmt.Errorf("%s: empty stream", path)
	}
	return &m, nil
}
