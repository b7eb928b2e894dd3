package encode

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Encoder is an encoding bin, not yet added to any pipeline.
type Encoder struct {
	// Bin has a ghost "sink" pad taking raw media and a ghost "src" pad
	// producing the encoded stream (Caps). Add it with pipeline.Add(Bin.Element).
	Bin *gst.Bin
	// Choice is the selection the bin was built from (Choice.Element is the
	// encoder factory actually used).
	Choice Choice
	// ElementName is the name of the encoder element inside Bin, which is
	// what bus messages from it carry as their source.
	ElementName string
	// Caps is what the src pad produces. H.264/H.265 come out as Annex B
	// byte-stream with SPS/PPS repeated before every keyframe, so a branch
	// added to a tee later can start at any keyframe; muxer bins convert to
	// whatever their container needs.
	Caps string
	// Priming is an audio encoder's delay: the encoded stream carries this
	// much of the encoder's own audio before the first input sample, under
	// that sample's timestamp. Start the audio later by as much and move
	// its timestamps back (gstx.AlignStart) to keep it in sync.
	Priming time.Duration
}

// RequestKeyframe asks the encoder for a keyframe with all headers (an
// upstream GstForceKeyUnit event into the bin's src pad), so that a branch
// just linked to the tee after it starts promptly instead of waiting up to
// one keyframe interval. It reports whether the event was handled.
func (e *Encoder) RequestKeyframe() bool {
	src := e.Bin.GetStaticPad("src")
	st := gst.NewStructureFromString("GstForceKeyUnit, all-headers=(boolean)true")
	if src == nil || st == nil {
		return false
	}
	return src.SendEvent(gst.NewCustomEvent(gst.EventTypeCustomUpstream, st))
}

var binSeq atomic.Uint64

func binName(name, kind string) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%s%d", kind, binSeq.Add(1)-1)
}

// encodedCaps is the output caps of a video/audio encoder bin per codec.
var encodedCaps = map[string]string{
	H264: "video/x-h264,stream-format=byte-stream,alignment=au",
	H265: "video/x-h265,stream-format=byte-stream,alignment=au",
	VP8:  "video/x-vp8",
	VP9:  "video/x-vp9",
	AAC:  "audio/mpeg,mpegversion=4",
	Opus: "audio/x-opus",
}

// parsers is the parser placed after each encoder, with its properties.
var parsers = map[string]struct {
	factory string
	props   []prop
}{
	// config-interval=-1: SPS/PPS (VPS) in front of every IDR frame.
	H264: {"h264parse", []prop{{name: "config-interval", value: -1}}},
	H265: {"h265parse", []prop{{name: "config-interval", value: -1}}},
	VP9:  {"vp9parse", nil},
	AAC:  {"aacparse", nil},
}

// VideoEncoder builds "videoconvert ! videoscale ! videorate ! capsfilter !
// <encoder> ! [parser] ! capsfilter" for the chosen element: input of any
// size, rate and format is converted to the settings' size and frame rate and
// to the encoder's preferred pixel format (I420 for software, NV12 for
// hardware), then encoded with the element's property table.
func VideoEncoder(choice Choice, s VideoSettings) (*Encoder, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c, ok := lookup(choice.Element)
	if !ok || c.video == nil {
		return nil, &FieldError{Field: "Choice.Element", Value: quoted(choice.Element), Reason: "not a known video encoder"}
	}
	if c.codec != s.Codec {
		return nil, &FieldError{Field: "Choice.Element", Value: quoted(choice.Element), Reason: fmt.Sprintf("encodes %s, but VideoSettings.Codec is %s", c.codec, s.Codec)}
	}
	gstx.Init()
	b := newBuilder(binName(s.Name, "venc"))
	raw := fmt.Sprintf("video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1", c.rawFormat, s.Width, s.Height, s.FPS)
	b.add("videoconvert", "convert", nil)
	b.add("videoscale", "scale", nil)
	// skip-to-first: without it videorate repeats the first frame back to
	// the segment start, and an encoding started mid-stream would begin
	// with seconds of a frozen frame (and MP4 fragments, which start every
	// track at zero, would put the video that far behind the audio).
	//
	// Its copies are dropped (gstx.KeepGaps): frames missing from the
	// input (dropped by the leaky queue in front of an encoder the machine
	// cannot keep up with, or never mixed) stay missing. Filled with
	// copies they cost an encode each as the frames they replace did, so
	// dropping saved nothing: an overloaded encoder fell further behind the
	// live mix without bound (24 s after 40 s for a 720p VP9 rendition on
	// two busy cores) and its file came out short. The file shows the last
	// frame until the next; an input slower than the rendition (a mix not
	// yet at the rendition's rate: never for long) gives a file of the
	// input's rate. videorate still brings a faster input down.
	if rate := b.add("videorate", "rate", []prop{{name: "skip-to-first", value: true}}); rate != nil {
		gstx.KeepGaps(rate)
	}
	b.add("capsfilter", "raw", []prop{{name: "caps", value: gst.NewCapsFromString(raw)}})
	enc := b.add(c.factory, "enc", c.video(s))
	return b.encoder(c, choice, enc)
}

// AudioEncoder builds "audioconvert ! audioresample ! capsfilter (48 kHz
// stereo) ! <encoder> ! [aacparse]" for the chosen element (pick it with
// Select("aac"|"opus", ...): fdkaacenc, avenc_aac or voaacenc for AAC,
// opusenc for Opus).
func AudioEncoder(choice Choice, s AudioSettings) (*Encoder, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c, ok := lookup(choice.Element)
	if !ok || c.audio == nil {
		return nil, &FieldError{Field: "Choice.Element", Value: quoted(choice.Element), Reason: "not a known audio encoder"}
	}
	if c.codec != s.Codec {
		return nil, &FieldError{Field: "Choice.Element", Value: quoted(choice.Element), Reason: fmt.Sprintf("encodes %s, but AudioSettings.Codec is %s", c.codec, s.Codec)}
	}
	gstx.Init()
	b := newBuilder(binName(s.Name, "aenc"))
	raw := fmt.Sprintf("audio/x-raw,rate=%d,channels=%d", AudioSampleRate, AudioChannels)
	b.add("audioconvert", "convert", nil)
	b.add("audioresample", "resample", nil)
	b.add("capsfilter", "raw", []prop{{name: "caps", value: gst.NewCapsFromString(raw)}})
	enc := b.add(c.factory, "enc", c.audio(s))
	return b.encoder(c, choice, enc)
}

// encoder ends a chain after its encoder element enc: the codec's parser
// (if any) and the encoded caps, then the Encoder around the finished bin.
func (b *builder) encoder(c candidate, choice Choice, enc *gst.Element) (*Encoder, error) {
	if p, ok := parsers[c.codec]; ok {
		b.add(p.factory, "parse", p.props)
	}
	b.add("capsfilter", "out", []prop{{name: "caps", value: gst.NewCapsFromString(encodedCaps[c.codec])}})
	if err := b.finish(); err != nil {
		return nil, err
	}
	priming := time.Duration(c.primingSamples) * time.Second / AudioSampleRate
	return &Encoder{Bin: b.bin, Choice: choice, ElementName: enc.GetName(), Caps: encodedCaps[c.codec], Priming: priming}, nil
}

// builder assembles a linear chain of elements in a bin, remembering the
// first error.
type builder struct {
	bin   *gst.Bin
	name  string
	chain []*gst.Element
	err   error
}

func newBuilder(name string) *builder {
	return &builder{bin: gst.NewBin(name), name: name}
}

// add creates "<bin>-<suffix>" from factory, sets props and appends it to
// the chain. It returns nil after an error.
func (b *builder) add(factory, suffix string, props []prop) *gst.Element {
	if b.err != nil {
		return nil
	}
	e, err := gst.NewElementWithName(factory, b.name+"-"+suffix)
	if err != nil {
		b.err = fmt.Errorf("encode: %s: create %s: %w", b.name, factory, err)
		return nil
	}
	if err := setProps(e, factory, props); err != nil {
		b.err = fmt.Errorf("encode: %s: %w", b.name, err)
		return nil
	}
	if err := b.bin.Add(e); err != nil {
		b.err = fmt.Errorf("encode: %s: add %s: %w", b.name, factory, err)
		return nil
	}
	b.chain = append(b.chain, e)
	return e
}

// finish links the chain and ghosts its ends as "sink" and "src".
func (b *builder) finish() error {
	if b.err != nil {
		return b.err
	}
	if err := gst.ElementLinkMany(b.chain...); err != nil {
		return fmt.Errorf("encode: %s: link: %w", b.name, err)
	}
	if err := ghost(b.bin, "sink", b.chain[0].GetStaticPad("sink")); err != nil {
		return err
	}
	return ghost(b.bin, "src", b.chain[len(b.chain)-1].GetStaticPad("src"))
}

// ghost exposes target on bin as a ghost pad called name.
func ghost(bin *gst.Bin, name string, target *gst.Pad) error {
	if target == nil {
		return fmt.Errorf("encode: %s: no pad to ghost as %q", bin.GetName(), name)
	}
	g := gst.NewGhostPad(name, target)
	if g == nil || !bin.AddPad(g.Pad) {
		return fmt.Errorf("encode: %s: ghost pad %q", bin.GetName(), name)
	}
	return nil
}

// setProps applies a property table to an element. Required properties the
// element lacks and values of the wrong GType are errors; optional ones the
// element lacks are skipped.
func setProps(e *gst.Element, factory string, props []prop) error {
	for _, p := range props {
		if _, err := e.GetPropertyType(p.name); err != nil {
			if p.optional {
				continue
			}
			return fmt.Errorf("%s has no property %q", factory, p.name)
		}
		switch v := p.value.(type) {
		case nick:
			// gst_util_set_object_arg: silently ignores an unknown nick;
			// tests read the values back for the elements installed here.
			e.SetArg(p.name, string(v))
		default:
			if err := e.SetProperty(p.name, v); err != nil {
				return fmt.Errorf("%s %s=%v: %w", factory, p.name, v, err)
			}
		}
	}
	return nil
}
