package layouts

import (
	"cmp"
	"fmt"
	"slices"
)

// grid lays out every present track in one grid.
func (b *builder) grid() error {
	cells, err := b.gridCells(b.frame, b.present, gridConstraints{}, "grid")
	if err != nil {
		return err
	}
	for i, e := range b.present {
		b.add(e, cells[i], 0, RoleGrid, -1)
	}
	return nil
}

// speaker shows the focused track on the stage and the others in a filmstrip.
func (b *builder) speaker() error {
	main := b.focused(false)
	if main == nil {
		return nil
	}
	return b.stageAndStrip(main, cmp.Or(b.spec.Position, PositionBottom), "speaker")
}

// presentation shows a screen share on the stage and the others in a
// sidebar. It reports true, having laid out a grid, when nobody shares.
func (b *builder) presentation() (bool, error) {
	var main *entry
	for _, e := range b.present {
		if e.ref.Source != SourceScreen {
			continue
		}
		if main == nil || (e.p.ID == b.spec.Focus && main.p.ID != b.spec.Focus) {
			main = e
		}
	}
	if main == nil {
		return true, b.grid()
	}
	return false, b.stageAndStrip(main, cmp.Or(b.spec.Position, PositionRight), "presentation")
}

// stageAndStrip puts main on the stage and every other present track in a
// strip a fifth of the frame thick along side pos.
func (b *builder) stageAndStrip(main *entry, pos Position, what string) error {
	others := without(b.present, main)
	f := b.frame
	if len(others) == 0 {
		cell, err := b.stageCell(f, what+" stage")
		if err != nil {
			return err
		}
		b.add(main, cell, 0, RoleStage, -1)
		return nil
	}
	var stage, strip Rect
	switch pos {
	case PositionTop:
		t := evenFloor(f.Height / 5)
		strip, stage = Rect{0, 0, f.Width, t}, Rect{0, t, f.Width, f.Height - t}
	case PositionLeft:
		t := evenFloor(f.Width / 5)
		strip, stage = Rect{0, 0, t, f.Height}, Rect{t, 0, f.Width - t, f.Height}
	case PositionRight:
		t := evenFloor(f.Width / 5)
		strip, stage = Rect{f.Width - t, 0, t, f.Height}, Rect{0, 0, f.Width - t, f.Height}
	default: // PositionBottom
		t := evenFloor(f.Height / 5)
		strip, stage = Rect{0, f.Height - t, f.Width, t}, Rect{0, 0, f.Width, f.Height - t}
	}
	// The stage keeps the gap from the frame's edges, but not on the strip
	// side: the strip's own margin separates the two.
	g := min(b.gap, evenFloor(stage.Width/8), evenFloor(stage.Height/8))
	cell := Rect{stage.X + g, stage.Y + g, stage.Width - 2*g, stage.Height - 2*g}
	switch pos {
	case PositionTop:
		cell.Y, cell.Height = stage.Y, cell.Height+g
	case PositionLeft:
		cell.X, cell.Width = stage.X, cell.Width+g
	case PositionRight:
		cell.Width += g
	default:
		cell.Height += g
	}
	if cell.Width < 2 || cell.Height < 2 {
		return fmt.Errorf("layout: %s stage: %w: %dx%d pixels", what, ErrFrameTooSmall, stage.Width, stage.Height)
	}
	cells, err := b.gridCells(strip, others, gridConstraints{}, what+" filmstrip")
	if err != nil {
		return err
	}
	b.add(main, cell, 0, RoleStage, -1)
	for i, e := range others {
		b.add(e, cells[i], 1, RoleFilmstrip, -1)
	}
	return nil
}

// pip shows the focused track full frame and the next one as an inset.
func (b *builder) pip() error {
	main := b.focused(false)
	if main == nil {
		return nil
	}
	f := b.frame
	cell, err := b.stageCell(f, "pip stage")
	if err != nil {
		return err
	}
	others := without(b.present, main)
	if len(others) == 0 {
		b.add(main, cell, 0, RoleStage, -1)
		return nil
	}
	inset := others[0]
	aspect := cmp.Or(inset.aspect, DefaultAspect)
	iw := float64(f.Width) / 4
	ih := iw / aspect
	if limit := float64(f.Height) / 4; ih > limit {
		iw, ih = limit*aspect, limit
	}
	w, h := evenFloorF(iw), evenFloorF(ih)
	if w < 2 || h < 2 {
		return fmt.Errorf("layout: pip inset: %w: %dx%d frame", ErrFrameTooSmall, f.Width, f.Height)
	}
	m := max(b.gap, evenFloor(min(f.Width, f.Height)/40))
	m = min(m, evenFloor(f.Width/8), evenFloor(f.Height/8))
	r := Rect{X: f.Width - m - w, Y: f.Height - m - h, Width: w, Height: h}
	switch b.spec.Position {
	case PositionTopLeft:
		r.X, r.Y = m, m
	case PositionTopRight:
		r.Y = m
	case PositionBottomLeft:
		r.X = m
	}
	b.add(main, cell, 0, RoleStage, -1)
	b.add(inset, r, 1, RoleInset, -1)
	return nil
}

// single shows the focused track full frame.
func (b *builder) single() error {
	main := b.focused(false)
	if main == nil {
		return nil
	}
	cell, err := b.stageCell(b.frame, "single stage")
	if err != nil {
		return err
	}
	b.add(main, cell, 0, RoleStage, -1)
	return nil
}

// custom fills the spec's regions in declaration order.
func (b *builder) custom() error {
	primary := b.focused(false)
	taken := make(map[*entry]bool, len(b.all))
	for i, r := range b.spec.Regions {
		what := fmt.Sprintf("regions[%d]", i)
		// A region too small for any tile is a spec error for this frame,
		// reported even while it is empty so that it shows up early.
		area := regionRect(r, b.frame)
		if area.Width < 2 || area.Height < 2 {
			return fmt.Errorf("layout: %s: %w: the region is %dx%d pixels of a %dx%d frame",
				what, ErrFrameTooSmall, area.Width, area.Height, b.frame.Width, b.frame.Height)
		}
		excluded := sortedUnique(r.CellsExcluded)
		var cands []*entry
		for _, e := range b.all {
			if taken[e] || (e.p.Left && r.Reuse != ReuseNone) {
				continue
			}
			if r.accepts(e, primary) {
				cands = append(cands, e)
			}
		}
		capacity := r.capacity(excluded)
		shown, rest := cands, []*entry(nil)
		if capacity >= 0 && len(cands) > capacity && r.Overflow != OverflowGrid {
			if r.Reuse == ReuseShowNewest {
				k := len(cands) - capacity
				shown, rest = cands[k:], cands[:k]
			} else {
				shown, rest = cands[:capacity], cands[capacity:]
			}
		}
		for _, e := range shown {
			taken[e] = true
		}
		if r.Overflow != OverflowNextRegion {
			for _, e := range rest {
				taken[e] = true
			}
		}
		if !slices.ContainsFunc(shown, func(e *entry) bool { return !e.p.Left }) {
			continue
		}
		var cells []Rect
		if capacity == 1 && len(shown) == 1 {
			cell, err := b.stageCell(area, what)
			if err != nil {
				return err
			}
			cells = []Rect{cell}
		} else {
			c := gridConstraints{excluded: excluded}
			if r.Overflow != OverflowGrid {
				c.maxCols, c.maxRows = r.MaxColumns, r.MaxRows
			}
			var err error
			if cells, err = b.gridCells(area, shown, c, what); err != nil {
				return err
			}
		}
		for j, e := range shown {
			if !e.p.Left {
				b.add(e, cells[j], r.Z, RoleRegion, i)
			}
		}
	}
	return nil
}

// regionRect converts r's normalised rectangle to even-aligned pixels in f.
func regionRect(r Region, f Rect) Rect {
	x0 := min(evenRoundF(r.X*float64(f.Width)), f.Width)
	x1 := min(evenRoundF((r.X+r.W)*float64(f.Width)), f.Width)
	y0 := min(evenRoundF(r.Y*float64(f.Height)), f.Height)
	y1 := min(evenRoundF((r.Y+r.H)*float64(f.Height)), f.Height)
	return Rect{X: x0, Y: y0, Width: max(x1-x0, 0), Height: max(y1-y0, 0)}
}

// capacity is how many tracks r shows without overflowing, or -1 for no
// limit.
func (r Region) capacity(excluded []int) int {
	c := -1
	if r.MaxColumns > 0 && r.MaxRows > 0 {
		n := r.MaxColumns * r.MaxRows
		c = n - countBelow(excluded, n)
	}
	if r.MaxTiles > 0 && (c < 0 || r.MaxTiles < c) {
		c = r.MaxTiles
	}
	return c
}

// accepts reports whether e passes r's filters.
func (r Region) accepts(e, primary *entry) bool {
	if len(r.Sources) > 0 && !slices.Contains(r.Sources, e.ref.Source) {
		return false
	}
	matches := func(p string) bool {
		if p == FocusToken {
			return e == primary
		}
		return globMatch(p, e.p.ID)
	}
	if len(r.Participants) > 0 && !slices.ContainsFunc(r.Participants, matches) {
		return false
	}
	return !slices.ContainsFunc(r.Exclude, matches)
}

// globMatch reports whether s matches pattern, where '*' matches any run of
// bytes and every other byte matches itself. It runs in O(len(pattern) *
// len(s)) time at worst.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
