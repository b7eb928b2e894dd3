package layouts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// rng is splitmix64: a tiny deterministic generator driven by fuzz input.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// fuzzParticipants makes n participants with IDs p0.., some guests, screen
// shares of an earlier participant, tied join times, speakers, departed
// participants and all kinds of aspect ratios (valid, invalid, NaN).
func fuzzParticipants(n int, seed uint64) []Participant {
	r := rng(seed)
	aspects := []float64{0, 0, 0, 16.0 / 9, 4.0 / 3, 9.0 / 16, 1, 21.0 / 9, MinAspect, MaxAspect, 0.01, 50, -1, math.NaN(), math.Inf(1)}
	ps := make([]Participant, 0, n)
	for i := range n {
		p := Participant{
			ID:       fmt.Sprintf("p%d", i),
			JoinedAt: time.Unix(int64(r.intn(8)), 0),
			Speaking: r.intn(8) == 0,
			Muted:    r.intn(3) == 0,
			Left:     r.intn(10) == 0,
			Aspect:   aspects[r.intn(len(aspects))],
		}
		switch r.intn(6) {
		case 0:
			p.ID = fmt.Sprintf("guest-%d", i)
		case 1:
			p.Source = SourceScreen
		case 2:
			p.Name = "Name " + p.ID
		}
		ps = append(ps, p)
	}
	return ps
}

func FuzzLayoutSpec(f *testing.F) {
	seeds := []string{
		`{"template":"grid"}`,
		`{"template":"grid","gap":8,"fit":"cover","labels":true,"background":"#102030"}`,
		`{"template":"speaker","focus":"p3","position":"left"}`,
		`{"template":"presentation","focus":"p1"}`,
		`{"template":"pip","position":"top_right","gap":12}`,
		`{"template":"single","focus":"guest-2"}`,
		`{"template":"custom","regions":[{"x":0,"y":0,"w":0.75,"h":1,"z":1,"max_tiles":1,"participants":["@focus"]},{"x":0.75,"y":0,"w":0.25,"h":1,"z":2,"max_columns":1,"max_rows":4,"reuse":"show_newest"}]}`,
		`{"template":"custom","regions":[{"w":1,"h":0.5,"sources":["screen"],"overflow":"next_region","max_tiles":1},{"y":0.5,"w":1,"h":0.5,"participants":["guest-*","p1"],"exclude":["*9"],"overflow":"grid","max_rows":1}]}`,
		`{"template":"custom","regions":[{"w":1,"h":1,"max_columns":3,"max_rows":3,"cells_excluded":[4,0],"reuse":"none"}]}`,
		`{"template":"custom","regions":[{"x":0.999,"y":0.5,"w":0.001,"h":0.5}]}`,
		`{"template":"grid","gap":-1}`,
		`{"template":"custom","regions":[{"x":0,"y":0,"w":1,"h":1},{"x":0.5,"w":0.6,"h":1}]}`,
		`{"template":"grid","extra":1}`,
		`{"template":"grid"} trailing`,
		`[{"template":"grid"}]`,
		`{"template":"grid","gap":1e400}`,
		`{"template":"custom","regions":[{"x":"0"}]}`,
		`{"template`,
		``,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i*3), uint16(1280), uint16(720), uint64(i))
	}
	f.Add([]byte(seeds[0]), uint8(25), uint16(320), uint16(180), uint64(7))
	f.Add([]byte(seeds[2]), uint8(40), uint16(1), uint16(4097), uint64(9))
	f.Fuzz(func(t *testing.T, data []byte, n uint8, w, h uint16, seed uint64) {
		spec, err := ParseSpec(data)
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrInvalidSpec) || !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "layout: ") {
				t.Fatalf("ParseSpec error %q (%T) is not a layout FieldError", err, err)
			}
			return
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("ParseSpec accepted a spec that Validate rejects: %v", err)
		}
		// Encoding a valid spec and parsing it again gives the same spec.
		enc, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSpec(enc)
		if err != nil {
			t.Fatalf("ParseSpec(Marshal(spec)) = %v for %s", err, enc)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip: %s != %s", enc, enc2)
		}

		ps := fuzzParticipants(int(n)%41, seed)
		frame := Frame{int(w) % 4200, int(h) % 4200}
		l, err := Compute(spec, ps, frame)
		if frame.Width < MinFrameSize || frame.Height < MinFrameSize {
			if !errors.Is(err, ErrInvalidFrame) {
				t.Fatalf("frame %v: error %v, want ErrInvalidFrame", frame, err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrFrameTooSmall) {
				t.Fatalf("Compute: unexpected error %v", err)
			}
			if spec.Template != TemplateCustom && frame.Width >= 320 && frame.Height >= 180 && len(ps) <= 25 {
				t.Fatalf("Compute failed for a reasonable frame %v and %d participants: %v", frame, len(ps), err)
			}
			return
		}
		if err := checkLayout(spec, ps, frame, l); err != nil {
			t.Fatalf("invariant: %v\nspec %s\nframe %v\nlayout %+v", err, enc, frame, l)
		}
		l2, err := Compute(spec, slices.Clone(ps), frame)
		if err != nil || !reflect.DeepEqual(l, l2) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}

func FuzzGrid(f *testing.F) {
	f.Add(uint8(0), uint16(1280), uint16(720), uint16(0), uint8(0), false, uint64(0))
	f.Add(uint8(7), uint16(1280), uint16(720), uint16(8), uint8(0), false, uint64(1))
	f.Add(uint8(25), uint16(320), uint16(180), uint16(1024), uint8(1), true, uint64(2))
	f.Add(uint8(13), uint16(720), uint16(1280), uint16(5), uint8(3), false, uint64(3))
	f.Add(uint8(63), uint16(3), uint16(4199), uint16(2), uint8(6), true, uint64(4))
	f.Add(uint8(2), uint16(2), uint16(2), uint16(0), uint8(5), false, uint64(5))
	f.Fuzz(func(t *testing.T, n uint8, w, h, gap uint16, aspectSel uint8, cover bool, seed uint64) {
		count := int(n) % 64
		frame := Frame{int(w) % 4200, int(h) % 4200}
		if frame.Width < MinFrameSize || frame.Height < MinFrameSize {
			return
		}
		aspects := []float64{0, 4.0 / 3, 1, 9.0 / 16, 21.0 / 9, MinAspect, MaxAspect}
		aspect := DefaultAspect
		ps := people(count)
		r := rng(seed)
		if i := int(aspectSel) % (len(aspects) + 1); i < len(aspects) {
			// Everyone agrees on an aspect.
			if aspects[i] != 0 {
				aspect = aspects[i]
			}
			for j := range ps {
				ps[j].Aspect = aspects[i]
			}
		} else {
			// Mixed aspects: 16:9 cells, unless they happen to agree.
			for j := range ps {
				ps[j].Aspect = aspects[r.intn(len(aspects))]
			}
			if count > 0 && ps[0].Aspect != 0 && !slices.ContainsFunc(ps, func(p Participant) bool { return p.Aspect != ps[0].Aspect }) {
				aspect = ps[0].Aspect
			}
		}
		// Shuffle the input: join time, not input order, decides.
		for i := len(ps) - 1; i > 0; i-- {
			j := r.intn(i + 1)
			ps[i], ps[j] = ps[j], ps[i]
		}
		spec := Spec{Template: TemplateGrid, Gap: int(gap) % (MaxGap + 1)}
		if cover {
			spec.Fit = FitCover
		}
		l, err := Compute(spec, ps, frame)
		if err != nil {
			if !errors.Is(err, ErrFrameTooSmall) {
				t.Fatalf("unexpected error %v", err)
			}
			if frame.Width >= 320 && frame.Height >= 180 && count <= 25 {
				t.Fatalf("grid of %d failed in %v: %v", count, frame, err)
			}
			return
		}
		if err := checkLayout(spec, ps, frame, l); err != nil {
			t.Fatalf("invariant: %v", err)
		}
		if err := checkGrid(l, frame, count, aspect); err != nil {
			t.Fatalf("grid: %v\nlayout %+v", err, l.Tiles)
		}
		// No arrangement gives visibly larger tiles (checked without gaps,
		// where the ideal size is easy to state).
		if spec.Gap == 0 && count > 0 {
			fw, fh := float64(frame.Width&^1), float64(frame.Height&^1)
			best := 0.0
			for cols := 1; cols <= count; cols++ {
				rows := (count + cols - 1) / cols
				best = max(best, min(fw/float64(cols), fh/float64(rows)*aspect))
			}
			if got := float64(l.Tiles[0].Width); got < best-3-2*aspect {
				t.Fatalf("tiles %d wide, %.1f possible", l.Tiles[0].Width, best)
			}
		}
	})
}

// FuzzCustom builds random custom-region specs (the most intricate template)
// from the seed and checks Compute's invariants on them.
func FuzzCustom(f *testing.F) {
	f.Add(uint8(6), uint16(1280), uint16(720), uint64(1), uint64(2))
	f.Add(uint8(25), uint16(320), uint16(180), uint64(3), uint64(4))
	f.Add(uint8(40), uint16(4199), uint16(2), uint64(5), uint64(6))
	f.Fuzz(func(t *testing.T, n uint8, w, h uint16, specSeed, peopleSeed uint64) {
		r := rng(specSeed)
		coords := []float64{0, 0.001, 0.1, 0.25, 1.0 / 3, 0.5, 0.75, 0.9, 0.999}
		pick := func(vs ...string) string { return vs[r.intn(len(vs))] }
		spec := Spec{Template: TemplateCustom, Gap: []int{0, 2, 5, 40, MaxGap}[r.intn(5)], Focus: fmt.Sprintf("p%d", r.intn(10))}
		if r.intn(2) == 0 {
			spec.Fit = FitCover
		}
		for range 1 + r.intn(5) {
			x, y := coords[r.intn(len(coords))], coords[r.intn(len(coords))]
			reg := Region{
				X: x, Y: y,
				W:          max(1-x, 0.001) * []float64{1, 0.5, 0.01, 0.3}[r.intn(4)],
				H:          max(1-y, 0.001) * []float64{1, 0.5, 0.01, 0.3}[r.intn(4)],
				Z:          r.intn(2*MaxZ+1) - MaxZ,
				MaxTiles:   []int{0, 0, 1, 2, 5}[r.intn(5)],
				MaxColumns: []int{0, 0, 1, 2, 3, 1000}[r.intn(6)],
				MaxRows:    []int{0, 0, 1, 2, 3, 1000}[r.intn(6)],
				Reuse:      Reuse(pick("", "show_oldest", "show_newest", "none")),
				Overflow:   Overflow(pick("", "hide", "grid", "next_region")),
			}
			for range r.intn(3) {
				reg.CellsExcluded = append(reg.CellsExcluded, r.intn(12))
			}
			for range r.intn(3) {
				reg.Participants = append(reg.Participants, pick("@focus", "p1", "p*", "guest-*", "*1", "*", "nobody"))
			}
			for range r.intn(2) {
				reg.Exclude = append(reg.Exclude, pick("@focus", "p2", "*3", "guest-*"))
			}
			for range r.intn(2) {
				reg.Sources = append(reg.Sources, Source(pick("camera", "screen")))
			}
			spec.Regions = append(spec.Regions, reg)
		}
		if spec.Validate() != nil {
			return
		}
		ps := fuzzParticipants(int(n)%41, peopleSeed)
		frame := Frame{max(int(w)%4200, 2), max(int(h)%4200, 2)}
		l, err := Compute(spec, ps, frame)
		if err != nil {
			if !errors.Is(err, ErrFrameTooSmall) || !strings.HasPrefix(err.Error(), "layout: regions[") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := checkLayout(spec, ps, frame, l); err != nil {
			enc, _ := json.Marshal(spec)
			t.Fatalf("invariant: %v\nspec %s\nframe %v", err, enc, frame)
		}
		// Within a region, respect the capacity unless overflow is "grid".
		perRegion := map[int]int{}
		for _, tile := range l.Tiles {
			perRegion[tile.Region]++
		}
		for i, reg := range spec.Regions {
			if c := reg.capacity(sortedUnique(reg.CellsExcluded)); c >= 0 && reg.Overflow != OverflowGrid && perRegion[i] > c {
				t.Fatalf("regions[%d]: %d tiles, capacity %d", i, perRegion[i], c)
			}
		}
	})
}
