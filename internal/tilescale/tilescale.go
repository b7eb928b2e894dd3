// Package tilescale registers slscale, the scaler of the composite's tiles:
// videoscale method=bilinear add-borders=false for the caps it takes, with
// its own kernels for 8-bit 4:2:0 (what the decoders give), where GStreamer
// 1.22's video converter runs its 2-tap passes in scalar C:
//   - the 2/3 downscale — a 3x3 grid of 640x360 in 1280x720, of 1280x720 in
//     1920x1080 — in an SSSE3 kernel (sl_scale32_plane), ~4× faster;
//   - the 3:1 downscale — 720p in a 3x3 grid of 720p — as the mean of each
//     3x3 block (sl_scale31_plane), where GStreamer's 2-tap filter takes
//     the middle pixel: without its aliasing, ~2× faster;
//   - every enlargement and every shrink up to 13:7 — 360p in a 2x2 grid of
//     1080p, a stage tile, 4:3 shrinks — in a general SSSE3 bilinear kernel
//     (sl_bilinear), eight outputs per shuffle;
//
// all with plain-C fallbacks. Larger shrinks (2:1 has a fast path in
// GStreamer) and other formats go through GStreamer's converter with
// videoscale's settings, the same picture byte for byte.
package tilescale

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0
#cgo CFLAGS: -O3
#include "tilescale.h"
*/
import "C"

import (
	"errors"
	"sync"
)

// Factory is the element's factory name.
const Factory = "slscale"

var (
	once   sync.Once
	regErr error
)

// Register makes Factory available to gst.NewElement. GStreamer must be
// initialised first; it is safe to call many times.
func Register() error {
	once.Do(func() {
		if C.sl_tilescale_register() == 0 {
			regErr = errors.New("tilescale: registering " + Factory + " failed")
		}
	})
	return regErr
}

// setScalarOnly keeps the kernel to plain C, as on a CPU without SSSE3
// (tests only: not synchronised with running pipelines).
func setScalarOnly(on bool) {
	C.sl_scalar_only = 0
	if on {
		C.sl_scalar_only = 1
	}
}
