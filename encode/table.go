package encode

import (
	"slices"
)

// Encoder families, in the order Select tries them by default. Options.Prefer
// takes one of these names (or "auto").
const (
	FamilyNVENC    = "nvenc"    // NVIDIA NVENC (nvcodec plugin, plugins-bad)
	FamilyVA       = "va"       // VA-API, new "va" plugin (plugins-bad)
	FamilyVAAPI    = "vaapi"    // VA-API, legacy gstreamer-vaapi
	FamilyQSV      = "qsv"      // Intel Quick Sync Video (qsv plugin, plugins-bad)
	FamilySoftware = "software" // x264/x265/libvpx/opus/aac on the CPU
)

// Families lists every family in default selection order.
var Families = []string{FamilyNVENC, FamilyVA, FamilyVAAPI, FamilyQSV, FamilySoftware}

// nick is an enum or flags value, set by its nick with SetArg.
type nick string

// prop is one element property. value must carry the property's exact GType
// in Go terms (GSTREAMER.md pitfall 5): uint for guint, int for gint, int64
// for gint64, bool for gboolean, string for gchararray, nick for enums and
// flags.
type prop struct {
	name  string
	value any
	// optional properties are skipped when the element lacks them (they
	// depend on the plugin version or on device capabilities).
	optional bool
}

// candidate is one encoder element factory and how to drive it.
type candidate struct {
	factory string
	codec   string
	family  string
	// rawFormat is the video/x-raw format fed to the encoder ("" for audio).
	rawFormat string
	video     func(VideoSettings) []prop
	audio     func(AudioSettings) []prop
	// primingSamples is an audio encoder's delay: how many samples of its
	// own it puts before the first input sample, stamped with that sample's
	// time (GStreamer 1.22 neither shifts them nor writes an edit list).
	primingSamples int
}

// Hardware reports whether the candidate runs on a GPU/media engine.
func (c candidate) hardware() bool { return c.family != FamilySoftware }

// candidates is the single source of truth for which elements exist per
// codec, in default selection order (hardware first, software last), and for
// their property tables.
//
// Property names and GTypes: software encoders were checked with
// gst-inspect-1.0 on GStreamer 1.22 (Debian 12) and are asserted by tests;
// hardware ones come from the element sources (nvcodec gstnvbaseenc.c and
// gstnvh264encoder.cpp, va gstvah264enc.c, qsv gstqsvh264enc.cpp,
// gstreamer-vaapi gstvaapiencode*.c) because no GPU is available here.
var candidates = []candidate{
	// H.264
	{factory: "nvh264enc", codec: H264, family: FamilyNVENC, rawFormat: "NV12", video: nvencProps},
	{factory: "nvcudah264enc", codec: H264, family: FamilyNVENC, rawFormat: "NV12", video: nvcudaProps},
	{factory: "vah264enc", codec: H264, family: FamilyVA, rawFormat: "NV12", video: vaProps},
	{factory: "vah264lpenc", codec: H264, family: FamilyVA, rawFormat: "NV12", video: vaProps},
	{factory: "vaapih264enc", codec: H264, family: FamilyVAAPI, rawFormat: "NV12", video: vaapiProps},
	{factory: "qsvh264enc", codec: H264, family: FamilyQSV, rawFormat: "NV12", video: qsvProps},
	{factory: "x264enc", codec: H264, family: FamilySoftware, rawFormat: "I420", video: x264Props},

	// H.265
	{factory: "nvh265enc", codec: H265, family: FamilyNVENC, rawFormat: "NV12", video: nvencProps},
	{factory: "nvcudah265enc", codec: H265, family: FamilyNVENC, rawFormat: "NV12", video: nvcudaProps},
	{factory: "vah265enc", codec: H265, family: FamilyVA, rawFormat: "NV12", video: vaProps},
	{factory: "vaapih265enc", codec: H265, family: FamilyVAAPI, rawFormat: "NV12", video: vaapiProps},
	{factory: "qsvh265enc", codec: H265, family: FamilyQSV, rawFormat: "NV12", video: qsvProps},
	{factory: "x265enc", codec: H265, family: FamilySoftware, rawFormat: "I420", video: x265Props},

	// VP8 (no NVENC or QSV VP8 encoder exists)
	{factory: "vavp8enc", codec: VP8, family: FamilyVA, rawFormat: "NV12", video: vaProps},
	{factory: "vaapivp8enc", codec: VP8, family: FamilyVAAPI, rawFormat: "NV12", video: vaapiProps},
	{factory: "vp8enc", codec: VP8, family: FamilySoftware, rawFormat: "I420", video: vpxProps(false)},

	// VP9 (NVENC has no VP9 encoder)
	{factory: "vavp9enc", codec: VP9, family: FamilyVA, rawFormat: "NV12", video: vaProps},
	{factory: "vaapivp9enc", codec: VP9, family: FamilyVAAPI, rawFormat: "NV12", video: vaapiProps},
	{factory: "qsvvp9enc", codec: VP9, family: FamilyQSV, rawFormat: "NV12", video: qsvProps},
	{factory: "vp9enc", codec: VP9, family: FamilySoftware, rawFormat: "I420", video: vpxProps(true)},

	// AAC: fdk-aac (best quality, often not packaged), FFmpeg's native
	// encoder (gstreamer1.0-libav), then VisualOn. Priming measured on a
	// flash/beep clip through each encoder into MP4 and Matroska, decoded by
	// FFmpeg: avenc_aac 1024 samples (21.3 ms at 48 kHz), voaacenc 1600
	// (33.4 ms); fdkaacenc is not packaged in Debian, so it is not measured
	// and gets no correction (its lip-sync is unverified). Opus needs none:
	// opusenc's pre-skip travels in the stream header and demuxers honour it.
	{factory: "fdkaacenc", codec: AAC, family: FamilySoftware, audio: bitsPerSecond},
	{factory: "avenc_aac", codec: AAC, family: FamilySoftware, audio: bitsPerSecond, primingSamples: 1024},
	{factory: "voaacenc", codec: AAC, family: FamilySoftware, audio: bitsPerSecond, primingSamples: 1600},

	// Opus
	{factory: "opusenc", codec: Opus, family: FamilySoftware, audio: bitsPerSecond},
}

// lookup returns the candidate for a factory name.
func lookup(factory string) (candidate, bool) {
	i := slices.IndexFunc(candidates, func(c candidate) bool { return c.factory == factory })
	if i < 0 {
		return candidate{}, false
	}
	return candidates[i], true
}

// candidatesFor returns the candidates of one codec in default order.
func candidatesFor(codec string) []candidate {
	var out []candidate
	for _, c := range candidates {
		if c.codec == codec {
			out = append(out, c)
		}
	}
	return out
}

// factoriesFor returns the factory names of one codec in default order.
func factoriesFor(codec string) []string {
	var out []string
	for _, c := range candidatesFor(codec) {
		out = append(out, c.factory)
	}
	return out
}

// x264enc (GStreamer 1.22): speed-preset enum, tune flags, bitrate guint
// kbit/s, key-int-max guint, bframes guint, threads guint.
func x264Props(s VideoSettings) []prop {
	return []prop{
		{name: "speed-preset", value: nick("veryfast")},
		{name: "tune", value: nick("zerolatency")}, // no B-frames, no lookahead
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "key-int-max", value: uint(s.KeyframeInterval())},
		{name: "bframes", value: uint(0)},
		{name: "threads", value: uint(Threads(H264, s.Width, s.Height, s.FPS))},
	}
}

// x265enc (1.22): bitrate guint kbit/s, key-int-max gint, speed-preset and
// tune enums.
func x265Props(s VideoSettings) []prop {
	return []prop{
		{name: "speed-preset", value: nick("veryfast")},
		{name: "tune", value: nick("zerolatency")},
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "key-int-max", value: s.KeyframeInterval()},
	}
}

// vpxProps covers vp8enc and vp9enc (1.22): deadline gint64 (1 = realtime),
// cpu-used gint, target-bitrate gint bit/s, keyframe-max-dist gint, threads
// gint, lag-in-frames gint, end-usage enum; vp9enc adds row-mt gboolean.
func vpxProps(vp9 bool) func(VideoSettings) []prop {
	return func(s VideoSettings) []prop {
		cpuUsed, codec := 6, VP8 // VP8 realtime: 4 (slower, better) .. 16 (fastest)
		if vp9 {
			cpuUsed, codec = 7, VP9 // VP9 realtime: 5 .. 9
		}
		ps := []prop{
			{name: "deadline", value: int64(1)},
			{name: "cpu-used", value: cpuUsed},
			{name: "end-usage", value: nick("cbr")},
			{name: "target-bitrate", value: s.BitrateKbps * 1000},
			{name: "keyframe-max-dist", value: s.KeyframeInterval()},
			{name: "lag-in-frames", value: 0},
			{name: "threads", value: Threads(codec, s.Width, s.Height, s.FPS)},
		}
		if vp9 {
			ps = append(ps, prop{name: "row-mt", value: true})
		}
		return ps
	}
}

// nvencProps covers the legacy nvh264enc/nvh265enc (gstnvbaseenc.c):
// bitrate guint kbit/s, gop-size gint, rc-mode and preset enums, zerolatency
// gboolean, bframes guint (only on GPUs with B-frame support).
func nvencProps(s VideoSettings) []prop {
	return []prop{
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "gop-size", value: s.KeyframeInterval()},
		{name: "rc-mode", value: nick("cbr")},
		{name: "preset", value: nick("low-latency-hq"), optional: true},
		{name: "zerolatency", value: true, optional: true},
		{name: "bframes", value: uint(0), optional: true},
	}
}

// nvcudaProps covers nvcudah264enc/nvcudah265enc (gstnvh264encoder.cpp,
// since 1.22): bitrate guint kbit/s, gop-size gint, rc-mode enum,
// zero-reorder-delay gboolean, bframes guint (device dependent).
func nvcudaProps(s VideoSettings) []prop {
	return []prop{
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "gop-size", value: s.KeyframeInterval()},
		{name: "rc-mode", value: nick("cbr")},
		{name: "zero-reorder-delay", value: true, optional: true},
		{name: "bframes", value: uint(0), optional: true},
	}
}

// vaProps covers the va plugin encoders (gstvah264enc.c and siblings):
// bitrate guint kbit/s, key-int-max guint, rate-control enum, b-frames guint
// (H.264/H.265 only).
func vaProps(s VideoSettings) []prop {
	return []prop{
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "key-int-max", value: uint(s.KeyframeInterval())},
		{name: "rate-control", value: nick("cbr")},
		{name: "b-frames", value: uint(0), optional: true},
	}
}

// vaapiProps covers gstreamer-vaapi encoders: bitrate guint kbit/s,
// keyframe-period guint, rate-control enum.
func vaapiProps(s VideoSettings) []prop {
	return []prop{
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "keyframe-period", value: uint(s.KeyframeInterval())},
		{name: "rate-control", value: nick("cbr")},
	}
}

// qsvProps covers the qsv plugin encoders (gstqsvh264enc.cpp and siblings):
// bitrate guint kbit/s, gop-size guint, rate-control enum, b-frames guint
// (not on VP9).
func qsvProps(s VideoSettings) []prop {
	return []prop{
		{name: "bitrate", value: uint(s.BitrateKbps)},
		{name: "gop-size", value: uint(s.KeyframeInterval())},
		{name: "rate-control", value: nick("cbr")},
		{name: "b-frames", value: uint(0), optional: true},
	}
}

// bitsPerSecond covers every audio encoder here: fdkaacenc, avenc_aac,
// voaacenc and opusenc all take bitrate as gint bit/s.
func bitsPerSecond(s AudioSettings) []prop {
	return []prop{{name: "bitrate", value: s.BitrateKbps * 1000}}
}
