package encode

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Container formats understood by Muxer.
const (
	FormatMP4  = "mp4"  // fragmented MP4 (mp4mux fragment-duration): readable after a crash
	FormatWebM = "webm" // webmmux
	FormatMKV  = "mkv"  // matroskamux
)

// DefaultFragmentDuration is the MP4 fragment length: at most this much is
// lost when the process is killed.
const DefaultFragmentDuration = time.Second

// container describes one output format: its muxer and the codecs it can
// carry (checked against the muxers' sink pad templates on 1.22).
type container struct {
	factory string
	ext     string
	video   []string
	audio   []string
}

var containers = map[string]container{
	FormatMP4:  {factory: "mp4mux", ext: ".mp4", video: []string{H264, H265, VP9}, audio: []string{AAC, Opus}},
	FormatWebM: {factory: "webmmux", ext: ".webm", video: []string{VP8, VP9}, audio: []string{Opus}},
	FormatMKV:  {factory: "matroskamux", ext: ".mkv", video: []string{H264, H265, VP8, VP9}, audio: []string{AAC, Opus}},
}

// Formats returns the known container formats, sorted.
func Formats() []string {
	out := make([]string, 0, len(containers))
	for f := range containers {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Extension returns the file name extension for a format (".mp4", ...), or
// "" for an unknown format.
func Extension(format string) string { return containers[format].ext }

// CheckCompat reports whether a container format can carry the given video
// and audio codecs ("" means no such stream; at least one is required).
// Errors are *FieldError naming the offending MuxSpec field; incompatible
// pairs wrap ErrIncompatible.
func CheckCompat(format, video, audio string) error {
	c, ok := containers[format]
	if !ok {
		return &FieldError{Field: "MuxSpec.Format", Value: quoted(format), Reason: "unknown format (want " + strings.Join(Formats(), ", ") + ")"}
	}
	if video == "" && audio == "" {
		return &FieldError{Field: "MuxSpec.Video", Value: quoted(video), Reason: "a muxer needs a video or an audio stream"}
	}
	if video != "" && !slices.Contains(c.video, video) {
		reason := "unknown video codec"
		if slices.Contains(VideoCodecs, video) {
			reason = format + " cannot carry it"
		}
		return &FieldError{Field: "MuxSpec.Video", Value: quoted(video), Reason: reason + " (" + format + " takes " + strings.Join(c.video, ", ") + ")", Err: ErrIncompatible}
	}
	if audio != "" && !slices.Contains(c.audio, audio) {
		reason := "unknown audio codec"
		if slices.Contains(AudioCodecs, audio) {
			reason = format + " cannot carry it"
		}
		return &FieldError{Field: "MuxSpec.Audio", Value: quoted(audio), Reason: reason + " (" + format + " takes " + strings.Join(c.audio, ", ") + ")", Err: ErrIncompatible}
	}
	return nil
}

// MuxSpec describes one muxed output.
type MuxSpec struct {
	Format string // mp4, webm or mkv
	Video  string // codec of the video stream ("" for none)
	Audio  string // codec of the audio stream ("" for none)
	// FragmentDuration is the MP4 fragment length (0: 1 s). Ignored by
	// WebM/MKV, whose clusters are written as they fill.
	FragmentDuration time.Duration
	// Location, when set, makes the bin a complete tee branch ending in a
	// filesink writing this file (its directory is created); the bin then has
	// no src pad. Otherwise the bin exposes the muxed stream on "src".
	Location string
	// Name prefixes bin and element names; empty picks a unique "muxN".
	Name string
}

// Mux is a muxer bin, not yet added to any pipeline.
type Mux struct {
	// Bin has ghost sink pads "video" and/or "audio" (per MuxSpec), which
	// take the encoded streams as Encoder produces them (each input has its
	// own queue and parser, so it can hang off a tee), and a "src" pad
	// unless MuxSpec.Location was set.
	Bin         *gst.Bin
	Element     string // muxer factory, e.g. "mp4mux"
	ElementName string // muxer element name inside Bin (bus message source)
	SinkName    string // filesink element name, when MuxSpec.Location was set
}

// Muxer builds a muxer bin for spec after checking codec/container
// compatibility. MP4 is fragmented (mp4mux fragment-duration, moov first,
// then moof+mdat per fragment), so a file cut off by SIGKILL or a power loss
// stays playable up to its last complete fragment; a clean EOS also writes
// the duration and a random-access index. WebM/MKV append clusters as they
// go and add cues and duration at EOS. The video input drops buffers until
// its first keyframe, so the bin can be linked to a running tee at any
// moment (call Encoder.RequestKeyframe after linking).
func Muxer(spec MuxSpec) (*Mux, error) {
	if err := CheckCompat(spec.Format, spec.Video, spec.Audio); err != nil {
		return nil, err
	}
	if spec.FragmentDuration < 0 {
		return nil, &FieldError{Field: "MuxSpec.FragmentDuration", Value: spec.FragmentDuration, Reason: "must not be negative"}
	}
	gstx.Init()
	c := containers[spec.Format]
	name := binName(spec.Name, "mux")
	bin := gst.NewBin(name)
	m := &Mux{Bin: bin, Element: c.factory, ElementName: name + "-mux"}

	mux, err := gst.NewElementWithName(c.factory, m.ElementName)
	if err != nil {
		return nil, fmt.Errorf("encode: %s: create %s: %w", name, c.factory, err)
	}
	if err := setProps(mux, c.factory, muxProps(spec)); err != nil {
		return nil, fmt.Errorf("encode: %s: %w", name, err)
	}
	if err := bin.Add(mux); err != nil {
		return nil, fmt.Errorf("encode: %s: add %s: %w", name, c.factory, err)
	}

	for _, in := range []struct{ kind, codec, template string }{
		{"video", spec.Video, "video_%u"},
		{"audio", spec.Audio, "audio_%u"},
	} {
		if in.codec == "" {
			continue
		}
		if err := addInput(bin, mux, name, in.kind, in.codec, in.template); err != nil {
			return nil, err
		}
	}

	if spec.Location == "" {
		return m, ghost(bin, "src", mux.GetStaticPad("src"))
	}
	if err := os.MkdirAll(filepath.Dir(spec.Location), 0o755); err != nil {
		return nil, fmt.Errorf("encode: %s: output directory: %w", name, err)
	}
	m.SinkName = name + "-file"
	sink, err := gst.NewElementWithName("filesink", m.SinkName)
	if err != nil {
		return nil, fmt.Errorf("encode: %s: create filesink: %w", name, err)
	}
	// sync=false: write as fast as data comes (the pipeline is live
	// upstream); async=false: a branch added to a PLAYING pipeline must not
	// wait for preroll; buffer-mode=unbuffered: every muxer write reaches
	// the kernel at once, so a killed process loses nothing the muxer has
	// finished (filesink's default 64 KiB buffer held back about a second
	// of a 500 kbit/s recording); enable-last-sample=false: do not keep the
	// last buffer alive.
	sinkProps := []prop{
		{name: "location", value: spec.Location},
		{name: "sync", value: false},
		{name: "async", value: false},
		{name: "buffer-mode", value: nick("unbuffered")},
		{name: "enable-last-sample", value: false},
	}
	if err := setProps(sink, "filesink", sinkProps); err != nil {
		return nil, fmt.Errorf("encode: %s: %w", name, err)
	}
	if err := bin.Add(sink); err != nil {
		return nil, fmt.Errorf("encode: %s: add filesink: %w", name, err)
	}
	if err := mux.Link(sink); err != nil {
		return nil, fmt.Errorf("encode: %s: link %s to filesink: %w", name, c.factory, err)
	}
	return m, nil
}

// muxProps is the property table of each muxer.
func muxProps(spec MuxSpec) []prop {
	switch spec.Format {
	case FormatMP4:
		frag := spec.FragmentDuration
		if frag == 0 {
			frag = DefaultFragmentDuration
		}
		// fragment-duration guint ms. streamable stays false: with a
		// seekable filesink the clean finish rewrites the header with the
		// duration; the fragments are crash-safe either way.
		return []prop{{name: "fragment-duration", value: uint(max(frag.Milliseconds(), 1))}}
	default:
		// streamable=false: seekable file, cues and duration at EOS.
		// offset-to-zero: a branch attached mid-stream starts at 0.
		return []prop{{name: "streamable", value: false}, {name: "offset-to-zero", value: true, optional: true}}
	}
}

// muxAudioQueue is how much encoded audio a muxer's audio input holds
// while the muxer waits for video.
const muxAudioQueue = 30 * time.Second

// addInput adds "queue ! [parser]" for one stream, links it to a new muxer
// request pad and ghosts the queue's sink pad as kind ("video"/"audio").
func addInput(bin *gst.Bin, mux *gst.Element, name, kind, codec, template string) error {
	chain := make([]*gst.Element, 0, 2)
	q, err := gst.NewElementWithName("queue", name+"-"+kind+"q")
	if err != nil {
		return fmt.Errorf("encode: %s: create queue: %w", name, err)
	}
	if kind == "audio" {
		// The muxer interleaves by time, so while the video encoder is
		// starved (an overloaded machine) it holds the audio back. One
		// second of it (the queue's default) was not enough: the audio
		// encoder blocked, the leaky queue in front of it dropped the
		// mix, and every composite of the room lost ~10 s of sound where
		// its video had only frozen. Encoded audio is small (10 s of AAC
		// at 128 kbit/s: 160 KB).
		for k, v := range map[string]any{"max-size-buffers": uint(0), "max-size-bytes": uint(0), "max-size-time": uint64(muxAudioQueue)} {
			if err := q.SetProperty(k, v); err != nil {
				return fmt.Errorf("encode: %s: audio queue %s: %w", name, k, err)
			}
		}
	}
	chain = append(chain, q)
	// The muxer parser converts the encoder's byte-stream H.264/H.265 to
	// the length-prefixed form MP4/Matroska store, and frames AAC.
	switch codec {
	case H264, H265, AAC:
		factory := parsers[codec].factory
		p, err := gst.NewElementWithName(factory, name+"-"+kind+"parse")
		if err != nil {
			return fmt.Errorf("encode: %s: create %s: %w", name, factory, err)
		}
		chain = append(chain, p)
	}
	for _, e := range chain {
		if err := bin.Add(e); err != nil {
			return fmt.Errorf("encode: %s: add %s: %w", name, e.GetName(), err)
		}
	}
	if err := gst.ElementLinkMany(chain...); err != nil {
		return fmt.Errorf("encode: %s: link %s input: %w", name, kind, err)
	}
	muxPad := mux.GetRequestPad(template)
	if muxPad == nil {
		return fmt.Errorf("encode: %s: %s has no %s pad", name, mux.GetFactory().GetName(), template)
	}
	if ret := chain[len(chain)-1].GetStaticPad("src").Link(muxPad); ret != gst.PadLinkOK {
		return fmt.Errorf("encode: %s: link %s input to muxer: %s", name, kind, ret.String())
	}
	if err := ghost(bin, kind, q.GetStaticPad("sink")); err != nil {
		return err
	}
	if kind == "video" {
		gstx.GateUntilKeyframe(bin.GetStaticPad(kind))
	}
	return nil
}
