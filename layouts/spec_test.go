package layouts

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSpecValid(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Spec
	}{
		{"minimal grid", `{"template":"grid"}`, Spec{Template: TemplateGrid}},
		{"all common fields", `{"template":"speaker","focus":"alice","background":"#1A2b3C","gap":6,"fit":"cover","labels":true,"position":"right"}`,
			Spec{Template: TemplateSpeaker, Focus: "alice", Background: "#1A2b3C", Gap: 6, Fit: FitCover, Labels: true, Position: PositionRight}},
		{"pip corner", `{"template":"pip","position":"top_left"}`, Spec{Template: TemplatePIP, Position: PositionTopLeft}},
		{"whitespace around", " \n{\"template\":\"single\"}\n\t", Spec{Template: TemplateSingle}},
		{"custom twilio-like", `{
			"template": "custom",
			"regions": [
				{"id": "main", "x": 0, "y": 0, "w": 0.75, "h": 1, "z": 1, "max_tiles": 1, "participants": ["@focus"]},
				{"id": "strip", "x": 0.75, "y": 0, "w": 0.25, "h": 1, "z": 2, "max_columns": 1, "max_rows": 4,
				 "cells_excluded": [0], "sources": ["camera"], "exclude": ["bot-*"], "reuse": "show_newest", "overflow": "next_region"},
				{"x": 0.1, "y": 0.1, "w": 0.9, "h": 0.9, "z": -3, "overflow": "grid"}
			]}`,
			Spec{Template: TemplateCustom, Regions: []Region{
				{ID: "main", W: 0.75, H: 1, Z: 1, MaxTiles: 1, Participants: []string{"@focus"}},
				{ID: "strip", X: 0.75, W: 0.25, H: 1, Z: 2, MaxColumns: 1, MaxRows: 4, CellsExcluded: []int{0},
					Sources: []Source{SourceCamera}, Exclude: []string{"bot-*"}, Reuse: ReuseShowNewest, Overflow: OverflowNextRegion},
				{X: 0.1, Y: 0.1, W: 0.9, H: 0.9, Z: -3, Overflow: OverflowGrid},
			}}},
		{"region at the edge (x+w=1 with float error)", `{"template":"custom","regions":[{"x":0.7,"y":0.9,"w":0.3,"h":0.1}]}`,
			Spec{Template: TemplateCustom, Regions: []Region{{X: 0.7, Y: 0.9, W: 0.3, H: 0.1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSpec([]byte(tc.json))
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseSpec = %+v, want %+v", got, tc.want)
			}
			// Round trip through the encoder.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseSpec(b)
			if err != nil {
				t.Fatalf("ParseSpec(Marshal(spec)) = %v for %s", err, b)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip changed the spec: %+v != %+v", again, got)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	region := func(fields string) string {
		return `{"template":"custom","regions":[{"x":0,"y":0,"w":1,"h":1},{"x":0,"y":0,"w":1,"h":1},{` + fields + `}]}`
	}
	tests := []struct {
		name  string
		json  string
		field string // FieldError.Field
		want  string // substring of the message
	}{
		{"empty input", ``, "", "layout: empty spec"},
		{"not JSON", `template=grid`, "", "invalid JSON"},
		{"truncated", `{"template":"grid"`, "", "unexpected end"},
		{"array", `[]`, "", "must be a JSON object"},
		{"null", `null`, "template", "layout: template: required"},
		{"trailing data", `{"template":"grid"} {}`, "", "unexpected data after the JSON object"},
		{"trailing garbage", `{"template":"grid"}x`, "", "unexpected data"},
		{"unknown field", `{"template":"grid","colour":"#000000"}`, "", `unknown field "colour"`},
		{"unknown region field", region(`"x":0,"y":0,"w":1,"h":1,"x_pos":3`), "regions[2]", `layout: regions[2]: unknown field "x_pos"`},
		{"wrong case", `{"Template":"grid"}`, "", `layout: unknown field "Template" (did you mean "template"?)`},
		{"wrong case in region", region(`"x":0,"y":0,"W":1,"h":1`), "regions[2]", `unknown field "W" (did you mean "w"?)`},
		{"unknown fields sorted", `{"zz":1,"template":"grid","aa":2}`, "", `unknown field "aa"`},
		{"missing template", `{"gap":2}`, "template", "layout: template: required"},
		{"unknown template", `{"template":"mosaic"}`, "template", `layout: template: unknown template "mosaic"`},
		{"template wrong type", `{"template":3}`, "template", "layout: template: must be a string, not number"},
		{"bad colour", `{"template":"grid","background":"red"}`, "background", `layout: background: "red" is not a colour`},
		{"short colour", `{"template":"grid","background":"#fff"}`, "background", "background"},
		{"colour bad digit", `{"template":"grid","background":"#00000g"}`, "background", "background"},
		{"negative gap", `{"template":"grid","gap":-2}`, "gap", "layout: gap: must not be negative"},
		{"huge gap", `{"template":"grid","gap":5000}`, "gap", "layout: gap: must be at most 1024"},
		{"fractional gap", `{"template":"grid","gap":1.5}`, "gap", "layout: gap: must be an integer"},
		{"bad fit", `{"template":"grid","fit":"stretch"}`, "fit", `layout: fit: unknown fit "stretch"`},
		{"labels not bool", `{"template":"grid","labels":"yes"}`, "labels", "must be a boolean"},
		{"position with grid", `{"template":"grid","position":"bottom"}`, "position", "not used by template"},
		{"corner with speaker", `{"template":"speaker","position":"top_left"}`, "position", `"top_left" is not valid for template "speaker"`},
		{"side with pip", `{"template":"pip","position":"left"}`, "position", `"left" is not valid for template "pip"`},
		{"long focus", `{"template":"single","focus":"` + strings.Repeat("a", 300) + `"}`, "focus", "longer than 256"},
		{"regions without custom", `{"template":"grid","regions":[{"x":0,"y":0,"w":1,"h":1}]}`, "regions", `only allowed with template "custom"`},
		{"custom without regions", `{"template":"custom"}`, "regions", "needs at least one region"},
		{"custom with empty regions", `{"template":"custom","regions":[]}`, "regions", "needs at least one region"},
		{"region w zero", region(`"x":0,"y":0,"w":0,"h":1`), "regions[2].w", "layout: regions[2].w: must be in (0,1]"},
		{"region w missing", region(`"x":0,"y":0,"h":1`), "regions[2].w", "layout: regions[2].w: must be in (0,1]"},
		{"region w too big", region(`"x":0,"y":0,"w":1.5,"h":1`), "regions[2].w", "must be in (0,1]"},
		{"region h negative", region(`"x":0,"y":0,"w":1,"h":-0.5`), "regions[2].h", "layout: regions[2].h: must be in (0,1]"},
		{"region x one", region(`"x":1,"y":0,"w":1,"h":1`), "regions[2].x", "layout: regions[2].x: must be in [0,1)"},
		{"region y negative", region(`"x":0,"y":-0.1,"w":1,"h":1`), "regions[2].y", "must be in [0,1)"},
		{"region overflows right", region(`"x":0.5,"y":0,"w":0.6,"h":1`), "regions[2].w", "x+w must not exceed 1"},
		{"region overflows bottom", region(`"x":0,"y":0.5,"w":1,"h":0.6`), "regions[2].h", "y+h must not exceed 1"},
		{"region x string", region(`"x":"0","y":0,"w":1,"h":1`), "regions.x", "must be a number, not string"},
		{"region z", region(`"x":0,"y":0,"w":1,"h":1,"z":100`), "regions[2].z", "must be in [-99,99]"},
		{"region max_tiles", region(`"x":0,"y":0,"w":1,"h":1,"max_tiles":-1`), "regions[2].max_tiles", "must be in [0,1000]"},
		{"region max_columns", region(`"x":0,"y":0,"w":1,"h":1,"max_columns":1001`), "regions[2].max_columns", "must be in [0,1000]"},
		{"region max_rows", region(`"x":0,"y":0,"w":1,"h":1,"max_rows":-3`), "regions[2].max_rows", "must be in [0,1000]"},
		{"region negative cell", region(`"x":0,"y":0,"w":1,"h":1,"cells_excluded":[1,-1]`), "regions[2].cells_excluded[1]", "must be in [0,999999]"},
		{"region all cells excluded", region(`"x":0,"y":0,"w":1,"h":1,"max_columns":2,"max_rows":1,"cells_excluded":[1,0,0]`), "regions[2].cells_excluded", "excludes all 2 cells"},
		{"region empty participant", region(`"x":0,"y":0,"w":1,"h":1,"participants":["a",""]`), "regions[2].participants[1]", "must not be empty"},
		{"region unknown token", region(`"x":0,"y":0,"w":1,"h":1,"exclude":["@speaker"]`), "regions[2].exclude[0]", `unknown token "@speaker"`},
		{"region bad source", region(`"x":0,"y":0,"w":1,"h":1,"sources":["camera","audio"]`), "regions[2].sources[1]", `unknown source "audio"`},
		{"region bad reuse", region(`"x":0,"y":0,"w":1,"h":1,"reuse":"always"`), "regions[2].reuse", `unknown value "always"`},
		{"region bad overflow", region(`"x":0,"y":0,"w":1,"h":1,"overflow":"scroll"`), "regions[2].overflow", `unknown value "scroll"`},
		{"region duplicate id", `{"template":"custom","regions":[{"id":"a","x":0,"y":0,"w":1,"h":1},{"id":"a","x":0,"y":0,"w":1,"h":1}]}`,
			"regions[1].id", `"a" already used by regions[0]`},
		{"too many regions", `{"template":"custom","regions":[` + strings.Repeat(`{"x":0,"y":0,"w":1,"h":1},`, 64) + `{"x":0,"y":0,"w":1,"h":1}]}`,
			"regions", "at most 64 regions"},
		{"too large", `{"template":"grid","focus":"` + strings.Repeat(" ", MaxSpecSize) + `"}`, "", "more than the limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.json))
			if err == nil {
				t.Fatal("ParseSpec succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q (error %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "layout: ") {
				t.Errorf("error %q lacks the layout: prefix", err)
			}
		})
	}
}

func TestValidateGoValues(t *testing.T) {
	nan := func() float64 { var z float64; return z / z }()
	tests := []struct {
		spec  Spec
		field string
	}{
		{Spec{}, "template"},
		{Spec{Template: TemplateCustom, Regions: []Region{{X: nan, W: 1, H: 1}}}, "regions[0].x"},
		{Spec{Template: TemplateCustom, Regions: []Region{{W: nan, H: 1}}}, "regions[0].w"},
		{Spec{Template: TemplateCustom, Regions: []Region{{W: 1, H: 1, CellsExcluded: make([]int, MaxCellsExclude+1)}}}, "regions[0].cells_excluded"},
		{Spec{Template: TemplateCustom, Regions: []Region{{ID: strings.Repeat("r", 257), W: 1, H: 1}}}, "regions[0].id"},
	}
	for _, tc := range tests {
		err := tc.spec.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Validate(%+v) = %v, want an error for field %q", tc.spec, err, tc.field)
		}
	}
	if err := (Spec{Template: TemplateGrid}).Validate(); err != nil {
		t.Errorf("minimal spec: %v", err)
	}
}

func TestColor(t *testing.T) {
	c, err := ParseColor("#FF8000")
	if err != nil {
		t.Fatal(err)
	}
	if c != (Color{255, 128, 0}) || c.String() != "#ff8000" || c.ARGB() != 0xffff8000 {
		t.Errorf("got %v %s %#x", c, c, c.ARGB())
	}
	for _, bad := range []string{"", "#", "ff8000", "#ff800", "#ff80000", "#gg0000", "#ff 000"} {
		if _, err := ParseColor(bad); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseColor(%q) = %v, want ErrInvalidSpec", bad, err)
		}
	}
	b, _ := json.Marshal(struct{ C Color }{c})
	if string(b) != `{"C":"#ff8000"}` {
		t.Errorf("marshal = %s", b)
	}
	var back struct{ C Color }
	if err := json.Unmarshal(b, &back); err != nil || back.C != c {
		t.Errorf("unmarshal = %v %v", back, err)
	}
}
