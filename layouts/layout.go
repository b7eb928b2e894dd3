package layouts

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// DefaultAspect is the width/height ratio assumed for a video whose
// Participant.Aspect is unknown.
const DefaultAspect = 16.0 / 9.0

// Aspect ratios outside [MinAspect, MaxAspect] are treated as unknown.
const (
	MinAspect = 0.1
	MaxAspect = 10.0
)

// Participant is one video track of a room member: a member who shares a
// screen while their camera is on appears twice, once per Source. The pair
// (ID, Source) must be unique among the participants given to Compute.
type Participant struct {
	// ID identifies the member; required.
	ID string `json:"id"`
	// Name is the display name, used for Tile.Label and Initials.
	Name string `json:"name,omitempty"`
	// Source is the kind of track; empty means SourceCamera.
	Source Source `json:"source,omitempty"`
	// Muted (audio muted) is copied to the Tile for label rendering; it does
	// not change the geometry.
	Muted bool `json:"muted,omitempty"`
	// Speaking marks the active speaker. When several speak, the first to
	// join wins.
	Speaking bool `json:"speaking,omitempty"`
	// JoinedAt orders participants (earliest first); ties keep input order.
	JoinedAt time.Time `json:"joined_at"`
	// Aspect is the video's width/height ratio; 0, or a value outside
	// [MinAspect, MaxAspect], means unknown (DefaultAspect is used).
	Aspect float64 `json:"aspect,omitempty"`
	// Left marks a participant that has left the room. It is ignored except
	// by custom regions with Reuse "none", where it keeps its cell (empty).
	Left bool `json:"left,omitempty"`
}

// Frame is the output video size in pixels.
type Frame struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Rect is an axis-aligned rectangle in output pixels; (X,Y) is its top-left
// corner. Rectangles produced by Compute have even X, Y, Width and Height.
type Rect struct {
	X      int `json:"x"`
	Y      int `json:"y"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Empty reports whether r has no area.
func (r Rect) Empty() bool { return r.Width <= 0 || r.Height <= 0 }

// Overlaps reports whether r and o share a point of positive area.
func (r Rect) Overlaps(o Rect) bool {
	return !r.Empty() && !o.Empty() &&
		r.X < o.X+o.Width && o.X < r.X+r.Width &&
		r.Y < o.Y+o.Height && o.Y < r.Y+r.Height
}

// In reports whether r lies entirely inside o.
func (r Rect) In(o Rect) bool {
	return r.X >= o.X && r.Y >= o.Y && r.X+r.Width <= o.X+o.Width && r.Y+r.Height <= o.Y+o.Height
}

// NormRect is a rectangle in coordinates normalised to [0,1].
type NormRect struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// Role says what part of a template a tile belongs to.
type Role string

// Tile roles.
const (
	RoleGrid      Role = "grid"      // a cell of the grid template
	RoleStage     Role = "stage"     // the large tile of speaker, presentation, pip, single
	RoleFilmstrip Role = "filmstrip" // the small tiles of speaker and presentation
	RoleInset     Role = "inset"     // the pip inset
	RoleRegion    Role = "region"    // a tile of a custom region
)

// Tile places one participant's track in the frame. The embedded Rect is the
// tile's cell; Content is where the video itself is drawn.
type Tile struct {
	ParticipantID string `json:"participant_id"`
	Source        Source `json:"source"`
	// Rect is the cell: the area the tile owns (placeholder, label and
	// border are drawn relative to it).
	Rect
	// Content is where the scaled video goes. With FitContain it is the
	// largest rectangle of the video's aspect centred in the cell (the rest
	// of the cell is letterbox); with FitCover it equals the cell.
	Content Rect `json:"content"`
	// Crop is the part of the source video that is visible, normalised to
	// the source: the whole video with FitContain, a centred cut with
	// FitCover when the aspects differ.
	Crop NormRect `json:"crop"`
	// Z is the stacking order; higher is drawn on top.
	Z    int  `json:"z"`
	Role Role `json:"role"`
	// Region is the index in Spec.Regions of the custom region holding the
	// tile, or -1 for other templates.
	Region int `json:"region"`
	// Label is the display name (Name, else ID) when Spec.Labels is set.
	Label    string `json:"label,omitempty"`
	Muted    bool   `json:"muted,omitempty"`
	Speaking bool   `json:"speaking,omitempty"`
}

// Ref identifies a participant's track.
type Ref struct {
	ParticipantID string `json:"participant_id"`
	Source        Source `json:"source"`
}

// Layout is the result of Compute.
type Layout struct {
	// Template is the template actually used: presentation falls back to
	// grid when nobody shares a screen.
	Template   Template `json:"template"`
	Frame      Frame    `json:"frame"`
	Background Color    `json:"background"`
	// Tiles are sorted by Z (lowest first), then in placement order.
	Tiles []Tile `json:"tiles"`
	// Hidden lists, in join order, the present participants' tracks that
	// have no tile (beyond a template's or region's capacity, or matched by
	// no region).
	Hidden []Ref `json:"hidden,omitempty"`
}

// entry is a participant prepared for layout.
type entry struct {
	p      Participant
	ref    Ref
	aspect float64 // 0 when unknown
}

// Compute lays out participants in frame according to spec.
//
// It validates spec (errors wrap ErrInvalidSpec), the frame (ErrInvalidFrame:
// both sides must be in [MinFrameSize, MaxFrameSize]; an odd side loses its
// last pixel) and the participants (ErrInvalidParticipant). Participants are
// ordered by JoinedAt, ties keeping input order, and departed ones
// (Participant.Left) are ignored except by custom regions with Reuse "none".
// The result is deterministic for the same input and never contains more
// than one tile per track.
//
// Every tile's cell and content rectangle is non-empty, even-aligned (X, Y,
// Width and Height are even, as I420 encoders need) and inside the frame;
// content lies inside its cell. Tiles never overlap except a pip inset
// (which lies on top of the stage) and tiles of custom regions that the spec
// makes overlap. If the frame is too small for that, Compute returns
// ErrFrameTooSmall rather than degenerate rectangles. The built-in templates
// fit 25 tracks in frames down to 160x90; a custom region smaller than 2x2
// pixels in the frame is reported even while empty, so calling Compute with
// the room's output size when a spec is submitted catches unusable regions.
//
// The templates:
//
//   - grid: every track in a grid in join order, row by row. For N tracks it
//     tries every column count and keeps the arrangement giving the largest
//     tiles at the cell aspect (DefaultAspect, or the participants' own when
//     they all agree); ties prefer fewer empty cells. The grid is centred and
//     a partial last row is centred too. Nobody is hidden.
//   - speaker: the focused track (Spec.Focus, else the first speaking
//     participant, else the first to join; a camera is preferred over a
//     screen of the same ID) fills the stage; all others form a filmstrip
//     grid along Spec.Position (default bottom) taking a fifth of the frame.
//   - presentation: a screen share (Spec.Focus's, else the first one) fills
//     the stage and every other track goes to a sidebar (default right). With
//     no screen share it is the grid template.
//   - pip: the focused track fills the frame and the first other track in
//     join order is an inset, a quarter of the frame wide (or high, for
//     portrait video), in a corner (default bottom_right) with a margin of
//     max(gap, 1/40 of the frame's smaller side); the rest are hidden.
//   - single: the focused track fills the frame; the rest are hidden.
//   - custom: see Region. Tracks no region takes are hidden.
func Compute(spec Spec, participants []Participant, frame Frame) (Layout, error) {
	if err := spec.Validate(); err != nil {
		return Layout{}, err
	}
	if frame.Width < MinFrameSize || frame.Height < MinFrameSize || frame.Width > MaxFrameSize || frame.Height > MaxFrameSize {
		return Layout{}, fmt.Errorf("layout: frame %dx%d: %w: width and height must be in [%d,%d]",
			frame.Width, frame.Height, ErrInvalidFrame, MinFrameSize, MaxFrameSize)
	}
	entries, err := prepare(participants)
	if err != nil {
		return Layout{}, err
	}
	bg := DefaultBackground
	if spec.Background != "" {
		bg = spec.Background
	}
	color, err := ParseColor(bg)
	if err != nil { // unreachable: Validate checked it
		return Layout{}, err
	}
	b := &builder{
		spec:  spec,
		frame: Rect{Width: frame.Width &^ 1, Height: frame.Height &^ 1},
		gap:   (spec.Gap + 1) &^ 1,
		fit:   cmp.Or(spec.Fit, FitContain),
	}
	for _, e := range entries {
		if !e.p.Left {
			b.present = append(b.present, e)
		}
	}
	b.all = entries
	used := spec.Template
	switch spec.Template {
	case TemplateGrid:
		err = b.grid()
	case TemplateSpeaker:
		err = b.speaker()
	case TemplatePresentation:
		var fellBack bool
		fellBack, err = b.presentation()
		if fellBack {
			used = TemplateGrid
		}
	case TemplatePIP:
		err = b.pip()
	case TemplateSingle:
		err = b.single()
	case TemplateCustom:
		err = b.custom()
	}
	if err != nil {
		return Layout{}, err
	}
	slices.SortStableFunc(b.tiles, func(x, y Tile) int { return cmp.Compare(x.Z, y.Z) })
	shown := make(map[Ref]bool, len(b.tiles))
	for _, t := range b.tiles {
		shown[Ref{t.ParticipantID, t.Source}] = true
	}
	var hidden []Ref
	for _, e := range b.present {
		if !shown[e.ref] {
			hidden = append(hidden, e.ref)
		}
	}
	tiles := b.tiles
	if tiles == nil {
		tiles = []Tile{}
	}
	return Layout{
		Template:   used,
		Frame:      frame,
		Background: color,
		Tiles:      tiles,
		Hidden:     hidden,
	}, nil
}

// prepare validates participants and returns them in join order.
func prepare(participants []Participant) ([]*entry, error) {
	seen := make(map[Ref]int, len(participants))
	entries := make([]*entry, 0, len(participants))
	for i, p := range participants {
		if p.ID == "" {
			return nil, fmt.Errorf("layout: participants[%d].id: %w: must not be empty", i, ErrInvalidParticipant)
		}
		src := cmp.Or(p.Source, SourceCamera)
		if src != SourceCamera && src != SourceScreen {
			return nil, fmt.Errorf("layout: participants[%d].source: %w: unknown source %q (want camera or screen)", i, ErrInvalidParticipant, p.Source)
		}
		ref := Ref{p.ID, src}
		if j, dup := seen[ref]; dup {
			return nil, fmt.Errorf("layout: participants[%d]: %w: %q with source %s already given as participants[%d]", i, ErrInvalidParticipant, p.ID, src, j)
		}
		seen[ref] = i
		p.Source = src
		e := &entry{p: p, ref: ref}
		if isFinite(p.Aspect) && p.Aspect >= MinAspect && p.Aspect <= MaxAspect {
			e.aspect = p.Aspect
		}
		entries = append(entries, e)
	}
	slices.SortStableFunc(entries, func(a, b *entry) int { return a.p.JoinedAt.Compare(b.p.JoinedAt) })
	return entries, nil
}

// builder accumulates the tiles of one Compute call.
type builder struct {
	spec    Spec
	frame   Rect // even-sized
	gap     int  // even
	fit     Fit
	all     []*entry // join order, including departed participants
	present []*entry // join order, without departed participants
	tiles   []Tile
}

// focused returns the track the single template shows: Spec.Focus's (camera
// preferred, or screen preferred when preferScreen), else the first speaking
// participant's (camera preferred), else the first present one. It returns
// nil when nobody is present.
func (b *builder) focused(preferScreen bool) *entry {
	pick := func(match func(*entry) bool) *entry {
		var first *entry
		for _, e := range b.present {
			if !match(e) {
				continue
			}
			if (e.ref.Source == SourceScreen) == preferScreen {
				return e
			}
			if first == nil {
				first = e
			}
		}
		return first
	}
	if b.spec.Focus != "" {
		if e := pick(func(e *entry) bool { return e.p.ID == b.spec.Focus }); e != nil {
			return e
		}
	}
	for _, e := range b.present {
		if e.p.Speaking {
			id := e.p.ID
			return pick(func(e *entry) bool { return e.p.ID == id })
		}
	}
	if len(b.present) == 0 {
		return nil
	}
	return b.present[0]
}

// without returns es minus x, keeping order.
func without(es []*entry, x *entry) []*entry {
	out := make([]*entry, 0, len(es))
	for _, e := range es {
		if e != x {
			out = append(out, e)
		}
	}
	return out
}

// add appends a tile for e in cell.
func (b *builder) add(e *entry, cell Rect, z int, role Role, region int) {
	t := Tile{
		ParticipantID: e.p.ID,
		Source:        e.ref.Source,
		Rect:          cell,
		Z:             z,
		Role:          role,
		Region:        region,
		Muted:         e.p.Muted,
		Speaking:      e.p.Speaking,
	}
	if b.spec.Labels {
		t.Label = cmp.Or(e.p.Name, e.p.ID)
	}
	t.Content, t.Crop = fitContent(cell, cmp.Or(e.aspect, DefaultAspect), b.fit)
	b.tiles = append(b.tiles, t)
}
