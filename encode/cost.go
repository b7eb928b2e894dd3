package encode

import (
	"math"
	"runtime"
)

// refPixelRate is 1280x720 at 30 frames a second, the rate softwareCores
// are measured at.
const refPixelRate = 1280 * 720 * 30

// softwareCores is what each software video encoder, with this package's
// settings, costs encoding 1280x720@30 in real time: CPU-seconds per media
// second above the source's own, medians of paced 10 s gst-launch-1.0 runs
// on a moving test pattern at 1.5 Mbit/s on a 2-core VM (docs/compositing.md,
// "Encoder threads"). libvpx with one thread; x264 with its own thread pool
// (with one thread it measured 0.406, so this errs high). At 640x360@30:
// x264 0.201, VP8 0.084, VP9 0.230, about a quarter, as its pixel rate.
var softwareCores = map[string]float64{H264: 0.487, VP8: 0.227, VP9: 0.549}

// SoftwareCores estimates the CPU (in cores) a software encoder of codec
// takes for w x h at fps frames a second: the measured figure scaled by
// pixel rate. Codecs without a figure (H.265) count as H.264.
func SoftwareCores(codec string, w, h, fps int) float64 {
	c, ok := softwareCores[codec]
	if !ok {
		c = softwareCores[H264]
	}
	return c * float64(w) * float64(h) * float64(fps) / refPixelRate
}

// coresPerThread is how much of a core one encoder thread is planned to
// take: a thread that needs more falls behind at the first contention.
const coresPerThread = 0.6

// Threads is the thread count of a software encoder (x264, libvpx) for a
// rendition: as many threads as its estimated cost needs at coresPerThread
// each, at most the CPUs this process may use (and libvpx's 16). Not
// simply the CPU count: in a live pipeline VP8's worker threads wait for
// each other's rows by spinning, so a second thread on a 640x360@30 stream
// cost 0.389 cores against 0.084 with one (0.417 against 0.227 at
// 1280x720); VP9 with row-mt 0.267 against 0.230 (0.628 against 0.549);
// x264 (zerolatency: sliced threads) left to size its own pool, 0.201
// against 0.177 with one (0.487 against 0.406).
func Threads(codec string, width, height, fps int) int {
	need := int(math.Ceil(SoftwareCores(codec, width, height, fps) / coresPerThread))
	return min(max(need, 1), max(runtime.NumCPU(), 1), 16)
}
