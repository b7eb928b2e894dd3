package layouts

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func refs(ids ...string) []Ref {
	out := make([]Ref, len(ids))
	for i, id := range ids {
		out[i] = Ref{id, SourceCamera}
	}
	return out
}

func TestCustomMainAndStrip(t *testing.T) {
	// The classic "speaker + column" composition, written like a Twilio
	// video_layout with two regions.
	spec, err := ParseSpec([]byte(`{"template":"custom","regions":[
		{"id":"main","x":0,"y":0,"w":0.75,"h":1,"z":1,"max_tiles":1,"participants":["@focus"]},
		{"id":"strip","x":0.75,"y":0,"w":0.25,"h":1,"z":2,"max_columns":1,"max_rows":4}]}`))
	if err != nil {
		t.Fatal(err)
	}
	frame := Frame{1280, 720}
	ps := people(6)
	ps[2].Speaking = true
	l := mustCompute(t, spec, ps, frame)
	main := l.Tiles[0]
	if main.ParticipantID != "p2" || main.Region != 0 || main.Z != 1 || main.Role != RoleRegion {
		t.Fatalf("main %+v", main)
	}
	// A one-tile region is a stage: the cell is the whole region.
	if main.Rect != (Rect{0, 0, 960, 720}) || main.Content != (Rect{0, 90, 960, 540}) {
		t.Errorf("main cell %v content %v", main.Rect, main.Content)
	}
	if got, want := ids(l.Tiles[1:]), []string{"p0", "p1", "p3", "p4"}; !slices.Equal(got, want) {
		t.Errorf("strip %v, want %v", got, want)
	}
	for i, tile := range l.Tiles[1:] {
		if tile.Region != 1 || tile.Z != 2 || tile.X < 960 || tile.Rect != (Rect{960, 180 * i, 320, 180}) {
			t.Errorf("strip tile %+v", tile)
		}
	}
	if !reflect.DeepEqual(l.Hidden, refs("p5")) {
		t.Errorf("hidden %v", l.Hidden)
	}

	// show_newest keeps the latest joiners instead, still in join order.
	spec.Regions[1].Reuse = ReuseShowNewest
	l = mustCompute(t, spec, ps, frame)
	if got, want := ids(l.Tiles[1:]), []string{"p1", "p3", "p4", "p5"}; !slices.Equal(got, want) {
		t.Errorf("show_newest strip %v, want %v", got, want)
	}
	if !reflect.DeepEqual(l.Hidden, refs("p0")) {
		t.Errorf("hidden %v", l.Hidden)
	}

	// Focus moves the main tile; cover fills the region.
	spec.Focus, spec.Fit = "p5", FitCover
	l = mustCompute(t, spec, ps, frame)
	if l.Tiles[0].ParticipantID != "p5" || l.Tiles[0].Content != l.Tiles[0].Rect {
		t.Errorf("focus/cover main %+v", l.Tiles[0])
	}
}

func TestCustomOverflow(t *testing.T) {
	frame := Frame{1280, 720}
	ps := people(5)
	left := Region{W: 0.5, H: 1, MaxTiles: 2}
	right := Region{X: 0.5, W: 0.5, H: 1}
	region := func(l Layout, i int) []string {
		var out []string
		for _, tile := range l.Tiles {
			if tile.Region == i {
				out = append(out, tile.ParticipantID)
			}
		}
		return out
	}

	// hide (default): the extras are consumed by the first region.
	spec := Spec{Template: TemplateCustom, Regions: []Region{left, right}}
	l := mustCompute(t, spec, ps, frame)
	if got := region(l, 0); !slices.Equal(got, []string{"p0", "p1"}) {
		t.Errorf("hide: region 0 %v", got)
	}
	if got := region(l, 1); len(got) != 0 {
		t.Errorf("hide: region 1 %v", got)
	}
	if !reflect.DeepEqual(l.Hidden, refs("p2", "p3", "p4")) {
		t.Errorf("hide: hidden %v", l.Hidden)
	}

	// next_region: the extras go on.
	spec.Regions[0].Overflow = OverflowNextRegion
	l = mustCompute(t, spec, ps, frame)
	if got := region(l, 1); !slices.Equal(got, []string{"p2", "p3", "p4"}) {
		t.Errorf("next_region: region 1 %v", got)
	}
	if len(l.Hidden) != 0 {
		t.Errorf("next_region: hidden %v", l.Hidden)
	}

	// grid: the region grows to show everyone.
	spec.Regions[0].Overflow = OverflowGrid
	spec.Regions[0].MaxColumns, spec.Regions[0].MaxRows = 1, 1
	l = mustCompute(t, spec, ps, frame)
	if got := region(l, 0); len(got) != 5 {
		t.Errorf("grid: region 0 %v", got)
	}
	for _, tile := range l.Tiles {
		if tile.X+tile.Width > 640 {
			t.Errorf("grid: tile %v outside region", tile.Rect)
		}
	}
	// With a single candidate a capacity-1 region is still a stage.
	l = mustCompute(t, spec, ps[:1], frame)
	if l.Tiles[0].Rect != (Rect{0, 0, 640, 720}) {
		t.Errorf("grid overflow alone: %v", l.Tiles[0].Rect)
	}
}

func TestCustomFilters(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	ps := []Participant{
		{ID: "host", JoinedAt: at(1)},
		{ID: "guest-1", JoinedAt: at(2)},
		{ID: "guest-2", JoinedAt: at(3)},
		{ID: "bot-rec", JoinedAt: at(4)},
		{ID: "guest-1", Source: SourceScreen, JoinedAt: at(5)},
		{ID: "guestbook", JoinedAt: at(6)},
	}
	spec := Spec{Template: TemplateCustom, Regions: []Region{
		{ID: "screens", W: 1, H: 0.5, Sources: []Source{SourceScreen}},
		{ID: "guests", Y: 0.5, W: 0.5, H: 0.5, Participants: []string{"guest-*"}, Exclude: []string{"*-2"}},
		{ID: "rest", X: 0.5, Y: 0.5, W: 0.5, H: 0.5, Exclude: []string{"bot-*"}},
	}}
	l := mustCompute(t, spec, ps, Frame{1280, 720})
	byRegion := map[int][]string{}
	for _, tile := range l.Tiles {
		byRegion[tile.Region] = append(byRegion[tile.Region], ids([]Tile{tile})[0])
	}
	want := map[int][]string{
		0: {"guest-1/screen"},
		1: {"guest-1"},
		2: {"host", "guest-2", "guestbook"},
	}
	if !reflect.DeepEqual(byRegion, want) {
		t.Errorf("regions %v, want %v", byRegion, want)
	}
	if !reflect.DeepEqual(l.Hidden, refs("bot-rec")) {
		t.Errorf("hidden %v", l.Hidden)
	}
}

func TestCustomCellsExcluded(t *testing.T) {
	// A fixed 2x2 grid with the top-left cell kept free (say for a logo).
	spec := Spec{Template: TemplateCustom, Regions: []Region{{W: 1, H: 1, MaxColumns: 2, MaxRows: 2, CellsExcluded: []int{0}}}}
	l := mustCompute(t, spec, people(4), Frame{1280, 720})
	want := []Rect{{640, 0, 640, 360}, {0, 360, 640, 360}, {640, 360, 640, 360}}
	for i, tile := range l.Tiles {
		if tile.Rect != want[i] {
			t.Errorf("tile %d %v, want %v", i, tile.Rect, want[i])
		}
	}
	if !reflect.DeepEqual(l.Hidden, refs("p3")) {
		t.Errorf("hidden %v", l.Hidden)
	}
	// A 3x3 ring around an excluded centre.
	spec.Regions[0] = Region{W: 1, H: 1, MaxColumns: 3, MaxRows: 3, CellsExcluded: []int{4}}
	l = mustCompute(t, spec, people(8), Frame{1280, 720})
	centre := Rect{426, 240, 426, 240}
	for _, tile := range l.Tiles {
		if tile.Rect.Overlaps(centre) {
			t.Errorf("tile %v covers the excluded centre", tile.Rect)
		}
	}
	if len(l.Tiles) != 8 {
		t.Errorf("%d tiles", len(l.Tiles))
	}
}

func TestCustomReuseNone(t *testing.T) {
	ps := people(4)
	ps[0].Left = true // p0 was shown, then left
	spec := Spec{Template: TemplateCustom, Regions: []Region{{W: 1, H: 1, MaxColumns: 2, MaxRows: 1, Reuse: ReuseNone}}}
	l := mustCompute(t, spec, ps, Frame{1280, 720})
	// p0's cell stays empty: p1 is in the second cell, no room for p2, p3.
	if len(l.Tiles) != 1 || l.Tiles[0].ParticipantID != "p1" || l.Tiles[0].X != 640 {
		t.Errorf("reuse none: %+v", l.Tiles)
	}
	if !reflect.DeepEqual(l.Hidden, refs("p2", "p3")) {
		t.Errorf("hidden %v", l.Hidden)
	}
	// show_oldest reuses the cell.
	spec.Regions[0].Reuse = ReuseShowOldest
	l = mustCompute(t, spec, ps, Frame{1280, 720})
	if got := ids(l.Tiles); !slices.Equal(got, []string{"p1", "p2"}) || l.Tiles[0].X != 0 {
		t.Errorf("show_oldest: %v", got)
	}
	// Departed participants are ignored by every other template.
	l = mustCompute(t, Spec{Template: TemplateGrid}, ps, Frame{1280, 720})
	if got := ids(l.Tiles); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("grid: %v", got)
	}
}

func TestCustomZOrderAndOverlap(t *testing.T) {
	// A custom picture-in-picture: overlapping regions, z decides.
	spec := Spec{Template: TemplateCustom, Regions: []Region{
		{ID: "inset", X: 0.7, Y: 0.7, W: 0.25, H: 0.25, Z: 5, MaxTiles: 1, Participants: []string{"p1"}},
		{ID: "full", W: 1, H: 1, Z: -5, MaxTiles: 1},
	}}
	l := mustCompute(t, spec, people(3), Frame{1920, 1080})
	if got := ids(l.Tiles); !slices.Equal(got, []string{"p0", "p1"}) {
		t.Fatalf("tiles %v", got)
	}
	if l.Tiles[0].Z != -5 || l.Tiles[1].Z != 5 || !l.Tiles[1].Rect.In(l.Tiles[0].Rect) {
		t.Errorf("z order: %+v", l.Tiles)
	}
	if l.Tiles[1].Rect != (Rect{1344, 756, 480, 270}) {
		t.Errorf("inset %v", l.Tiles[1].Rect)
	}
	// Nobody matches: everyone hidden, no tiles.
	spec.Regions = []Region{{W: 1, H: 1, Participants: []string{"nobody"}}}
	l = mustCompute(t, spec, people(2), Frame{640, 360})
	if len(l.Tiles) != 0 || len(l.Hidden) != 2 {
		t.Errorf("no match: %+v", l)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true},
		{"a", "ab", false},
		{"*", "", true},
		{"*", "anything", true},
		{"student*", "student", true},
		{"student*", "studentTeam", true},
		{"student*", "teacher", false},
		{"*-2", "guest-2", true},
		{"*-2", "guest-12", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**a", "ba", true},
		{"a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"[a]", "[a]", true}, // no other metacharacters
		{"?", "x", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}
