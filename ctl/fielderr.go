package ctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
)

// encode names a bad setting by its Go field ("VideoSettings.Width");
// the API's callers wrote JSON ("encodings[1].width"). settingsError
// restates encode's errors in the request's terms.

// fieldsOfSettings are encode's fields that belong to the video or audio
// settings object the error is about, by their JSON names.
var fieldsOfSettings = map[string]string{
	"VideoSettings.Codec":       "codec",
	"VideoSettings.Width":       "width",
	"VideoSettings.Height":      "height",
	"VideoSettings.FPS":         "fps",
	"VideoSettings.BitrateKbps": "bitrate_kbps",
	"AudioSettings.Codec":       "codec",
	"AudioSettings.BitrateKbps": "bitrate_kbps",
	"Options.Force":             "encoder",
	"Options.Prefer":            "prefer",
	"codec":                     "codec",
	"MuxSpec.Video":             "codec", // a video codec the format cannot carry
}

// fieldsBeside are encode's fields that sit next to the settings object in
// the request (the container format, the audio settings).
var fieldsBeside = map[string]string{
	"MuxSpec.Format": "format",
	"MuxSpec.Audio":  "audio.codec",
}

// fieldError is a request error naming the JSON field at fault.
type fieldError struct {
	path string
	fe   *encode.FieldError
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s: %s=%v: %s", ingest.ErrInvalid, e.path, e.fe.Value, e.fe.Reason)
}

func (e *fieldError) Unwrap() []error { return []error{ingest.ErrInvalid, e.fe} }

// settingsError restates an error of encode about the settings object at
// path ("video", "encodings[1]", "audio") as a request error (400): a
// field error names the JSON field ("invalid: encodings[1].width=641: must
// be even …"), anything else (no usable encoder) the object.
func settingsError(path string, err error) error {
	var fe *encode.FieldError
	if errors.As(err, &fe) {
		if f, ok := fieldsOfSettings[fe.Field]; ok {
			return &fieldError{path: path + "." + f, fe: fe}
		}
		if f, ok := fieldsBeside[fe.Field]; ok {
			parent := ""
			if i := strings.LastIndexByte(path, '.'); i >= 0 {
				parent = path[:i+1]
			}
			return &fieldError{path: parent + f, fe: fe}
		}
	}
	return fmt.Errorf("%w: %s: %w", ingest.ErrInvalid, path, err)
}

// encodingPath is where the i-th encoding of a composite request was
// written: "video" for the first when the request has one, else its place
// in "encodings".
func encodingPath(hasVideo bool, i int) string {
	switch {
	case hasVideo && i == 0:
		return "video"
	case hasVideo:
		return fmt.Sprintf("encodings[%d]", i-1)
	}
	return fmt.Sprintf("encodings[%d]", i)
}
