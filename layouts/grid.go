package layouts

import (
	"fmt"
	"math"
	"slices"
)

// evenFloor rounds v down to an even number (v >= 0).
func evenFloor(v int) int { return v &^ 1 }

// evenFloorF rounds a non-negative float down to an even int, saturating at
// MaxFrameSize so that absurd values cannot overflow.
func evenFloorF(v float64) int {
	if !(v > 0) {
		return 0
	}
	if v > MaxFrameSize {
		return MaxFrameSize
	}
	return int(v) &^ 1
}

// evenRoundF rounds a non-negative float to the nearest even int, saturating
// at MaxFrameSize.
func evenRoundF(v float64) int {
	if !(v > 0) {
		return 0
	}
	if v > MaxFrameSize {
		return MaxFrameSize
	}
	return 2 * int(math.Floor(v/2+0.5))
}

// sortedUnique returns the distinct values of cells in increasing order.
func sortedUnique(cells []int) []int {
	if len(cells) == 0 {
		return nil
	}
	out := slices.Clone(cells)
	slices.Sort(out)
	return slices.Compact(out)
}

// countBelow counts the values of the sorted slice s that are < n.
func countBelow(s []int, n int) int {
	i, _ := slices.BinarySearch(s, n)
	return i
}

// gridConstraints limit a sub-grid.
type gridConstraints struct {
	maxCols, maxRows int   // 0 means no limit
	excluded         []int // sorted, distinct cell indices left empty
}

// gridPlan is a chosen arrangement.
type gridPlan struct {
	cols, rows int
	tw, th     int // tile size (even)
	gap        int // gap actually used (even)
}

// planGrid picks the arrangement of n tiles of the given aspect in area that
// gives the largest tiles. The second result is false when no arrangement
// gives every tile at least 2x2 pixels.
func planGrid(area Rect, n int, aspect float64, gap int, c gridConstraints) (gridPlan, bool) {
	var best gridPlan
	var bestArea, bestEmpty int
	found := false
	limit := n + len(c.excluded)
	if c.maxCols > 0 {
		limit = min(limit, c.maxCols)
	}
	for cols := 1; cols <= limit; cols++ {
		rows := (n + cols - 1) / cols
		for cols*rows-countBelow(c.excluded, cols*rows) < n {
			rows++
		}
		if c.maxRows > 0 && rows > c.maxRows {
			continue
		}
		// Tiles are gap apart and at least gap from the area's edges; the
		// gap is reduced so that gaps take at most a quarter of the area.
		g := min(gap, evenFloor(area.Width/(4*(cols+1))), evenFloor(area.Height/(4*(rows+1))))
		cellW := float64(area.Width-(cols+1)*g) / float64(cols)
		cellH := float64(area.Height-(rows+1)*g) / float64(rows)
		// The largest tile of the aspect that fits, rounded to even sizes
		// while keeping the aspect as exact as the rounding allows.
		tw := evenFloorF(min(cellW, cellH*aspect))
		th := evenRoundF(float64(tw) / aspect)
		if maxH := evenFloorF(cellH); th > maxH {
			th = maxH
			tw = min(tw, evenRoundF(float64(th)*aspect))
		}
		if tw < 2 || th < 2 {
			continue
		}
		a := tw * th
		empty := cols*rows - n
		better := !found || a > bestArea || (a == bestArea && empty < bestEmpty) ||
			// Same size and fill: prefer wide arrangements in wide areas.
			(a == bestArea && empty == bestEmpty && area.Width >= area.Height)
		if better {
			best = gridPlan{cols: cols, rows: rows, tw: tw, th: th, gap: g}
			bestArea, bestEmpty, found = a, empty, true
		}
	}
	return best, found
}

// place returns the cells of n tiles arranged by p in area, in fill order
// (row by row, skipping excluded cells). Without exclusions a partial last
// row is centred.
func (p gridPlan) place(area Rect, n int, excluded []int) []Rect {
	blockW := p.cols*p.tw + (p.cols-1)*p.gap
	blockH := p.rows*p.th + (p.rows-1)*p.gap
	x0 := area.X + evenFloor((area.Width-blockW)/2)
	y0 := area.Y + evenFloor((area.Height-blockH)/2)
	cells := make([]Rect, 0, n)
	for idx := 0; len(cells) < n; idx++ {
		if _, skip := slices.BinarySearch(excluded, idx); skip {
			continue
		}
		col, row := idx%p.cols, idx/p.cols
		x := x0 + col*(p.tw+p.gap)
		if len(excluded) == 0 && row == p.rows-1 {
			if k := n - row*p.cols; k < p.cols {
				rowW := k*p.tw + (k-1)*p.gap
				x = area.X + evenFloor((area.Width-rowW)/2) + col*(p.tw+p.gap)
			}
		}
		cells = append(cells, Rect{X: x, Y: y0 + row*(p.th+p.gap), Width: p.tw, Height: p.th})
	}
	return cells
}

// groupAspect is the cell aspect for a group of tracks: their common aspect
// when every one reports the same, else DefaultAspect.
func groupAspect(es []*entry) float64 {
	if len(es) == 0 || es[0].aspect == 0 {
		return DefaultAspect
	}
	for _, e := range es[1:] {
		if e.aspect != es[0].aspect {
			return DefaultAspect
		}
	}
	return es[0].aspect
}

// gridCells lays out n cells for the tracks es (of which only the aspect is
// used) in area.
func (b *builder) gridCells(area Rect, es []*entry, c gridConstraints, what string) ([]Rect, error) {
	if len(es) == 0 {
		return nil, nil
	}
	plan, ok := planGrid(area, len(es), groupAspect(es), b.gap, c)
	if !ok {
		return nil, fmt.Errorf("layout: %s: %w: %d tiles do not fit in %dx%d pixels", what, ErrFrameTooSmall, len(es), area.Width, area.Height)
	}
	return plan.place(area, len(es), c.excluded), nil
}

// stageCell is the cell of a track that fills area: area inset by the gap.
func (b *builder) stageCell(area Rect, what string) (Rect, error) {
	g := min(b.gap, evenFloor(area.Width/8), evenFloor(area.Height/8))
	cell := Rect{X: area.X + g, Y: area.Y + g, Width: area.Width - 2*g, Height: area.Height - 2*g}
	if cell.Width < 2 || cell.Height < 2 {
		return Rect{}, fmt.Errorf("layout: %s: %w: %dx%d pixels", what, ErrFrameTooSmall, area.Width, area.Height)
	}
	return cell, nil
}

// fitContent returns where a video of the given aspect is drawn in cell, and
// the visible part of the source.
func fitContent(cell Rect, aspect float64, fit Fit) (Rect, NormRect) {
	full := NormRect{Width: 1, Height: 1}
	cellAspect := float64(cell.Width) / float64(cell.Height)
	if fit == FitCover {
		crop := full
		if aspect > cellAspect {
			crop.Width = cellAspect / aspect
			crop.X = (1 - crop.Width) / 2
		} else if aspect < cellAspect {
			crop.Height = aspect / cellAspect
			crop.Y = (1 - crop.Height) / 2
		}
		return cell, crop
	}
	w, h := float64(cell.Width), float64(cell.Width)/aspect
	if h > float64(cell.Height) {
		w, h = float64(cell.Height)*aspect, float64(cell.Height)
	}
	if float64(cell.Width)-w < 2 && float64(cell.Height)-h < 2 {
		// Only even rounding separates the aspects: no letterbox.
		return cell, full
	}
	cw := min(max(evenRoundF(w), 2), cell.Width)
	ch := min(max(evenRoundF(h), 2), cell.Height)
	return Rect{
		X:      cell.X + evenFloor((cell.Width-cw)/2),
		Y:      cell.Y + evenFloor((cell.Height-ch)/2),
		Width:  cw,
		Height: ch,
	}, full
}
