package encode

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Codec names understood by this package.
const (
	H264 = "h264"
	H265 = "h265"
	VP8  = "vp8"
	VP9  = "vp9"
	AAC  = "aac"
	Opus = "opus"
)

// VideoCodecs and AudioCodecs list the codec names Select and the encoder
// builders accept, in a stable order (used in error messages).
var (
	VideoCodecs = []string{H264, H265, VP8, VP9}
	AudioCodecs = []string{AAC, Opus}
)

// Limits enforced by VideoSettings.Validate and AudioSettings.Validate.
const (
	MinDimension    = 16
	MaxDimension    = 7680
	MinFPS          = 1
	MaxFPS          = 120
	MinVideoKbps    = 100
	MaxVideoKbps    = 50000
	MinAudioKbps    = 16
	MaxAudioKbps    = 320
	AudioSampleRate = 48000 // every audio encoding is fed 48 kHz
	AudioChannels   = 2     // … stereo
)

// ErrNoEncoder is wrapped by errors that mean no usable encoder element was
// found (nothing installed works, or a forced element is unavailable).
var ErrNoEncoder = errors.New("no usable encoder")

// ErrIncompatible is wrapped when a container cannot carry a codec.
var ErrIncompatible = errors.New("codec not supported by container")

// FieldError reports an invalid configuration value; Field names the setting
// (for example "VideoSettings.Width" or "Options.Force").
type FieldError struct {
	Field  string
	Value  any
	Reason string
	Err    error // optional sentinel (ErrNoEncoder, ErrIncompatible), for errors.Is
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("encode: %s=%v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns the sentinel the error belongs to, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// VideoSettings describe one video encoding.
type VideoSettings struct {
	Codec       string // h264, h265, vp8 or vp9
	Width       int    // pixels, even, 16..7680
	Height      int    // pixels, even, 16..7680
	FPS         int    // frames per second, 1..120; keyframes every 2 s
	BitrateKbps int    // target bitrate in kbit/s, 100..50000
	// Name prefixes the bin and element names ("<Name>-enc" is the encoder,
	// which is what bus messages name). Empty picks a unique "vencN".
	Name string
}

// Validate checks every field and returns a *FieldError for the first bad one.
func (s VideoSettings) Validate() error {
	if !slices.Contains(VideoCodecs, s.Codec) {
		return &FieldError{Field: "VideoSettings.Codec", Value: quoted(s.Codec), Reason: "unknown video codec (want " + strings.Join(VideoCodecs, ", ") + ")"}
	}
	for _, d := range []struct {
		field string
		v     int
	}{{"VideoSettings.Width", s.Width}, {"VideoSettings.Height", s.Height}} {
		if d.v < MinDimension || d.v > MaxDimension {
			return &FieldError{Field: d.field, Value: d.v, Reason: fmt.Sprintf("out of range %d..%d", MinDimension, MaxDimension)}
		}
		if d.v%2 != 0 {
			return &FieldError{Field: d.field, Value: d.v, Reason: "must be even (4:2:0 chroma subsampling)"}
		}
	}
	if s.FPS < MinFPS || s.FPS > MaxFPS {
		return &FieldError{Field: "VideoSettings.FPS", Value: s.FPS, Reason: fmt.Sprintf("out of range %d..%d", MinFPS, MaxFPS)}
	}
	if s.BitrateKbps < MinVideoKbps || s.BitrateKbps > MaxVideoKbps {
		return &FieldError{Field: "VideoSettings.BitrateKbps", Value: s.BitrateKbps, Reason: fmt.Sprintf("out of range %d..%d kbit/s", MinVideoKbps, MaxVideoKbps)}
	}
	return nil
}

// KeyframeInterval is the maximum distance between keyframes in frames: two
// seconds, so a fragment or a branch added to the tee starts within 2 s.
func (s VideoSettings) KeyframeInterval() int { return 2 * s.FPS }

// AudioSettings describe one audio encoding (always 48 kHz stereo).
type AudioSettings struct {
	Codec       string // aac or opus
	BitrateKbps int    // 16..320
	// Name prefixes the bin and element names; empty picks a unique "aencN".
	Name string
}

// Validate checks every field and returns a *FieldError for the first bad one.
func (s AudioSettings) Validate() error {
	if !slices.Contains(AudioCodecs, s.Codec) {
		return &FieldError{Field: "AudioSettings.Codec", Value: quoted(s.Codec), Reason: "unknown audio codec (want " + strings.Join(AudioCodecs, ", ") + ")"}
	}
	if s.BitrateKbps < MinAudioKbps || s.BitrateKbps > MaxAudioKbps {
		return &FieldError{Field: "AudioSettings.BitrateKbps", Value: s.BitrateKbps, Reason: fmt.Sprintf("out of range %d..%d kbit/s", MinAudioKbps, MaxAudioKbps)}
	}
	return nil
}

func quoted(s string) string { return fmt.Sprintf("%q", s) }
