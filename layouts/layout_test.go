package layouts

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustCompute(t *testing.T, spec Spec, ps []Participant, frame Frame) Layout {
	t.Helper()
	l, err := Compute(spec, ps, frame)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	if err := checkLayout(spec, ps, frame, l); err != nil {
		t.Fatalf("invariant: %v\nlayout: %+v", err, l)
	}
	return l
}

func ids(tiles []Tile) []string {
	out := make([]string, len(tiles))
	for i, t := range tiles {
		out[i] = t.ParticipantID
		if t.Source == SourceScreen {
			out[i] += "/screen"
		}
	}
	return out
}

func tileOf(l Layout, id string, src Source) (Tile, bool) {
	for _, t := range l.Tiles {
		if t.ParticipantID == id && t.Source == src {
			return t, true
		}
	}
	return Tile{}, false
}

// rows groups grid tiles by their Y, in order.
func rows(tiles []Tile) [][]Tile {
	var out [][]Tile
	for _, t := range tiles {
		if n := len(out); n > 0 && out[n-1][0].Y == t.Y {
			out[n-1] = append(out[n-1], t)
		} else {
			out = append(out, []Tile{t})
		}
	}
	return out
}

// checkGrid verifies the grid-specific promises: n equal tiles in join order
// row by row, equal gaps, every row (so the partial last one) and the block
// centred, the cell aspect kept.
func checkGrid(l Layout, frame Frame, n int, aspect float64) error {
	fr := Rect{Width: frame.Width &^ 1, Height: frame.Height &^ 1}
	if len(l.Tiles) != n {
		return fmt.Errorf("%d tiles, want %d", len(l.Tiles), n)
	}
	if n == 0 {
		return nil
	}
	w, h := l.Tiles[0].Width, l.Tiles[0].Height
	for i, t := range l.Tiles {
		if t.Width != w || t.Height != h {
			return fmt.Errorf("tile %d is %dx%d, tile 0 is %dx%d", i, t.Width, t.Height, w, h)
		}
		if want := fmt.Sprintf("p%d", i); t.ParticipantID != want {
			return fmt.Errorf("tile %d is %s, want %s (join order)", i, t.ParticipantID, want)
		}
	}
	if math.Abs(float64(w)/aspect-float64(h)) > 2 {
		return fmt.Errorf("tile %dx%d does not keep aspect %.3f", w, h, aspect)
	}
	rs := rows(l.Tiles)
	cols := len(rs[0])
	gap := -1
	for ri, r := range rs {
		if ri < len(rs)-1 && len(r) != cols {
			return fmt.Errorf("row %d has %d tiles, row 0 has %d", ri, len(r), cols)
		}
		if len(r) > cols {
			return fmt.Errorf("last row has %d tiles > %d columns", len(r), cols)
		}
		for i := 1; i < len(r); i++ {
			g := r[i].X - (r[i-1].X + w)
			if gap < 0 {
				gap = g
			}
			if g != gap || g < 0 {
				return fmt.Errorf("row %d: gap %d, want %d", ri, g, gap)
			}
		}
		left, right := r[0].X, fr.Width-(r[len(r)-1].X+w)
		if abs(left-right) > 2 {
			return fmt.Errorf("row %d not centred: margins %d and %d", ri, left, right)
		}
	}
	for i := 1; i < len(rs); i++ {
		g := rs[i][0].Y - (rs[i-1][0].Y + h)
		if gap < 0 {
			gap = g
		}
		if g != gap {
			return fmt.Errorf("row gap %d, column gap %d", g, gap)
		}
	}
	top, bottom := rs[0][0].Y, fr.Height-(rs[len(rs)-1][0].Y+h)
	if abs(top-bottom) > 2 {
		return fmt.Errorf("grid not centred vertically: margins %d and %d", top, bottom)
	}
	if gap > 0 && (top < gap || rs[0][0].X < gap && len(rs[0]) == cols) {
		return fmt.Errorf("margin smaller than the gap %d", gap)
	}
	return nil
}

func abs(v int) int { return max(v, -v) }

func TestGridAllCounts(t *testing.T) {
	frames := []Frame{{1280, 720}, {1920, 1080}, {720, 1280}, {640, 480}, {320, 180}, {1281, 721}, {3840, 2160}, {1000, 1000}}
	for _, frame := range frames {
		for _, gap := range []int{0, 4, 7, 40} {
			for n := 0; n <= 25; n++ {
				t.Run(fmt.Sprintf("%dx%d/gap%d/n%d", frame.Width, frame.Height, gap, n), func(t *testing.T) {
					ps := people(n)
					slices.Reverse(ps) // join time, not input order, decides
					spec := Spec{Template: TemplateGrid, Gap: gap}
					l := mustCompute(t, spec, ps, frame)
					if err := checkGrid(l, frame, n, DefaultAspect); err != nil {
						t.Fatal(err)
					}
					if len(l.Hidden) != 0 {
						t.Errorf("hidden %v", l.Hidden)
					}
					for _, tile := range l.Tiles {
						if tile.Z != 0 || tile.Role != RoleGrid || tile.Region != -1 || tile.Content != tile.Rect {
							t.Fatalf("tile %+v", tile)
						}
					}
				})
			}
		}
	}
}

func TestGridColumns(t *testing.T) {
	// In a 16:9 frame 16:9 tiles are largest with ceil(sqrt(N)) columns;
	// in a portrait frame, with fewer.
	for n := 1; n <= 25; n++ {
		for _, frame := range []Frame{{1280, 720}, {1920, 1080}} {
			l := mustCompute(t, Spec{Template: TemplateGrid}, people(n), frame)
			if got, want := len(rows(l.Tiles)[0]), int(math.Ceil(math.Sqrt(float64(n)))); got != want {
				t.Errorf("%v n=%d: %d columns, want %d", frame, n, got, want)
			}
		}
	}
	tests := []struct {
		n          int
		frame      Frame
		cols, rows int
		w, h       int
	}{
		{1, Frame{1280, 720}, 1, 1, 1280, 720},
		{2, Frame{1280, 720}, 2, 1, 640, 360},
		{3, Frame{1280, 720}, 2, 2, 640, 360},
		{4, Frame{720, 1280}, 1, 4, 568, 320},
		{2, Frame{720, 1280}, 1, 2, 720, 406},
		{5, Frame{1280, 720}, 3, 2, 426, 240},
		{6, Frame{1000, 1000}, 2, 3, 500, 282},
	}
	for _, tc := range tests {
		l := mustCompute(t, Spec{Template: TemplateGrid}, people(tc.n), tc.frame)
		rs := rows(l.Tiles)
		if len(rs[0]) != tc.cols || len(rs) != tc.rows || l.Tiles[0].Width != tc.w || l.Tiles[0].Height != tc.h {
			t.Errorf("n=%d %v: %dx%d grid of %dx%d tiles, want %dx%d of %dx%d", tc.n, tc.frame,
				len(rs[0]), len(rs), l.Tiles[0].Width, l.Tiles[0].Height, tc.cols, tc.rows, tc.w, tc.h)
		}
	}
}

func TestGridPartialRowCentred(t *testing.T) {
	l := mustCompute(t, Spec{Template: TemplateGrid}, people(7), Frame{1280, 720})
	// 3 columns of 426x240: rows of 3, 3 and a centred 1.
	want := []Rect{
		{0, 0, 426, 240}, {426, 0, 426, 240}, {852, 0, 426, 240},
		{0, 240, 426, 240}, {426, 240, 426, 240}, {852, 240, 426, 240},
		{426, 480, 426, 240},
	}
	for i, tile := range l.Tiles {
		if tile.Rect != want[i] {
			t.Errorf("tile %d = %v, want %v", i, tile.Rect, want[i])
		}
	}
}

func TestGridGap(t *testing.T) {
	l := mustCompute(t, Spec{Template: TemplateGrid, Gap: 10}, people(4), Frame{1280, 720})
	a, b, c := l.Tiles[0], l.Tiles[1], l.Tiles[2]
	if g := b.X - (a.X + a.Width); g != 10 {
		t.Errorf("horizontal gap %d", g)
	}
	if g := c.Y - (a.Y + a.Height); g != 10 {
		t.Errorf("vertical gap %d", g)
	}
	if a.Y < 10 || a.X < 10 {
		t.Errorf("margin: first tile at %v", a.Rect)
	}
	// Odd gaps are rounded up to even.
	l = mustCompute(t, Spec{Template: TemplateGrid, Gap: 5}, people(2), Frame{1280, 720})
	if g := l.Tiles[1].X - (l.Tiles[0].X + l.Tiles[0].Width); g != 6 {
		t.Errorf("gap 5 gave %d", g)
	}
	// A huge gap shrinks instead of swallowing the tiles.
	l = mustCompute(t, Spec{Template: TemplateGrid, Gap: MaxGap}, people(25), Frame{320, 180})
	if len(l.Tiles) != 25 {
		t.Errorf("%d tiles", len(l.Tiles))
	}
}

func TestJoinOrder(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	ps := []Participant{
		{ID: "c", JoinedAt: at(30)},
		{ID: "a", JoinedAt: at(10)},
		{ID: "tie1", JoinedAt: at(20)},
		{ID: "tie2", JoinedAt: at(20)},
		{ID: "zero"}, // zero time sorts first
	}
	l := mustCompute(t, Spec{Template: TemplateGrid}, ps, Frame{1280, 720})
	if got, want := ids(l.Tiles), []string{"zero", "a", "tie1", "tie2", "c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	// Swapping the tied entries swaps them in the layout.
	ps[2], ps[3] = ps[3], ps[2]
	l = mustCompute(t, Spec{Template: TemplateGrid}, ps, Frame{1280, 720})
	if got, want := ids(l.Tiles), []string{"zero", "a", "tie2", "tie1", "c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestGridAspectAndFit(t *testing.T) {
	frame := Frame{1280, 720}
	// Everyone 4:3: 4:3 cells.
	ps := people(4)
	for i := range ps {
		ps[i].Aspect = 4.0 / 3
	}
	l := mustCompute(t, Spec{Template: TemplateGrid}, ps, frame)
	if err := checkGrid(l, frame, 4, 4.0/3); err != nil {
		t.Error(err)
	}
	if l.Tiles[0].Width != 480 || l.Tiles[0].Height != 360 {
		t.Errorf("4:3 tile %v", l.Tiles[0].Rect)
	}
	// Mixed aspects: 16:9 cells; a portrait video is letterboxed with
	// contain, cropped with cover.
	ps = people(4)
	ps[1].Aspect = 9.0 / 16
	ps[2].Aspect = math.NaN() // unknown
	l = mustCompute(t, Spec{Template: TemplateGrid}, ps, frame)
	if err := checkGrid(l, frame, 4, DefaultAspect); err != nil {
		t.Error(err)
	}
	portrait := l.Tiles[1]
	if portrait.Content.Height != portrait.Height || portrait.Content.Width >= portrait.Width/2 {
		t.Errorf("contain: cell %v content %v", portrait.Rect, portrait.Content)
	}
	if lm, rm := portrait.Content.X-portrait.X, portrait.X+portrait.Width-portrait.Content.X-portrait.Content.Width; abs(lm-rm) > 2 {
		t.Errorf("letterbox not centred: %d vs %d", lm, rm)
	}
	if portrait.Crop != (NormRect{0, 0, 1, 1}) {
		t.Errorf("contain crop %+v", portrait.Crop)
	}
	l = mustCompute(t, Spec{Template: TemplateGrid, Fit: FitCover}, ps, frame)
	portrait = l.Tiles[1]
	if portrait.Content != portrait.Rect {
		t.Errorf("cover: content %v != cell %v", portrait.Content, portrait.Rect)
	}
	wantH := (9.0 / 16) / (640.0 / 360)
	if c := portrait.Crop; c.X != 0 || c.Width != 1 || math.Abs(c.Height-wantH) > 1e-9 || math.Abs(c.Y-(1-wantH)/2) > 1e-9 {
		t.Errorf("cover crop %+v", c)
	}
	if l.Tiles[0].Crop != (NormRect{0, 0, 1, 1}) {
		t.Errorf("16:9 in 16:9 crop %+v", l.Tiles[0].Crop)
	}
}

func TestSpeaker(t *testing.T) {
	frame := Frame{1280, 720}
	ps := people(5)
	ps[3].Speaking = true
	l := mustCompute(t, Spec{Template: TemplateSpeaker}, ps, frame)
	stage := l.Tiles[0]
	if stage.ParticipantID != "p3" || stage.Role != RoleStage || stage.Z != 0 {
		t.Fatalf("stage %+v", stage)
	}
	if got, want := ids(l.Tiles[1:]), []string{"p0", "p1", "p2", "p4"}; !slices.Equal(got, want) {
		t.Errorf("filmstrip %v, want %v", got, want)
	}
	for _, tile := range l.Tiles[1:] {
		if tile.Role != RoleFilmstrip || tile.Z != 1 || tile.Y < stage.Y+stage.Height || tile.Height > 720/5 {
			t.Errorf("filmstrip tile %+v below stage %v", tile, stage.Rect)
		}
	}
	if stage.Rect != (Rect{0, 0, 1280, 576}) || stage.Content != (Rect{128, 0, 1024, 576}) {
		t.Errorf("stage cell %v content %v", stage.Rect, stage.Content)
	}

	// Focus beats the speaker; an unknown focus falls back to the speaker.
	l = mustCompute(t, Spec{Template: TemplateSpeaker, Focus: "p1"}, ps, frame)
	if l.Tiles[0].ParticipantID != "p1" {
		t.Errorf("focus: stage %s", l.Tiles[0].ParticipantID)
	}
	l = mustCompute(t, Spec{Template: TemplateSpeaker, Focus: "gone"}, ps, frame)
	if l.Tiles[0].ParticipantID != "p3" {
		t.Errorf("unknown focus: stage %s", l.Tiles[0].ParticipantID)
	}
	// Nobody speaking: the first to join.
	l = mustCompute(t, Spec{Template: TemplateSpeaker}, people(5), frame)
	if l.Tiles[0].ParticipantID != "p0" {
		t.Errorf("no speaker: stage %s", l.Tiles[0].ParticipantID)
	}
	// A speaker sharing a screen: their camera takes the stage.
	ps = people(3)
	ps[2].Speaking = true
	ps = append(ps, Participant{ID: "p2", Source: SourceScreen, JoinedAt: ps[0].JoinedAt, Speaking: true})
	l = mustCompute(t, Spec{Template: TemplateSpeaker}, ps, frame)
	if got := ids(l.Tiles); got[0] != "p2" || !slices.Contains(got, "p2/screen") {
		t.Errorf("speaker with screen: %v", got)
	}
	// Alone: the whole frame.
	l = mustCompute(t, Spec{Template: TemplateSpeaker, Gap: 8}, people(1), frame)
	if l.Tiles[0].Rect != (Rect{8, 8, 1264, 704}) {
		t.Errorf("alone: %v", l.Tiles[0].Rect)
	}

	// Each position puts the strip on its side.
	for _, pos := range []Position{PositionBottom, PositionTop, PositionLeft, PositionRight} {
		for _, gap := range []int{0, 6} {
			l := mustCompute(t, Spec{Template: TemplateSpeaker, Position: pos, Gap: gap}, people(8), frame)
			s := l.Tiles[0].Rect
			for _, tile := range l.Tiles[1:] {
				var ok bool
				switch pos {
				case PositionBottom:
					ok = tile.Y >= s.Y+s.Height+gap
				case PositionTop:
					ok = tile.Y+tile.Height+gap <= s.Y
				case PositionLeft:
					ok = tile.X+tile.Width+gap <= s.X
				case PositionRight:
					ok = tile.X >= s.X+s.Width+gap
				}
				if !ok {
					t.Errorf("%s gap %d: strip tile %v vs stage %v", pos, gap, tile.Rect, s)
				}
			}
		}
	}
	// Many participants: the filmstrip wraps into several rows.
	l = mustCompute(t, Spec{Template: TemplateSpeaker}, people(25), frame)
	if r := rows(l.Tiles[1:]); len(r) < 2 {
		t.Errorf("24 in filmstrip: %d rows", len(r))
	}
}

func TestPresentation(t *testing.T) {
	frame := Frame{1920, 1080}
	ps := people(4)
	ps = append(ps,
		Participant{ID: "p1", Source: SourceScreen, JoinedAt: time.Unix(2000, 0)},
		Participant{ID: "p2", Source: SourceScreen, JoinedAt: time.Unix(2001, 0)})
	l := mustCompute(t, Spec{Template: TemplatePresentation}, ps, frame)
	if l.Template != TemplatePresentation {
		t.Fatalf("template %s", l.Template)
	}
	stage := l.Tiles[0]
	if stage.ParticipantID != "p1" || stage.Source != SourceScreen || stage.Role != RoleStage {
		t.Fatalf("stage %+v", stage)
	}
	if got, want := ids(l.Tiles[1:]), []string{"p0", "p1", "p2", "p3", "p2/screen"}; !slices.Equal(got, want) {
		t.Errorf("sidebar %v, want %v", got, want)
	}
	for _, tile := range l.Tiles[1:] {
		if tile.X < stage.X+stage.Width || tile.Width > 1920/5 {
			t.Errorf("sidebar tile %v not right of stage %v", tile.Rect, stage.Rect)
		}
	}
	// Focus picks whose screen.
	l = mustCompute(t, Spec{Template: TemplatePresentation, Focus: "p2", Position: PositionLeft}, ps, frame)
	if l.Tiles[0].ParticipantID != "p2" || l.Tiles[0].Source != SourceScreen || l.Tiles[1].X+l.Tiles[1].Width > l.Tiles[0].X {
		t.Errorf("focus p2 left: %+v", l.Tiles[:2])
	}
	// Nobody shares: a grid.
	l = mustCompute(t, Spec{Template: TemplatePresentation}, people(5), frame)
	if l.Template != TemplateGrid || len(l.Tiles) != 5 || l.Tiles[0].Role != RoleGrid {
		t.Errorf("fallback: %s %d tiles", l.Template, len(l.Tiles))
	}
	if err := checkGrid(l, frame, 5, DefaultAspect); err != nil {
		t.Error(err)
	}
}

func TestPIP(t *testing.T) {
	frame := Frame{1280, 720}
	ps := people(4)
	l := mustCompute(t, Spec{Template: TemplatePIP, Focus: "p2"}, ps, frame)
	main, inset := l.Tiles[0], l.Tiles[1]
	if main.ParticipantID != "p2" || main.Rect != (Rect{0, 0, 1280, 720}) || main.Z != 0 {
		t.Errorf("main %+v", main)
	}
	if inset.ParticipantID != "p0" || inset.Role != RoleInset || inset.Z <= main.Z {
		t.Errorf("inset %+v", inset)
	}
	if inset.Rect != (Rect{1280 - 18 - 320, 720 - 18 - 180, 320, 180}) {
		t.Errorf("inset rect %v", inset.Rect)
	}
	if want := []Ref{{"p1", SourceCamera}, {"p3", SourceCamera}}; !reflect.DeepEqual(l.Hidden, want) {
		t.Errorf("hidden %v, want %v", l.Hidden, want)
	}
	corners := map[Position]func(r Rect) bool{
		PositionTopLeft:     func(r Rect) bool { return r.X == 18 && r.Y == 18 },
		PositionTopRight:    func(r Rect) bool { return r.X+r.Width == 1262 && r.Y == 18 },
		PositionBottomLeft:  func(r Rect) bool { return r.X == 18 && r.Y+r.Height == 702 },
		PositionBottomRight: func(r Rect) bool { return r.X+r.Width == 1262 && r.Y+r.Height == 702 },
	}
	for pos, ok := range corners {
		l := mustCompute(t, Spec{Template: TemplatePIP, Position: pos}, ps, frame)
		if !ok(l.Tiles[1].Rect) {
			t.Errorf("%s: inset %v", pos, l.Tiles[1].Rect)
		}
	}
	// The margin grows with the gap; a portrait inset stays a quarter high.
	ps[1].Aspect = 9.0 / 16
	l = mustCompute(t, Spec{Template: TemplatePIP, Gap: 40}, ps, frame)
	if in := l.Tiles[1].Rect; in.Height != 180 || in.Width != 100 || in.X+in.Width != 1240 || in.Y+in.Height != 680 {
		t.Errorf("portrait inset %v", in)
	}
	// Alone: no inset.
	l = mustCompute(t, Spec{Template: TemplatePIP}, people(1), frame)
	if len(l.Tiles) != 1 {
		t.Errorf("alone: %d tiles", len(l.Tiles))
	}
}

func TestSingle(t *testing.T) {
	frame := Frame{1280, 720}
	ps := people(3)
	ps[2].Speaking = true
	ps[0].Aspect = 4.0 / 3
	l := mustCompute(t, Spec{Template: TemplateSingle}, ps, frame)
	if l.Tiles[0].ParticipantID != "p2" || len(l.Hidden) != 2 {
		t.Errorf("speaker: %+v hidden %v", l.Tiles, l.Hidden)
	}
	l = mustCompute(t, Spec{Template: TemplateSingle, Focus: "p0", Labels: true}, ps, frame)
	tile := l.Tiles[0]
	if tile.ParticipantID != "p0" || tile.Rect != (Rect{0, 0, 1280, 720}) || tile.Content != (Rect{160, 0, 960, 720}) || tile.Label != "Person 0" {
		t.Errorf("focus 4:3: %+v", tile)
	}
	l = mustCompute(t, Spec{Template: TemplateSingle, Fit: FitCover}, ps[:1], frame)
	if c := l.Tiles[0].Crop; c.X != 0 || math.Abs(c.Height-0.75) > 1e-9 || math.Abs(c.Y-0.125) > 1e-9 {
		t.Errorf("cover 4:3 in 16:9 crop %+v", c)
	}
	l = mustCompute(t, Spec{Template: TemplateSingle}, nil, frame)
	if len(l.Tiles) != 0 || l.Tiles == nil {
		t.Errorf("empty room: %#v", l.Tiles)
	}
}

func TestLabelsAndFlags(t *testing.T) {
	ps := []Participant{{ID: "a", Name: "Ada", Muted: true, Speaking: true}, {ID: "b"}}
	l := mustCompute(t, Spec{Template: TemplateGrid, Labels: true, Background: "#FFFFFF"}, ps, Frame{640, 360})
	if l.Tiles[0].Label != "Ada" || l.Tiles[1].Label != "b" || !l.Tiles[0].Muted || !l.Tiles[0].Speaking || l.Tiles[1].Muted {
		t.Errorf("tiles %+v", l.Tiles)
	}
	if l.Background != (Color{255, 255, 255}) {
		t.Errorf("background %v", l.Background)
	}
	l = mustCompute(t, Spec{Template: TemplateGrid}, ps, Frame{640, 360})
	if l.Tiles[0].Label != "" || l.Background != (Color{}) {
		t.Errorf("labels off: %+v, background %v", l.Tiles[0], l.Background)
	}
}

func TestComputeErrors(t *testing.T) {
	grid := Spec{Template: TemplateGrid}
	tests := []struct {
		name  string
		spec  Spec
		ps    []Participant
		frame Frame
		is    error
		want  string
	}{
		{"invalid spec", Spec{Template: "nope"}, nil, Frame{640, 360}, ErrInvalidSpec, "layout: template: unknown template"},
		{"zero frame", grid, nil, Frame{}, ErrInvalidFrame, "layout: frame 0x0"},
		{"one pixel", grid, nil, Frame{1, 720}, ErrInvalidFrame, "width and height must be in [2,16384]"},
		{"huge frame", grid, nil, Frame{20000, 720}, ErrInvalidFrame, "20000x720"},
		{"negative frame", grid, nil, Frame{-2, 720}, ErrInvalidFrame, "-2x720"},
		{"empty id", grid, []Participant{{ID: "a"}, {}}, Frame{640, 360}, ErrInvalidParticipant, "layout: participants[1].id"},
		{"bad source", grid, []Participant{{ID: "a", Source: "mic"}}, Frame{640, 360}, ErrInvalidParticipant, `participants[0].source: invalid participant: unknown source "mic"`},
		{"duplicate", grid, []Participant{{ID: "a"}, {ID: "b"}, {ID: "a", Source: SourceCamera}}, Frame{640, 360}, ErrInvalidParticipant, `participants[2]: invalid participant: "a" with source camera already given as participants[0]`},
		{"too small grid", grid, people(4), Frame{2, 3}, ErrFrameTooSmall, "layout: grid: frame too small for layout: 4 tiles do not fit in 2x2 pixels"},
		{"too small strip", Spec{Template: TemplateSpeaker}, people(3), Frame{8, 8}, ErrFrameTooSmall, "speaker filmstrip"},
		{"too small inset", Spec{Template: TemplatePIP}, people(3), Frame{4, 4}, ErrFrameTooSmall, "pip inset"},
		{"tiny empty region", Spec{Template: TemplateCustom, Regions: []Region{{W: 1, H: 1}, {Y: 0.5, W: 0.5, H: 0.001}}}, nil, Frame{1280, 720}, ErrFrameTooSmall,
			"layout: regions[1]: frame too small for layout: the region is 640x0 pixels of a 1280x720 frame"},
		{"tiny region", Spec{Template: TemplateCustom, Regions: []Region{{X: 0.5, W: 0.0001, H: 1}}}, people(1), Frame{1280, 720}, ErrFrameTooSmall, "regions[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(tc.spec, tc.ps, tc.frame)
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	// The same participant with two sources is fine.
	if _, err := Compute(grid, []Participant{{ID: "a"}, {ID: "a", Source: SourceScreen}}, Frame{640, 360}); err != nil {
		t.Error(err)
	}
	// Small but sane frames always work for the built-in templates.
	for _, tpl := range []Template{TemplateGrid, TemplateSpeaker, TemplatePresentation, TemplatePIP, TemplateSingle} {
		ps := people(25)
		ps[3].Source = SourceScreen
		mustCompute(t, Spec{Template: tpl, Gap: MaxGap}, ps, Frame{160, 90})
	}
}

func TestDeterministic(t *testing.T) {
	ps := people(9)
	ps[4].Speaking = true
	ps[2].Source = SourceScreen
	ps[5].Aspect = 4.0 / 3
	specs := []Spec{
		{Template: TemplateGrid, Gap: 4},
		{Template: TemplateSpeaker},
		{Template: TemplatePresentation},
		{Template: TemplatePIP},
		{Template: TemplateSingle},
		{Template: TemplateCustom, Regions: []Region{{W: 0.5, H: 1, MaxTiles: 3}, {X: 0.5, W: 0.5, H: 1}}},
	}
	for _, spec := range specs {
		a := mustCompute(t, spec, ps, Frame{1280, 720})
		b := mustCompute(t, spec, slices.Clone(ps), Frame{1280, 720})
		// Input order does not matter when join times differ.
		rev := slices.Clone(ps)
		slices.Reverse(rev)
		c := mustCompute(t, spec, rev, Frame{1280, 720})
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
			t.Errorf("%s: not deterministic", spec.Template)
		}
	}
}

func TestInitials(t *testing.T) {
	tests := map[string]string{
		"Ada Lovelace":                 "AL",
		"ada lovelace":                 "AL",
		"Ada":                          "A",
		"Jean-Luc Picard":              "JP",
		"Grace Brewster Murray Hopper": "GH",
		"  Alan   Turing  ":            "AT",
		"ada.lovelace@example.com":     "AL",
		"bob@example.com":              "B",
		"Ada Lovelace (she/her)":       "AL",
		"[Guest] Kim":                  "K",
		"émile zola":                   "ÉZ",
		"山田 太郎":                        "山太",
		"Олег Иванов":                  "ОИ",
		"R2 D2":                        "RD",
		"42":                           "4",
		"":                             "",
		"   ":                          "",
		"!!! ???":                      "",
		"\xff\xfeAda":                  "A",
		"Dr. Ada Lovelace":             "DL",
	}
	for in, want := range tests {
		if got := Initials(in); got != want {
			t.Errorf("Initials(%q) = %q, want %q", in, got, want)
		}
	}
}
