// Package tilescale registers slscale, the scaler of the composite's tiles:
// videoscale method=bilinear add-borders=false for the caps it takes and
// the pictures it makes, except that the 2/3 downscale of 8-bit 4:2:0
// video — a 3x3 grid of 640x360 in 1280x720, of 1280x720 in 1920x1080 —
// runs in a SIMD kernel, about five times faster than GStreamer 1.22's
// scalar 2-tap pass (docs/compositing.md). Other sizes and formats go
// through GStreamer's video converter, as videoscale's do.
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
