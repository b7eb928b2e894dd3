package ctl

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/live"
)

func TestPrepareStream(t *testing.T) {
	data := t.TempDir()
	s := &Server{cfg: Config{DataDir: data}}
	for _, c := range []struct {
		req StreamRequest
		ok  bool
		dir string // resolved HLS dir, relative to data
	}{
		{req: StreamRequest{}},
		{req: StreamRequest{ID: "a/b"}},
		{req: StreamRequest{Spec: specOf("hls", "hls/room1")}, ok: true, dir: "hls/room1"},
		{req: StreamRequest{Spec: specOf("hls", filepath.Join(data, "abs"))}, ok: true, dir: "abs"},
		{req: StreamRequest{Spec: specOf("hls", "../escape")}},
		{req: StreamRequest{Spec: specOf("hls", "a/../../escape")}},
		{req: StreamRequest{Spec: specOf("hls", "/etc")}},
		{req: StreamRequest{Spec: specOf("hls", ".")}},
		{req: StreamRequest{Spec: specOf("hls", "")}},
		{req: StreamRequest{Spec: specOf("hls", "ok"), Video: &VideoJSON{Codec: "vp8"}}},
		{req: StreamRequest{Spec: specOf("hls", "ok"), Audio: &AudioJSON{Codec: "opus"}}},
		{req: StreamRequest{Spec: specOf("hls", "ok"), Video: &VideoJSON{Width: 1281}}},
	} {
		got, v, a, err := s.prepareStream(c.req)
		if !c.ok {
			if err == nil || !errors.Is(err, ingest.ErrInvalid) {
				t.Errorf("%+v: error %v, want an invalid-request error", c.req, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c.req, err)
			continue
		}
		if rel := s.relData(got.Dir); rel != c.dir {
			t.Errorf("%+v: dir %q (%q), want %q", c.req, got.Dir, rel, c.dir)
		}
		if v.Codec != "h264" || v.Width != 1280 || a.Codec != "aac" || a.BitrateKbps != 128 {
			t.Errorf("%+v: defaults video %+v audio %+v", c.req, v, a)
		}
	}
}

func specOf(typ, dir string) (s live.Spec) {
	s.Type, s.Dir = typ, dir
	return s
}
