package layouts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can classify failures with errors.Is (for example to map
// ErrInvalidSpec to HTTP 422 in PUT /v1/rooms/{room}/layout).
var (
	// ErrInvalidSpec reports a layout Spec that is malformed or violates a
	// constraint. The concrete error is a *FieldError naming the field.
	ErrInvalidSpec = errors.New("invalid layout spec")
	// ErrInvalidFrame reports an output frame size outside [MinFrameSize, MaxFrameSize].
	ErrInvalidFrame = errors.New("invalid frame size")
	// ErrInvalidParticipant reports a participant without an ID, with an
	// unknown source, or listed twice with the same source.
	ErrInvalidParticipant = errors.New("invalid participant")
	// ErrFrameTooSmall reports that the frame (or a custom region of it) is too
	// small to give every visible tile a non-empty, even-aligned rectangle.
	ErrFrameTooSmall = errors.New("frame too small for layout")
)

// Limits enforced by Spec.Validate, ParseSpec and Compute.
const (
	MaxSpecSize     = 1 << 20 // bytes of JSON accepted by ParseSpec
	MaxGap          = 1024    // largest Spec.Gap, in pixels
	MaxRegions      = 64      // largest len(Spec.Regions)
	MaxRegionCells  = 1000    // largest Region.MaxTiles, MaxColumns and MaxRows
	MaxCellsExclude = 1000    // largest len(Region.CellsExcluded)
	MaxCellIndex    = 999_999 // largest entry of Region.CellsExcluded
	MaxZ            = 99      // Region.Z is in [-MaxZ, MaxZ]
	MaxIDLength     = 256     // longest Spec.Focus, Region.ID or participant pattern
	MinFrameSize    = 2       // smallest frame width or height, in pixels
	MaxFrameSize    = 16384   // largest frame width or height, in pixels
)

// DefaultBackground is the background colour used when Spec.Background is empty.
const DefaultBackground = "#000000"

// FocusToken may appear in Region.Participants or Region.Exclude and matches
// the focused track: the one the "single" template would show (Spec.Focus,
// else the first speaking participant, else the first to join).
const FocusToken = "@focus"

// Template names a layout algorithm.
type Template string

// The layout templates understood by Compute.
const (
	// TemplateGrid tiles every participant in an aspect-preserving grid.
	TemplateGrid Template = "grid"
	// TemplateSpeaker shows the focused or speaking participant large and
	// everyone else in a filmstrip.
	TemplateSpeaker Template = "speaker"
	// TemplatePresentation shows a screen share large and everyone else in a
	// sidebar; it falls back to TemplateGrid when nobody shares a screen.
	TemplatePresentation Template = "presentation"
	// TemplatePIP shows one participant full frame and the next one in a
	// small inset in a corner.
	TemplatePIP Template = "pip"
	// TemplateSingle shows one participant full frame.
	TemplateSingle Template = "single"
	// TemplateCustom places participants into the Spec's Regions.
	TemplateCustom Template = "custom"
)

var templates = []Template{TemplateGrid, TemplateSpeaker, TemplatePresentation, TemplatePIP, TemplateSingle, TemplateCustom}

// Fit says how a video is scaled into its tile's cell.
type Fit string

const (
	// FitContain scales the video to fit inside the cell, keeping its aspect
	// ratio; the uncovered part of the cell shows the background
	// (letterboxing). This is the default.
	FitContain Fit = "contain"
	// FitCover scales the video to fill the whole cell, keeping its aspect
	// ratio and cropping what does not fit (see Tile.Crop).
	FitCover Fit = "cover"
)

// Source is the kind of video track a participant entry publishes.
type Source string

const (
	// SourceCamera is a camera track. An empty Source means SourceCamera.
	SourceCamera Source = "camera"
	// SourceScreen is a screen-share track.
	SourceScreen Source = "screen"
)

// Position places the filmstrip of the speaker and presentation templates, or
// the inset of the pip template.
type Position string

// Filmstrip positions (templates speaker and presentation).
const (
	PositionBottom Position = "bottom" // default for speaker
	PositionTop    Position = "top"
	PositionLeft   Position = "left"
	PositionRight  Position = "right" // default for presentation
)

// Inset corners (template pip).
const (
	PositionTopLeft     Position = "top_left"
	PositionTopRight    Position = "top_right"
	PositionBottomLeft  Position = "bottom_left"
	PositionBottomRight Position = "bottom_right" // default for pip
)

// Reuse says which of a region's candidates are shown when there are more than
// the region has cells. The names follow Twilio's video_layout "reuse".
type Reuse string

const (
	// ReuseShowOldest shows the earliest joined candidates (the default).
	ReuseShowOldest Reuse = "show_oldest"
	// ReuseShowNewest shows the latest joined candidates.
	ReuseShowNewest Reuse = "show_newest"
	// ReuseNone never gives a cell to another participant: participants that
	// have left (Participant.Left) keep occupying their cell, which stays
	// empty, and candidates beyond the capacity are not shown.
	ReuseNone Reuse = "none"
)

// Overflow says what happens to a region's candidates that do not fit in it.
type Overflow string

const (
	// OverflowHide drops them from the layout (the default); they are
	// reported in Layout.Hidden.
	OverflowHide Overflow = "hide"
	// OverflowGrid ignores MaxTiles, MaxColumns and MaxRows and grows the
	// region's grid until every candidate fits (tiles get smaller).
	OverflowGrid Overflow = "grid"
	// OverflowNextRegion leaves them unassigned so that later regions (in
	// declaration order) whose filters accept them can show them.
	OverflowNextRegion Overflow = "next_region"
)

// Spec is the public, JSON-encoded description of a room layout, as accepted by
// PUT /v1/rooms/{room}/layout. The zero value is not valid: Template is
// required. Use ParseSpec to decode and validate JSON, or Validate for a Spec
// built in Go.
type Spec struct {
	// Template selects the algorithm; required.
	Template Template `json:"template"`
	// Focus is a participant ID to show large (speaker, pip, single), or whose
	// screen share to show (presentation), and what FocusToken matches. An
	// unknown ID is not an error: rooms change, so Compute falls back to the
	// speaking participant, then to the first to join.
	Focus string `json:"focus,omitempty"`
	// Regions are the areas of the custom template; only allowed, and
	// required, with TemplateCustom.
	Regions []Region `json:"regions,omitempty"`
	// Background is the colour behind the tiles as "#rrggbb"; default
	// DefaultBackground.
	Background string `json:"background,omitempty"`
	// Gap is the space in pixels between neighbouring tiles and between tiles
	// and the edge of their area; default 0, at most MaxGap. Odd values are
	// rounded up to even, and it is reduced where it would take more than a
	// quarter of an area.
	Gap int `json:"gap,omitempty"`
	// Fit is how videos fill their cell; default FitContain.
	Fit Fit `json:"fit,omitempty"`
	// Labels asks for Tile.Label to carry the participant's display name.
	Labels bool `json:"labels,omitempty"`
	// Position places the filmstrip (speaker: default bottom; presentation:
	// default right) or the pip inset (default bottom_right). Not allowed with
	// other templates.
	Position Position `json:"position,omitempty"`
}

// Region is one area of the custom template, in coordinates normalised to the
// frame: (0,0) is the top-left corner and (1,1) the bottom-right one. It can
// express everything a Twilio Video Compositions video_layout region can
// (x_pos/y_pos/width/height/z_pos, max_columns/max_rows, cells_excluded,
// reuse, video_sources and video_sources_excluded), plus source filters and
// an overflow policy.
//
// Participants are assigned to regions in declaration order, each track to
// at most one region: a region takes, in join order, the not yet assigned
// tracks that pass its filters (Sources, Participants, Exclude). When a region
// has more candidates than its capacity (MaxTiles, and MaxColumns×MaxRows
// minus CellsExcluded), Reuse picks the ones shown and Overflow decides what
// becomes of the rest: hidden (default), shown by growing the grid, or left
// for later regions. Within a region the shown tracks are laid out as a
// sub-grid like the grid template; a region whose capacity is one tile shows
// it filling the whole region instead (with Spec.Fit deciding letterbox or
// crop).
type Region struct {
	// ID optionally names the region; IDs must be unique within a Spec.
	ID string `json:"id,omitempty"`
	// X and Y are the top-left corner, in [0,1).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// W and H are the size, in (0,1]; X+W and Y+H must not exceed 1.
	W float64 `json:"w"`
	H float64 `json:"h"`
	// Z is the stacking order, in [-MaxZ, MaxZ]; higher is drawn on top.
	Z int `json:"z"`
	// MaxTiles limits how many tracks the region shows; 0 means no limit.
	MaxTiles int `json:"max_tiles,omitempty"`
	// MaxColumns and MaxRows limit the sub-grid; 0 means no limit.
	MaxColumns int `json:"max_columns,omitempty"`
	MaxRows    int `json:"max_rows,omitempty"`
	// CellsExcluded lists sub-grid cells (numbered row by row from 0 at the
	// top-left) that stay empty. With exclusions the last row is not centred.
	CellsExcluded []int `json:"cells_excluded,omitempty"`
	// Participants, if not empty, restricts the region to tracks whose
	// participant ID matches one entry: an exact ID, a pattern where '*'
	// matches any run of characters (as in Twilio's video_sources), or
	// FocusToken. Other entries starting with '@' are reserved and rejected.
	Participants []string `json:"participants,omitempty"`
	// Exclude removes tracks whose participant ID matches an entry (same
	// syntax as Participants).
	Exclude []string `json:"exclude,omitempty"`
	// Sources, if not empty, restricts the region to these track kinds.
	Sources []Source `json:"sources,omitempty"`
	// Reuse picks the candidates shown when they exceed the capacity; default
	// ReuseShowOldest.
	Reuse Reuse `json:"reuse,omitempty"`
	// Overflow decides what happens to candidates beyond the capacity;
	// default OverflowHide.
	Overflow Overflow `json:"overflow,omitempty"`
}

// FieldError is the concrete type of the errors reported for an invalid Spec.
// It wraps ErrInvalidSpec.
type FieldError struct {
	// Field is the JSON path of the offending field, e.g. "regions[2].w";
	// empty when the problem is with the document as a whole.
	Field string
	// Reason says what is wrong, e.g. "must be in (0,1]".
	Reason string
}

// Error formats the error as "layout: <field>: <reason>".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "layout: " + e.Reason
	}
	return "layout: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidSpec.
func (e *FieldError) Unwrap() error { return ErrInvalidSpec }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ParseSpec decodes a JSON layout spec strictly (unknown fields, trailing data
// and wrong types are errors) and validates it. Every error wraps
// ErrInvalidSpec and is a *FieldError.
func ParseSpec(data []byte) (Spec, error) {
	if len(data) > MaxSpecSize {
		return Spec{}, fieldErr("", "spec is %d bytes, more than the limit of %d", len(data), MaxSpecSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Spec{}, fieldErr("", "empty spec")
	}
	if err := checkKeys(data); err != nil {
		return Spec{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Spec{}, fieldErr("", "unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

var (
	specKeys   = jsonKeys(reflect.TypeFor[Spec]())
	regionKeys = jsonKeys(reflect.TypeFor[Region]())
)

// jsonKeys lists the JSON names of t's fields.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// checkKeys rejects object keys that are not exactly a field name, with the
// path of the object. encoding/json alone would accept "Template" for
// "template" and would not say in which region an unknown key is. Documents
// that are not well-formed objects are left to the typed decoder to report.
func checkKeys(data []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil
	}
	if err := unknownKey("", top, specKeys); err != nil {
		return err
	}
	var regions []map[string]json.RawMessage
	if json.Unmarshal(top["regions"], &regions) != nil {
		return nil
	}
	for i, r := range regions {
		if err := unknownKey(fmt.Sprintf("regions[%d]", i), r, regionKeys); err != nil {
			return err
		}
	}
	return nil
}

// unknownKey reports the first key of obj, in sorted order, missing from keys.
func unknownKey(path string, obj map[string]json.RawMessage, keys []string) error {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if slices.Contains(keys, k) {
			continue
		}
		for _, want := range keys {
			if strings.EqualFold(k, want) {
				return fieldErr(path, "unknown field %q (did you mean %q?)", k, want)
			}
		}
		return fieldErr(path, "unknown field %q", k)
	}
	return nil
}

// jsonError turns an encoding/json error into a *FieldError.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fieldErr("", "invalid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fieldErr("", "must be a JSON object, not %s", typ.Value)
		}
		return fieldErr(typ.Field, "must be %s, not %s", describeKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("", "invalid JSON: unexpected end of input")
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fieldErr("", "unknown field %s", rest)
	}
	return fieldErr("", "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func describeKind(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + kind
}

// Validate checks every field of s against the API contract and returns the
// first problem found as a *FieldError wrapping ErrInvalidSpec, or nil.
func (s Spec) Validate() error {
	known := false
	for _, t := range templates {
		known = known || s.Template == t
	}
	if s.Template == "" {
		return fieldErr("template", "required (one of %s)", templateList())
	}
	if !known {
		return fieldErr("template", "unknown template %q (want one of %s)", s.Template, templateList())
	}
	if len(s.Focus) > MaxIDLength {
		return fieldErr("focus", "longer than %d bytes", MaxIDLength)
	}
	if s.Background != "" {
		if _, err := ParseColor(s.Background); err != nil {
			return fieldErr("background", "%q is not a colour of the form \"#rrggbb\"", s.Background)
		}
	}
	if s.Gap < 0 {
		return fieldErr("gap", "must not be negative, got %d", s.Gap)
	}
	if s.Gap > MaxGap {
		return fieldErr("gap", "must be at most %d, got %d", MaxGap, s.Gap)
	}
	switch s.Fit {
	case "", FitContain, FitCover:
	default:
		return fieldErr("fit", "unknown fit %q (want contain or cover)", s.Fit)
	}
	if err := s.validatePosition(); err != nil {
		return err
	}
	if s.Template != TemplateCustom {
		if len(s.Regions) > 0 {
			return fieldErr("regions", "only allowed with template %q", TemplateCustom)
		}
		return nil
	}
	if len(s.Regions) == 0 {
		return fieldErr("regions", "template %q needs at least one region", TemplateCustom)
	}
	if len(s.Regions) > MaxRegions {
		return fieldErr("regions", "at most %d regions, got %d", MaxRegions, len(s.Regions))
	}
	ids := make(map[string]int)
	for i, r := range s.Regions {
		path := fmt.Sprintf("regions[%d]", i)
		if err := r.validate(path); err != nil {
			return err
		}
		if r.ID != "" {
			if j, dup := ids[r.ID]; dup {
				return fieldErr(path+".id", "%q already used by regions[%d]", r.ID, j)
			}
			ids[r.ID] = i
		}
	}
	return nil
}

func templateList() string {
	names := make([]string, len(templates))
	for i, t := range templates {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func (s Spec) validatePosition() error {
	if s.Position == "" {
		return nil
	}
	switch s.Template {
	case TemplateSpeaker, TemplatePresentation:
		switch s.Position {
		case PositionBottom, PositionTop, PositionLeft, PositionRight:
			return nil
		}
		return fieldErr("position", "%q is not valid for template %q (want bottom, top, left or right)", s.Position, s.Template)
	case TemplatePIP:
		switch s.Position {
		case PositionTopLeft, PositionTopRight, PositionBottomLeft, PositionBottomRight:
			return nil
		}
		return fieldErr("position", "%q is not valid for template %q (want top_left, top_right, bottom_left or bottom_right)", s.Position, s.Template)
	}
	return fieldErr("position", "not used by template %q (only speaker, presentation and pip)", s.Template)
}

const coordEpsilon = 1e-9

func (r Region) validate(path string) error {
	if len(r.ID) > MaxIDLength {
		return fieldErr(path+".id", "longer than %d bytes", MaxIDLength)
	}
	// The negated comparisons also reject NaN.
	if !(r.X >= 0 && r.X < 1) {
		return fieldErr(path+".x", "must be in [0,1), got %v", r.X)
	}
	if !(r.Y >= 0 && r.Y < 1) {
		return fieldErr(path+".y", "must be in [0,1), got %v", r.Y)
	}
	if !(r.W > 0 && r.W <= 1) {
		return fieldErr(path+".w", "must be in (0,1], got %v", r.W)
	}
	if !(r.H > 0 && r.H <= 1) {
		return fieldErr(path+".h", "must be in (0,1], got %v", r.H)
	}
	if r.X+r.W > 1+coordEpsilon {
		return fieldErr(path+".w", "x+w must not exceed 1, got %v", r.X+r.W)
	}
	if r.Y+r.H > 1+coordEpsilon {
		return fieldErr(path+".h", "y+h must not exceed 1, got %v", r.Y+r.H)
	}
	if r.Z < -MaxZ || r.Z > MaxZ {
		return fieldErr(path+".z", "must be in [%d,%d], got %d", -MaxZ, MaxZ, r.Z)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_tiles", r.MaxTiles}, {"max_columns", r.MaxColumns}, {"max_rows", r.MaxRows}} {
		if f.v < 0 || f.v > MaxRegionCells {
			return fieldErr(path+"."+f.name, "must be in [0,%d], got %d", MaxRegionCells, f.v)
		}
	}
	if len(r.CellsExcluded) > MaxCellsExclude {
		return fieldErr(path+".cells_excluded", "at most %d entries, got %d", MaxCellsExclude, len(r.CellsExcluded))
	}
	for j, c := range r.CellsExcluded {
		if c < 0 || c > MaxCellIndex {
			return fieldErr(fmt.Sprintf("%s.cells_excluded[%d]", path, j), "must be in [0,%d], got %d", MaxCellIndex, c)
		}
	}
	if r.MaxColumns > 0 && r.MaxRows > 0 {
		if n := r.MaxColumns * r.MaxRows; countBelow(sortedUnique(r.CellsExcluded), n) >= n {
			return fieldErr(path+".cells_excluded", "excludes all %d cells of the %dx%d grid", n, r.MaxColumns, r.MaxRows)
		}
	}
	for _, list := range []struct {
		name string
		v    []string
	}{{"participants", r.Participants}, {"exclude", r.Exclude}} {
		for j, p := range list.v {
			field := fmt.Sprintf("%s.%s[%d]", path, list.name, j)
			switch {
			case p == "":
				return fieldErr(field, "must not be empty")
			case len(p) > MaxIDLength:
				return fieldErr(field, "longer than %d bytes", MaxIDLength)
			case strings.HasPrefix(p, "@") && p != FocusToken:
				return fieldErr(field, "unknown token %q (the only one is %q)", p, FocusToken)
			}
		}
	}
	for j, src := range r.Sources {
		if src != SourceCamera && src != SourceScreen {
			return fieldErr(fmt.Sprintf("%s.sources[%d]", path, j), "unknown source %q (want camera or screen)", src)
		}
	}
	switch r.Reuse {
	case "", ReuseShowOldest, ReuseShowNewest, ReuseNone:
	default:
		return fieldErr(path+".reuse", "unknown value %q (want show_oldest, show_newest or none)", r.Reuse)
	}
	switch r.Overflow {
	case "", OverflowHide, OverflowGrid, OverflowNextRegion:
	default:
		return fieldErr(path+".overflow", "unknown value %q (want hide, grid or next_region)", r.Overflow)
	}
	return nil
}

// Color is an opaque RGB colour.
type Color struct{ R, G, B uint8 }

// ParseColor parses "#rrggbb" (hex digits in either case).
func ParseColor(s string) (Color, error) {
	if len(s) != 7 || s[0] != '#' {
		return Color{}, fmt.Errorf("layout: colour %q: want \"#rrggbb\": %w", s, ErrInvalidSpec)
	}
	var v [3]uint8
	for i := range v {
		hi, ok1 := hexVal(s[1+2*i])
		lo, ok2 := hexVal(s[2+2*i])
		if !ok1 || !ok2 {
			return Color{}, fmt.Errorf("layout: colour %q: want \"#rrggbb\": %w", s, ErrInvalidSpec)
		}
		v[i] = hi<<4 | lo
	}
	return Color{v[0], v[1], v[2]}, nil
}

func hexVal(c byte) (uint8, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String formats c as "#rrggbb" in lower case.
func (c Color) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// ARGB returns c as an opaque 0xAARRGGBB value, the format of GStreamer
// properties such as videotestsrc's foreground-color.
func (c Color) ARGB() uint32 {
	return 0xff000000 | uint32(c.R)<<16 | uint32(c.G)<<8 | uint32(c.B)
}

// MarshalText encodes c as "#rrggbb".
func (c Color) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes "#rrggbb".
func (c *Color) UnmarshalText(b []byte) error {
	v, err := ParseColor(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// isFinite reports whether f is neither NaN nor infinite.
func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
