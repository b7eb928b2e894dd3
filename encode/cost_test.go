package encode

import (
	"math"
	"runtime"
	"testing"
)

func TestSoftwareCoresScaleByPixelRate(t *testing.T) {
	for _, tc := range []struct {
		codec     string
		w, h, fps int
		want      float64
	}{
		{H264, 1280, 720, 30, 0.487},
		{VP8, 1280, 720, 30, 0.227},
		{VP9, 1280, 720, 30, 0.549},
		{VP8, 640, 360, 30, 0.227 / 4},
		{VP9, 1920, 1080, 60, 0.549 * 4.5},
		{H265, 1280, 720, 15, 0.487 / 2}, // no figure of its own: as H.264
	} {
		if got := SoftwareCores(tc.codec, tc.w, tc.h, tc.fps); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("SoftwareCores(%s, %dx%d@%d) = %.4f, want %.4f", tc.codec, tc.w, tc.h, tc.fps, got, tc.want)
		}
	}
}

func TestThreadsFollowTheCost(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, tc := range []struct {
		codec     string
		w, h, fps int
		want      int
	}{
		{VP8, 640, 360, 30, 1},
		{VP8, 1280, 720, 30, 1},
		{VP9, 1280, 720, 30, 1},   // 0.55 cores: one thread
		{VP8, 1920, 1080, 60, 2},  // 1.02 cores
		{VP9, 1920, 1080, 30, 3},  // 1.24 cores
		{VP9, 7680, 4320, 60, 16}, // libvpx's most
		{VP8, 16, 16, 1, 1},       // never none
	} {
		want := min(tc.want, cpus)
		if got := Threads(tc.codec, tc.w, tc.h, tc.fps); got != want {
			t.Errorf("Threads(%s %dx%d@%d) = %d, want %d (%d CPUs)", tc.codec, tc.w, tc.h, tc.fps, got, want, cpus)
		}
	}
}
