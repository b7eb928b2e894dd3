// Command loadgen is a load generator for Streamline's RTP ingest: it
// replays pre-encoded RTP (VP8 video, Opus audio), paced in real time, to
// many tracks at once, as an SFU forwarding them would. It is a separate
// process so the server's CPU can be measured on its own (see cmd/bench).
//
//	loadgen encode -out media.gob [-seconds 10 -video-bitrate 1000000 …]
//	loadgen send -media media.gob -spec spec.json -duration 20s
//	loadgen send -dest 127.0.0.1:40000 -audio 1 -video 1 -duration 10s
//	loadgen packetize -in p1.webm -out p1.gob -seconds 20
//	loadgen info -media media.gob
//
// encode runs gst-launch-1.0 once (videotestsrc ! vp8enc ! rtpvp8pay and
// audiotestsrc ! opusenc ! rtpopuspay, captured through rtpstreampay) and
// keeps the packets with their send offsets. send loops them to every track
// with its own SSRC, rewriting sequence numbers, timestamps (+ the loop
// length per loop) and VP8 picture IDs so each track is one continuous
// stream; one goroutine per worker paces all of its tracks from a timer heap
// and sends with sendmmsg, one UDP socket per destination (or spec group).
// Every -rtcp-interval each track also sends an RTCP SR + SDES CNAME.
//
// packetize turns the VP8 + Opus streams of a WebM file into such a loop
// without re-encoding, so the RTP replayed carries exactly the bitstream of
// the file (the composite benchmark decodes the same files directly for its
// floor). A spec track may name its own media file ("media"), so each
// participant can send different content; -media is the default.
//
// The spec (-spec FILE, or - for stdin) is JSON:
//
//	{"tracks": [{"ssrc": 1001, "payload_type": 111, "kind": "audio", "dest": "127.0.0.1:40000"},
//	            {"ssrc": 1002, "payload_type": 96, "kind": "video", "dest": "127.0.0.1:40000",
//	             "media": "p1.gob"}]}
//
// At the end send prints one JSON object (see Result) on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  loadgen encode -out FILE [flags]    pre-encode the media loop once
  loadgen send [flags]                replay it to N tracks in real time
  loadgen packetize -in F -out FILE   make a media loop from a VP8+Opus WebM file
  loadgen info -media FILE            describe a media file
run "loadgen CMD -h" for the flags of CMD`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "encode":
		err = cmdEncode(ctx, args[1:], stdout, stderr)
	case "send":
		err = cmdSend(ctx, args[1:], stdin, stdout, stderr)
	case "packetize":
		err = cmdPacketize(ctx, args[1:], stdout, stderr)
	case "info":
		err = cmdInfo(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "loadgen: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	return 0
}

func encodeFlags(fs *flag.FlagSet) *EncodeOptions {
	o := defaultEncodeOptions()
	fs.IntVar(&o.Seconds, "seconds", o.Seconds, "loop length in seconds")
	fs.IntVar(&o.Width, "width", o.Width, "video width")
	fs.IntVar(&o.Height, "height", o.Height, "video height")
	fs.IntVar(&o.FPS, "fps", o.FPS, "video frame rate")
	fs.IntVar(&o.VideoBitrate, "video-bitrate", o.VideoBitrate, "VP8 target bitrate in bit/s")
	fs.IntVar(&o.KeyframeDist, "keyframe-dist", o.KeyframeDist, "frames between VP8 keyframes")
	fs.StringVar(&o.VideoSource, "video-src", o.VideoSource, "videotestsrc properties (pattern=ball encodes to ~0.1 Mbit/s)")
	fs.IntVar(&o.AudioBitrate, "audio-bitrate", o.AudioBitrate, "Opus bitrate in bit/s (20 ms frames)")
	return &o
}

func cmdEncode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "media file to write (required)")
	o := encodeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("encode: -out is required")
	}
	t0 := time.Now()
	m, err := Encode(ctx, *o)
	if err != nil {
		return err
	}
	if err := SaveMedia(*out, m); err != nil {
		return err
	}
	return writeInfo(stdout, m, time.Since(t0))
}

func cmdPacketize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("packetize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "WebM/Matroska file with one VP8 and one Opus stream (required)")
	out := fs.String("out", "", "media file to write (required)")
	loop := fs.Duration("seconds", 0, "media length of the file: the loop length (required, e.g. 20s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *loop <= 0 {
		return errors.New("packetize: -in, -out and -seconds are required")
	}
	t0 := time.Now()
	m, err := Packetize(ctx, *in, *loop)
	if err != nil {
		return err
	}
	if err := SaveMedia(*out, m); err != nil {
		return err
	}
	return writeInfo(stdout, m, time.Since(t0))
}

type streamInfo struct {
	Codec       string  `json:"codec"`
	Packets     int     `json:"packets"`
	Frames      int     `json:"frames"`
	LoopS       float64 `json:"loop_s"`
	BitrateKbps float64 `json:"bitrate_kbps"`
	PacketRate  float64 `json:"packets_per_s"`
}

func describe(s *Stream) streamInfo {
	return streamInfo{Codec: s.Codec, Packets: len(s.Packets), Frames: s.Frames, LoopS: s.Loop.Seconds(),
		BitrateKbps: s.Bitrate() / 1000, PacketRate: float64(len(s.Packets)) / s.Loop.Seconds()}
}

func writeInfo(w io.Writer, m *Media, took time.Duration) error {
	info := map[string]any{"video": describe(&m.Video), "audio": describe(&m.Audio)}
	if took > 0 {
		info["encode_s"] = took.Seconds()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(info)
}

func cmdInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	media := fs.String("media", "", "media file written by loadgen encode")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := LoadMedia(*media)
	if err != nil {
		return err
	}
	return writeInfo(stdout, m, 0)
}

// Spec is the JSON read by -spec.
type Spec struct {
	Tracks []TrackSpec `json:"tracks"`
}

func readSpec(path string, stdin io.Reader) (*Spec, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if len(s.Tracks) == 0 {
		return nil, errors.New("spec: no tracks")
	}
	return &s, nil
}

func cmdSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	media := fs.String("media", "", "media file from loadgen encode (empty = encode now with the encode defaults)")
	specPath := fs.String("spec", "", "JSON track spec file, or - for stdin")
	dest := fs.String("dest", "", "without -spec: host:port every track is sent to")
	nAudio := fs.Int("audio", 1, "without -spec: number of Opus tracks (payload type 111)")
	nVideo := fs.Int("video", 1, "without -spec: number of VP8 tracks (payload type 96)")
	ssrcBase := fs.Uint("ssrc-base", 1000, "without -spec: SSRC of the first track (the others follow)")
	var o SendOptions
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&o.Stagger, "stagger", 2*time.Second, "spread track starts over this span")
	fs.IntVar(&o.Workers, "workers", 2, "sending goroutines (sockets are dealt to them)")
	fs.DurationVar(&o.RTCPInterval, "rtcp-interval", time.Second, "RTCP sender report interval per track (0 = none)")
	fs.IntVar(&o.Batch, "batch", 64, "datagrams per sendmmsg call")
	seed := fs.Uint64("seed", 0, "seed for SSRC-independent randomness: offsets, start phases (0 = random)")
	perTrack := fs.Bool("per-track", false, "include per-track results in the JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration <= 0 {
		return errors.New("send: -duration must be positive")
	}
	var specs []TrackSpec
	if *specPath != "" {
		s, err := readSpec(*specPath, stdin)
		if err != nil {
			return err
		}
		specs = s.Tracks
	} else {
		if *dest == "" {
			return errors.New("send: give -spec or -dest")
		}
		ssrc := uint32(*ssrcBase)
		for i := 0; i < *nAudio; i++ {
			specs = append(specs, TrackSpec{SSRC: ssrc, PayloadType: 111, Kind: "audio", Dest: *dest})
			ssrc++
		}
		for i := 0; i < *nVideo; i++ {
			specs = append(specs, TrackSpec{SSRC: ssrc, PayloadType: 96, Kind: "video", Dest: *dest})
			ssrc++
		}
	}
	var m *Media
	var err error
	if err := loadTrackMedia(specs, *media); err != nil {
		return err
	}
	if *media != "" {
		m, err = LoadMedia(*media)
	} else if missingMedia(specs) {
		fmt.Fprintln(stderr, "loadgen: no -media: encoding the loop now")
		m, err = Encode(ctx, defaultEncodeOptions())
	}
	if err != nil {
		return err
	}
	o.Seed = *seed
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	fmt.Fprintf(stderr, "loadgen: sending %d tracks for %s\n", len(specs), o.Duration)
	res, err := Send(ctx, m, specs, o)
	if err != nil {
		return err
	}
	if !*perTrack {
		res.PerTrack = nil
	}
	fmt.Fprintf(stderr, "loadgen: sent %d RTP packets (%.1f Mbit/s) + %d RTCP in %.1fs; lag p99 %.1f ms, max %.1f ms; cpu %.2fs\n",
		res.Packets, res.BitrateMbps, res.RTCPSent, res.DurationS, res.LagMS.P99, res.LagMS.Max, res.CPUS)
	return json.NewEncoder(stdout).Encode(res)
}

// loadTrackMedia loads the media files the spec's tracks name (each once).
// A track naming the default file shares the default's copy.
func loadTrackMedia(specs []TrackSpec, def string) error {
	loaded := map[string]*Media{}
	for i := range specs {
		p := specs[i].MediaFile
		if p == "" || p == def {
			continue
		}
		if loaded[p] == nil {
			m, err := LoadMedia(p)
			if err != nil {
				return fmt.Errorf("track %d: %w", i, err)
			}
			loaded[p] = m
		}
		specs[i].media = loaded[p]
	}
	return nil
}

// missingMedia reports whether a track needs the default media.
func missingMedia(specs []TrackSpec) bool {
	for _, s := range specs {
		if s.media == nil {
			return true
		}
	}
	return false
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
