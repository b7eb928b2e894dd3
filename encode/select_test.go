package encode

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// present marks every candidate of the codecs as installed.
func present(codecs ...string) map[string]bool {
	m := map[string]bool{}
	for _, c := range candidates {
		if slices.Contains(codecs, c.codec) {
			m[c.factory] = true
		}
	}
	return m
}

// hardwareFails makes every hardware candidate fail READY.
func hardwareFails() map[string]error {
	m := map[string]error{}
	for _, c := range candidates {
		if c.hardware() {
			m[c.factory] = errors.New("Could not initialize supporting library.")
		}
	}
	return m
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func outcomes(tried []Attempt) []string {
	var out []string
	for _, a := range tried {
		out = append(out, a.Element+":"+a.Outcome)
	}
	return out
}

func TestSelectOrder(t *testing.T) {
	cases := []struct {
		codec    string
		allHW    string // everything present: first hardware candidate
		noNVENC  string // NVENC elements absent
		software string // every hardware candidate fails READY
	}{
		{H264, "nvh264enc", "vah264enc", "x264enc"},
		{H265, "nvh265enc", "vah265enc", "x265enc"},
		{VP8, "vavp8enc", "vavp8enc", "vp8enc"},
		{VP9, "vavp9enc", "vavp9enc", "vp9enc"},
		{AAC, "fdkaacenc", "fdkaacenc", "fdkaacenc"},
		{Opus, "opusenc", "opusenc", "opusenc"},
	}
	for _, tc := range cases {
		t.Run(tc.codec, func(t *testing.T) {
			// All present and working: the first hardware encoder.
			reg := &FakeRegistry{Present: present(tc.codec)}
			ch, err := Select(tc.codec, Options{}, reg, quietLog())
			if err != nil || ch.Element != tc.allHW || len(ch.Tried) != 0 {
				t.Fatalf("all present: got %+v, %v; want %s", ch, err, tc.allHW)
			}
			if wantHW := tc.allHW != tc.software; ch.Hardware != wantHW {
				t.Errorf("all present: Hardware=%v", ch.Hardware)
			}

			// NVENC absent: the next family, with the NVENC ones recorded.
			reg = &FakeRegistry{Present: present(tc.codec)}
			for _, c := range candidatesFor(tc.codec) {
				if c.family == FamilyNVENC {
					delete(reg.Present, c.factory)
				}
			}
			ch, err = Select(tc.codec, Options{}, reg, quietLog())
			if err != nil || ch.Element != tc.noNVENC {
				t.Fatalf("nvenc absent: got %+v, %v; want %s", ch, err, tc.noNVENC)
			}
			for _, a := range ch.Tried {
				if a.Outcome != OutcomeAbsent || !strings.HasPrefix(a.Element, "nv") {
					t.Errorf("nvenc absent: unexpected attempt %v", a)
				}
			}
			for _, f := range reg.Probed {
				if strings.HasPrefix(f, "nv") {
					t.Errorf("nvenc absent: TryReady called for absent %s", f)
				}
			}

			// All hardware fails READY: software, and Tried says why.
			reg = &FakeRegistry{Present: present(tc.codec), ReadyErr: hardwareFails()}
			ch, err = Select(tc.codec, Options{}, reg, quietLog())
			if err != nil || ch.Element != tc.software || ch.Hardware {
				t.Fatalf("hardware fails: got %+v, %v; want %s", ch, err, tc.software)
			}
			var hw []string
			for _, c := range candidatesFor(tc.codec) {
				if c.hardware() {
					hw = append(hw, c.factory+":"+OutcomeReadyFailed)
				}
			}
			if got := outcomes(ch.Tried); !slices.Equal(got, hw) {
				t.Errorf("hardware fails: Tried %v, want %v", got, hw)
			}
			for _, a := range ch.Tried {
				if !strings.Contains(a.Detail, "supporting library") {
					t.Errorf("Tried detail lost the READY error: %v", a)
				}
			}
			if len(hw) > 0 && !strings.HasPrefix(ch.Reason, "software fallback") {
				t.Errorf("Reason %q", ch.Reason)
			}

			// Prefer=software: software even though hardware works, and the
			// hardware elements are not even opened.
			reg = &FakeRegistry{Present: present(tc.codec)}
			ch, err = Select(tc.codec, Options{Prefer: FamilySoftware}, reg, quietLog())
			if err != nil || ch.Element != tc.software {
				t.Fatalf("prefer software: got %+v, %v", ch, err)
			}
			if !slices.Equal(reg.Probed, []string{tc.software}) {
				t.Errorf("prefer software probed %v", reg.Probed)
			}
			for _, a := range ch.Tried {
				if a.Outcome != OutcomeSkipped || !a.Hardware {
					t.Errorf("prefer software: unexpected attempt %v", a)
				}
			}
		})
	}
}

func TestSelectPreferFamily(t *testing.T) {
	reg := &FakeRegistry{Present: present(H264)}
	ch, err := Select(H264, Options{Prefer: FamilyQSV}, reg, quietLog())
	if err != nil || ch.Element != "qsvh264enc" || !strings.HasPrefix(ch.Reason, "preferred qsv") {
		t.Fatalf("prefer qsv: %+v, %v", ch, err)
	}
	// A preferred family that is missing falls back to the default order.
	delete(reg.Present, "vaapih264enc")
	ch, err = Select(H264, Options{Prefer: FamilyVAAPI}, reg, quietLog())
	if err != nil || ch.Element != "nvh264enc" {
		t.Fatalf("prefer vaapi (absent): %+v, %v", ch, err)
	}
	if got := outcomes(ch.Tried); !slices.Equal(got, []string{"vaapih264enc:absent"}) {
		t.Errorf("Tried %v", got)
	}
	// No hardware VP8 in the preferred family: still works.
	ch, err = Select(VP8, Options{Prefer: FamilyNVENC}, &FakeRegistry{Present: map[string]bool{"vp8enc": true}}, quietLog())
	if err != nil || ch.Element != "vp8enc" {
		t.Fatalf("prefer nvenc for vp8: %+v, %v", ch, err)
	}
}

func TestSelectForce(t *testing.T) {
	all := present(H264, VP8)
	cases := []struct {
		name    string
		codec   string
		force   string
		reg     *FakeRegistry
		want    string // chosen element, or "" for an error
		errPart string
	}{
		{"present", H264, "x264enc", &FakeRegistry{Present: all}, "x264enc", ""},
		{"hardware present", H264, "vaapih264enc", &FakeRegistry{Present: all}, "vaapih264enc", ""},
		{"missing", H264, "vaapih264enc", &FakeRegistry{Present: map[string]bool{"x264enc": true}}, "", "not installed"},
		{"fails READY", H264, "nvh264enc", &FakeRegistry{Present: all, ReadyErr: hardwareFails()}, "", "failed to reach READY"},
		{"wrong codec", VP8, "x264enc", &FakeRegistry{Present: all}, "", "not a known vp8 encoder"},
		{"unknown element", H264, "openh264enc", &FakeRegistry{Present: all}, "", "not a known h264 encoder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := Select(tc.codec, Options{Force: tc.force, Prefer: FamilySoftware}, tc.reg, quietLog())
			if tc.want != "" {
				if err != nil || ch.Element != tc.want || ch.Reason != "forced by configuration" {
					t.Fatalf("got %+v, %v", ch, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "Options.Force" || !errors.Is(err, ErrNoEncoder) || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("got %+v, %v; want Options.Force error containing %q", ch, err, tc.errPart)
			}
			if ch.Element != "" {
				t.Errorf("forced failure still chose %q (no silent fallback)", ch.Element)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	var fe *FieldError
	_, err := Select("av1", Options{}, &FakeRegistry{}, quietLog())
	if !errors.As(err, &fe) || fe.Field != "codec" || !strings.Contains(err.Error(), `"av1"`) {
		t.Errorf("unknown codec: %v", err)
	}
	_, err = Select(H264, Options{Prefer: "cuda"}, &FakeRegistry{}, quietLog())
	if !errors.As(err, &fe) || fe.Field != "Options.Prefer" {
		t.Errorf("unknown prefer: %v", err)
	}
	_, err = Select(H264, Options{}, &FakeRegistry{}, quietLog())
	if !errors.Is(err, ErrNoEncoder) || !strings.Contains(err.Error(), "x264enc: absent") {
		t.Errorf("nothing installed: %v", err)
	}
}

func TestSelectLogsChoiceAndReasons(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := &FakeRegistry{Present: map[string]bool{"x264enc": true, "vaapih264enc": true},
		ReadyErr: map[string]error{"vaapih264enc": errors.New("no VA display")}}
	ch, err := Select(H264, Options{}, reg, log)
	if err != nil || ch.Element != "x264enc" {
		t.Fatalf("%+v, %v", ch, err)
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="encoder candidate rejected" codec=h264 element=nvh264enc outcome=absent`,
		`level=WARN msg="encoder candidate rejected" codec=h264 element=vaapih264enc outcome=ready-failed detail="no VA display"`,
		`level=INFO msg="encoder selected" codec=h264 element=x264enc hardware=false reason="software fallback: no working hardware encoder (`,
		`vaapih264enc: ready-failed (no VA display)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestHardwarePropertyTables(t *testing.T) {
	s := VideoSettings{Codec: H264, Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2500}
	// Keyframe property name per family and its GType in Go terms.
	keyProp := map[string]string{
		"nvh264enc": "gop-size", "nvh265enc": "gop-size", "nvcudah264enc": "gop-size", "nvcudah265enc": "gop-size",
		"vah264enc": "key-int-max", "vah264lpenc": "key-int-max", "vah265enc": "key-int-max", "vavp8enc": "key-int-max", "vavp9enc": "key-int-max",
		"vaapih264enc": "keyframe-period", "vaapih265enc": "keyframe-period", "vaapivp8enc": "keyframe-period", "vaapivp9enc": "keyframe-period",
		"qsvh264enc": "gop-size", "qsvh265enc": "gop-size", "qsvvp9enc": "gop-size",
		"x264enc": "key-int-max", "x265enc": "key-int-max", "vp8enc": "keyframe-max-dist", "vp9enc": "keyframe-max-dist",
	}
	for _, c := range candidates {
		if c.video == nil {
			if c.audio == nil {
				t.Errorf("%s has no property table", c.factory)
			}
			continue
		}
		props := c.video(s)
		names := map[string]any{}
		for _, p := range props {
			if _, dup := names[p.name]; dup {
				t.Errorf("%s: property %s set twice", c.factory, p.name)
			}
			names[p.name] = p.value
			switch p.value.(type) {
			case uint, int, int64, bool, nick:
			default:
				t.Errorf("%s: %s has Go type %T, which maps to no GType used here", c.factory, p.name, p.value)
			}
		}
		// Every encoder gets the target bitrate in its own unit and type.
		switch c.factory {
		case "vp8enc", "vp9enc":
			if names["target-bitrate"] != 2500000 {
				t.Errorf("%s target-bitrate = %#v, want int bit/s", c.factory, names["target-bitrate"])
			}
		default:
			if names["bitrate"] != uint(2500) {
				t.Errorf("%s bitrate = %#v, want uint kbit/s", c.factory, names["bitrate"])
			}
		}
		k, ok := keyProp[c.factory]
		if !ok {
			t.Errorf("%s: no expected keyframe property in the test", c.factory)
			continue
		}
		switch v := names[k].(type) {
		case uint:
			if v != 60 {
				t.Errorf("%s %s = %d, want 60 (2 s)", c.factory, k, v)
			}
		case int:
			if v != 60 {
				t.Errorf("%s %s = %d, want 60 (2 s)", c.factory, k, v)
			}
		default:
			t.Errorf("%s: keyframe property %s = %#v", c.factory, k, names[k])
		}
		if c.hardware() && c.rawFormat != "NV12" || !c.hardware() && c.rawFormat != "I420" {
			t.Errorf("%s: raw format %s", c.factory, c.rawFormat)
		}
	}
}
