package layouts

import (
	"cmp"
	"fmt"
	"time"
)

// people returns n camera participants p0..p(n-1) joined one second apart.
func people(n int) []Participant {
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{ID: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("Person %d", i), JoinedAt: time.Unix(int64(1000+i), 0)}
	}
	return ps
}

func even(v int) bool { return v%2 == 0 }

func evenRect(r Rect) bool { return even(r.X) && even(r.Y) && even(r.Width) && even(r.Height) }

// checkLayout verifies the invariants Compute promises for every layout.
func checkLayout(spec Spec, ps []Participant, frame Frame, l Layout) error {
	fr := Rect{Width: frame.Width &^ 1, Height: frame.Height &^ 1}
	if l.Frame != frame {
		return fmt.Errorf("Frame = %v, want %v", l.Frame, frame)
	}
	present := make(map[Ref]bool)
	for _, p := range ps {
		if !p.Left {
			present[Ref{p.ID, cmp.Or(p.Source, SourceCamera)}] = true
		}
	}
	seen := make(map[Ref]bool)
	for i, t := range l.Tiles {
		ref := Ref{t.ParticipantID, t.Source}
		switch {
		case seen[ref]:
			return fmt.Errorf("tile %d: %v placed twice", i, ref)
		case !present[ref]:
			return fmt.Errorf("tile %d: %v is not a present participant", i, ref)
		case t.Width < 2 || t.Height < 2 || t.Content.Width < 2 || t.Content.Height < 2:
			return fmt.Errorf("tile %d: empty cell %v or content %v", i, t.Rect, t.Content)
		case !evenRect(t.Rect) || !evenRect(t.Content):
			return fmt.Errorf("tile %d: odd cell %v or content %v", i, t.Rect, t.Content)
		case !t.Rect.In(fr):
			return fmt.Errorf("tile %d: cell %v outside frame %v", i, t.Rect, fr)
		case !t.Content.In(t.Rect):
			return fmt.Errorf("tile %d: content %v outside cell %v", i, t.Content, t.Rect)
		case !(t.Crop.X >= 0 && t.Crop.Y >= 0 && t.Crop.Width > 0 && t.Crop.Height > 0 &&
			t.Crop.X+t.Crop.Width <= 1+1e-9 && t.Crop.Y+t.Crop.Height <= 1+1e-9):
			return fmt.Errorf("tile %d: bad crop %+v", i, t.Crop)
		case i > 0 && l.Tiles[i-1].Z > t.Z:
			return fmt.Errorf("tile %d: not sorted by z", i)
		case (l.Template == TemplateCustom) != (t.Region >= 0):
			return fmt.Errorf("tile %d: region %d with template %s", i, t.Region, l.Template)
		case t.Region >= len(spec.Regions):
			return fmt.Errorf("tile %d: region %d out of range", i, t.Region)
		}
		if t.Region >= 0 && t.Z != spec.Regions[t.Region].Z {
			return fmt.Errorf("tile %d: z %d, region z %d", i, t.Z, spec.Regions[t.Region].Z)
		}
		seen[ref] = true
	}
	for _, h := range l.Hidden {
		if seen[h] || !present[h] {
			return fmt.Errorf("hidden %v is shown or not present", h)
		}
		seen[h] = true
	}
	if len(seen) != len(present) {
		return fmt.Errorf("%d present participants, but %d tiles and %d hidden", len(present), len(l.Tiles), len(l.Hidden))
	}
	for i, a := range l.Tiles {
		for _, b := range l.Tiles[i+1:] {
			if !a.Rect.Overlaps(b.Rect) {
				continue
			}
			pipInset := l.Template == TemplatePIP && (a.Role == RoleInset || b.Role == RoleInset)
			otherRegions := l.Template == TemplateCustom && a.Region != b.Region
			if !pipInset && !otherRegions {
				return fmt.Errorf("tiles %v %v and %v %v overlap", a.ParticipantID, a.Rect, b.ParticipantID, b.Rect)
			}
		}
	}
	n := len(present)
	want := -1
	switch l.Template {
	case TemplateGrid, TemplateSpeaker, TemplatePresentation:
		want = n
	case TemplatePIP:
		want = min(n, 2)
	case TemplateSingle:
		want = min(n, 1)
	}
	if want >= 0 && len(l.Tiles) != want {
		return fmt.Errorf("%s: %d tiles for %d participants, want %d", l.Template, len(l.Tiles), n, want)
	}
	if l.Template != spec.Template && !(spec.Template == TemplatePresentation && l.Template == TemplateGrid) {
		return fmt.Errorf("template %s used for spec %s", l.Template, spec.Template)
	}
	bg := cmp.Or(spec.Background, DefaultBackground)
	if c, _ := ParseColor(bg); c != l.Background {
		return fmt.Errorf("background %v, want %v", l.Background, bg)
	}
	return nil
}
