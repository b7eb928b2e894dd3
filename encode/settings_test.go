package encode

import (
	"errors"
	"strings"
	"testing"
)

func TestVideoSettingsValidate(t *testing.T) {
	ok := VideoSettings{Codec: H264, Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2500}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(*VideoSettings)
	}{
		{"VideoSettings.Codec", func(s *VideoSettings) { s.Codec = "av1" }},
		{"VideoSettings.Codec", func(s *VideoSettings) { s.Codec = "" }},
		{"VideoSettings.Width", func(s *VideoSettings) { s.Width = 641 }},
		{"VideoSettings.Width", func(s *VideoSettings) { s.Width = 14 }},
		{"VideoSettings.Width", func(s *VideoSettings) { s.Width = 7682 }},
		{"VideoSettings.Height", func(s *VideoSettings) { s.Height = 0 }},
		{"VideoSettings.Height", func(s *VideoSettings) { s.Height = 361 }},
		{"VideoSettings.FPS", func(s *VideoSettings) { s.FPS = 0 }},
		{"VideoSettings.FPS", func(s *VideoSettings) { s.FPS = 121 }},
		{"VideoSettings.BitrateKbps", func(s *VideoSettings) { s.BitrateKbps = 99 }},
		{"VideoSettings.BitrateKbps", func(s *VideoSettings) { s.BitrateKbps = 50001 }},
	}
	for _, tc := range cases {
		s := ok
		tc.edit(&s)
		err := s.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: got %v, want error naming %s", s, err, tc.field)
		}
	}
	for _, s := range []VideoSettings{
		{Codec: VP8, Width: 16, Height: 16, FPS: 1, BitrateKbps: 100},
		{Codec: VP9, Width: 7680, Height: 4320, FPS: 120, BitrateKbps: 50000},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("limits: %v", err)
		}
	}
}

func TestAudioSettingsValidate(t *testing.T) {
	for _, s := range []AudioSettings{{Codec: AAC, BitrateKbps: 128}, {Codec: Opus, BitrateKbps: 16}, {Codec: Opus, BitrateKbps: 320}} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	for _, tc := range []struct {
		s     AudioSettings
		field string
	}{
		{AudioSettings{Codec: "mp3", BitrateKbps: 128}, "AudioSettings.Codec"},
		{AudioSettings{Codec: AAC, BitrateKbps: 8}, "AudioSettings.BitrateKbps"},
		{AudioSettings{Codec: Opus, BitrateKbps: 512}, "AudioSettings.BitrateKbps"},
	} {
		var fe *FieldError
		if err := tc.s.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: got %v, want %s", tc.s, err, tc.field)
		}
	}
}

func TestCheckCompat(t *testing.T) {
	cases := []struct {
		format, video, audio string
		field                string // "" = compatible
		incompatible         bool
	}{
		{FormatMP4, H264, AAC, "", false},
		{FormatMP4, H265, Opus, "", false},
		{FormatMP4, VP9, "", "", false},
		{FormatMP4, "", AAC, "", false},
		{FormatMP4, VP8, AAC, "MuxSpec.Video", true},
		{FormatWebM, VP8, Opus, "", false},
		{FormatWebM, VP9, Opus, "", false},
		{FormatWebM, H264, Opus, "MuxSpec.Video", true},
		{FormatWebM, VP8, AAC, "MuxSpec.Audio", true},
		{FormatMKV, H264, AAC, "", false},
		{FormatMKV, VP8, Opus, "", false},
		{FormatMKV, H265, AAC, "", false},
		{FormatMKV, "av1", AAC, "MuxSpec.Video", true},
		{FormatMKV, H264, "mp3", "MuxSpec.Audio", true},
		{"avi", H264, AAC, "MuxSpec.Format", false},
		{FormatMKV, "", "", "MuxSpec.Video", false},
	}
	for _, tc := range cases {
		err := CheckCompat(tc.format, tc.video, tc.audio)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s/%s/%s: %v", tc.format, tc.video, tc.audio, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || errors.Is(err, ErrIncompatible) != tc.incompatible {
			t.Errorf("%s/%s/%s: got %v, want %s error (incompatible=%v)", tc.format, tc.video, tc.audio, err, tc.field, tc.incompatible)
		}
	}
	if err := CheckCompat(FormatMP4, VP8, ""); err == nil || !strings.Contains(err.Error(), "mp4 cannot carry it (mp4 takes h264, h265, vp9)") {
		t.Errorf("vp8 in mp4 message: %v", err)
	}
}
