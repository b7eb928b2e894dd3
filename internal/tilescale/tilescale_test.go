package tilescale

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
)

func TestMain(m *testing.M) {
	gstx.Init()
	if err := Register(); err != nil {
		panic(err)
	}
	m.Run()
}

// i420 is one decoded I420 frame: its planes without the stride padding.
type i420 struct {
	w, h   int
	planes [3][]byte
}

func round4(n int) int { return (n + 3) &^ 3 }

func parseI420(t *testing.T, b []byte, w, h int) i420 {
	t.Helper()
	f := i420{w: w, h: h}
	cw, ch := (w+1)/2, (h+1)/2
	dims := [3][3]int{{w, h, round4(w)}, {cw, ch, round4(cw)}, {cw, ch, round4(cw)}}
	off := 0
	for p, d := range dims {
		for y := 0; y < d[1]; y++ {
			if off+y*d[2]+d[0] > len(b) {
				t.Fatalf("frame of %d bytes too short for %dx%d I420", len(b), w, h)
			}
			f.planes[p] = append(f.planes[p], b[off+y*d[2]:off+y*d[2]+d[0]]...)
		}
		off += d[1] * d[2]
	}
	return f
}

// frames runs a pipeline ending in "appsink name=out" and returns each
// frame's bytes and size.
func frames(t *testing.T, desc string, each func(i int, p *gst.Pipeline)) (out [][]byte, sizes [][2]int) {
	t.Helper()
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	defer func() { _ = p.SetState(gst.StateNull) }()
	e, err := p.GetElementByName("out")
	if err != nil {
		t.Fatal(err)
	}
	sink := app.SinkFromElement(e)
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		smp := sink.PullSample()
		if smp == nil {
			break
		}
		st := smp.GetCaps().GetStructureAt(0)
		w, _ := st.GetValue("width")
		h, _ := st.GetValue("height")
		out = append(out, smp.GetBuffer().Bytes())
		sizes = append(sizes, [2]int{w.(int), h.(int)})
		if each != nil {
			each(i, p)
		}
	}
	if msg := p.GetPipelineBus().TimedPopFiltered(0, gst.MessageError); msg != nil {
		t.Fatalf("%s: %v", desc, msg.ParseError())
	}
	return out, sizes
}

// scaled is one frame of videotestsrc's pattern at sw x sh, through scaler
// to dw x dh. The input's chroma is centred, as vp8dec's.
func scaled(t *testing.T, scaler, pattern string, sw, sh, dw, dh int) i420 {
	t.Helper()
	desc := fmt.Sprintf("videotestsrc num-buffers=1 pattern=%s ! video/x-raw,format=I420,width=%d,height=%d,colorimetry=bt601,chroma-site=jpeg ! %s ! video/x-raw,width=%d,height=%d ! appsink name=out sync=false",
		pattern, sw, sh, scaler, dw, dh)
	out, sizes := frames(t, desc, nil)
	if len(out) != 1 || sizes[0] != [2]int{dw, dh} {
		t.Fatalf("%s: got %d frames, sizes %v", desc, len(out), sizes)
	}
	return parseI420(t, out[0], dw, dh)
}

// psnr of b against a over all three planes.
func psnr(a, b i420) float64 {
	var se float64
	var n int
	for p := range a.planes {
		for i := range a.planes[p] {
			d := float64(a.planes[p][i]) - float64(b.planes[p][i])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// bothPaths runs test with the kernels' SIMD, then with their plain C.
func bothPaths(t *testing.T, test func(t *testing.T)) {
	for _, scalar := range []bool{false, true} {
		setScalarOnly(scalar)
		t.Run(fmt.Sprintf("scalar=%v", scalar), test)
	}
	setScalarOnly(false)
}

// samePlanes checks that every plane of ours is what ref computes from the
// same plane of src (one plane, sw x sh to dw x dh).
func samePlanes(t *testing.T, pattern string, src, ours i420, ref func(src []byte, sw, sh, dw, dh int) []byte) {
	t.Helper()
	for p := range ours.planes {
		sw, sh, dw, dh := src.w, src.h, ours.w, ours.h
		if p > 0 {
			sw, sh, dw, dh = (sw+1)/2, (sh+1)/2, (dw+1)/2, (dh+1)/2
		}
		if want := ref(src.planes[p], sw, sh, dw, dh); string(want) != string(ours.planes[p]) {
			t.Errorf("%dx%d→%dx%d %s plane %d differs from the reference", src.w, src.h, ours.w, ours.h, pattern, p)
		}
	}
}

// Shrinking by more than 13:7 (the bilinear kernel's reach) goes through
// GStreamer's own converter with videoscale method=bilinear's settings:
// the same picture, byte for byte.
func TestScalesLikeVideoscale(t *testing.T) {
	for _, c := range [][4]int{
		{640, 360, 320, 180},
		{640, 360, 256, 144},
		{640, 360, 212, 120},
		{1280, 720, 640, 360},
		{1280, 720, 320, 180},
	} {
		for _, pattern := range []string{"smpte", "ball", "snow"} {
			ours := scaled(t, Factory, pattern, c[0], c[1], c[2], c[3])
			ref := scaled(t, "videoscale method=bilinear add-borders=false", pattern, c[0], c[1], c[2], c[3])
			if got := psnr(ref, ours); !math.IsInf(got, 1) {
				t.Errorf("%v %s: PSNR against videoscale %.1f dB, want identical", c, pattern, got)
			}
		}
	}
}

// bilinearTaps is bilinear.c's sl_taps: for each output, the left source
// index and the right tap's weight of 128.
func bilinearTaps(src, dst int) (first, w []int) {
	for x := 0; x < dst; x++ {
		p := int64(2*x+1)*int64(src)*128/(2*int64(dst)) - 64
		p = max(p, 0)
		i, f := int(p>>7), int(p&127)
		if i >= src-1 {
			i, f = src-1, 0
		}
		first, w = append(first, i), append(w, f)
	}
	return first, w
}

// bilinearRef is the general kernel's arithmetic in Go: rows blended first,
// then columns, 7-bit weights, each step rounded.
func bilinearRef(src []byte, sw, sh, dw, dh int) []byte {
	blend := func(a, b byte, f int) byte { return byte((int(a)*(128-f) + int(b)*f + 64) >> 7) }
	xs, xw := bilinearTaps(sw, dw)
	ys, yw := bilinearTaps(sh, dh)
	tmp := make([]byte, sw+1)
	out := make([]byte, 0, dw*dh)
	for y := 0; y < dh; y++ {
		r := src[ys[y]*sw : ys[y]*sw+sw]
		for x := range sw {
			tmp[x] = r[x]
			if yw[y] > 0 {
				tmp[x] = blend(r[x], src[(ys[y]+1)*sw+x], yw[y])
			}
		}
		for x := 0; x < dw; x++ {
			v := tmp[xs[x]]
			if xw[x] > 0 {
				v = blend(tmp[xs[x]], tmp[xs[x]+1], xw[x])
			}
			out = append(out, v)
		}
	}
	return out
}

// Within 13:7 of shrinking and any enlarging, 4:2:0 goes through the
// bilinear kernel: exactly bilinearRef, SIMD or not, whatever the tail of
// a row, and close to videoscale's own bilinear picture.
func TestBilinearKernel(t *testing.T) { bothPaths(t, testBilinear) }

func testBilinear(t *testing.T) {
	for _, c := range []struct {
		sw, sh, dw, dh int
		minPSNR        float64
	}{
		// Against videoscale, smpte and ball measured 37.7–84 dB except
		// for a 20-fold enlargement (28.8: the edges' clamping differs).
		{640, 360, 960, 540, 35}, // 360p in a 2x2 grid of 1080p
		{640, 360, 1280, 720, 35},
		{64, 36, 1280, 720, 25},
		{1280, 720, 960, 540, 35},
		{640, 360, 480, 270, 35},
		{1280, 720, 852, 480, 35}, // 1278 columns: not the 2/3 kernel's
		{640, 362, 426, 242, 35},  // 363 rows needed: not the 2/3 kernel's
		{100, 60, 102, 62, 35},    // chroma 51x31: a tail after six groups of 8
		{30, 20, 50, 34, 30},      // chroma rows shorter than one group
	} {
		for _, pattern := range []string{"smpte", "snow", "ball"} {
			src := scaled(t, Factory, pattern, c.sw, c.sh, c.sw, c.sh)
			ours := scaled(t, Factory, pattern, c.sw, c.sh, c.dw, c.dh)
			samePlanes(t, pattern, src, ours, bilinearRef)
			if pattern == "snow" {
				continue // noise: any two filters differ
			}
			ref := scaled(t, "videoscale method=bilinear add-borders=false", pattern, c.sw, c.sh, c.dw, c.dh)
			if got := psnr(ref, ours); got < c.minPSNR {
				t.Errorf("%dx%d→%dx%d %s: PSNR against videoscale %.1f dB, want >= %.0f", c.sw, c.sh, c.dw, c.dh, pattern, got, c.minPSNR)
			}
		}
	}
}

// bilinear32 is the 2/3 kernel's arithmetic in Go: each output pixel 3:1
// from the source pixels at 1.5x+0.25 and 1.5x+1.75 (rows first, then
// columns, each rounded), source sizes taken as exactly 1.5 the output's.
func bilinear32(src []byte, sw, _, dw, dh int) []byte {
	tap := func(i int) (int, int) { return 3*(i/2) + i%2, 3 - 2*(i%2) } // first index, its weight of 4
	tmp := make([]byte, sw)
	out := make([]byte, 0, dw*dh)
	for y := 0; y < dh; y++ {
		r, wa := tap(y)
		for x := range tmp {
			tmp[x] = byte((int(src[r*sw+x])*wa + int(src[(r+1)*sw+x])*(4-wa) + 2) >> 2)
		}
		for x := 0; x < dw; x++ {
			c, wb := tap(x)
			out = append(out, byte((int(tmp[c])*wb+int(tmp[c+1])*(4-wb)+2)>>2))
		}
	}
	return out
}

// At 2/3 (within a pixel) the kernel computes exactly bilinear32, SIMD or
// not and whatever the tail of a row, and stays close to videoscale's
// picture (whose 2-tap filter is widened for the ratio, so a little softer).
func TestTwoThirdsKernel(t *testing.T) { bothPaths(t, testTwoThirds) }

func testTwoThirds(t *testing.T) {
	for _, c := range [][4]int{
		{640, 360, 426, 240}, // 639 of 640 columns
		{1920, 1080, 1280, 720},
		{96, 54, 64, 36},     // a row shorter than one SIMD block
		{636, 360, 424, 240}, // chroma width 212: 6 pixels after the SIMD blocks
		{636, 364, 424, 242}, // odd chroma height: 121
	} {
		for _, pattern := range []string{"smpte", "snow", "ball"} {
			src := scaled(t, Factory, pattern, c[0], c[1], c[0], c[1])
			ours := scaled(t, Factory, pattern, c[0], c[1], c[2], c[3])
			samePlanes(t, pattern, src, ours, bilinear32)
			ref := scaled(t, "videoscale method=bilinear add-borders=false", pattern, c[0], c[1], c[2], c[3])
			if got, min := psnr(ref, ours), 17.0; got < min {
				t.Errorf("%v %s: PSNR against videoscale %.1f dB, want >= %.0f", c, pattern, got, min)
			}
		}
	}
}

// mean9 is the 3:1 kernel's arithmetic in Go: each output the rounded mean
// of the 3x3 source pixels it covers.
func mean9(src []byte, sw, _, dw, dh int) []byte {
	out := make([]byte, 0, dw*dh)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			sum := 4
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					sum += int(src[(3*y+i)*sw+3*x+j])
				}
			}
			out = append(out, byte(sum/9))
		}
	}
	return out
}

// At 3:1 (within two pixels) the kernel computes exactly mean9, SIMD or
// not, and is closer to a Lanczos-scaled picture than videoscale's 2-tap
// bilinear, which at this ratio takes the middle pixel of each three.
func TestThirdKernel(t *testing.T) { bothPaths(t, testThird) }

func testThird(t *testing.T) {
	for _, c := range [][4]int{
		{1280, 720, 426, 240}, // 720p in a 3x3 grid of 720p
		{1920, 1080, 640, 360},
		{1274, 720, 424, 240}, // tails after the SIMD blocks: 8 and 4 pixels
		{96, 54, 32, 18},      // rows shorter than one SIMD block
	} {
		for _, pattern := range []string{"smpte", "snow", "spokes"} {
			src := scaled(t, Factory, pattern, c[0], c[1], c[0], c[1])
			ours := scaled(t, Factory, pattern, c[0], c[1], c[2], c[3])
			samePlanes(t, pattern, src, ours, mean9)
			if pattern == "snow" || c[0] < 200 {
				continue // noise, and a picture too small to judge
			}
			ref := scaled(t, "videoscale method=lanczos", pattern, c[0], c[1], c[2], c[3])
			bil := scaled(t, "videoscale method=bilinear", pattern, c[0], c[1], c[2], c[3])
			if got, theirs := psnr(ref, ours), psnr(ref, bil); got < theirs {
				t.Errorf("%v %s: PSNR against Lanczos %.1f dB, videoscale bilinear's %.1f", c, pattern, got, theirs)
			}
		}
	}
}

// A solid colour stays exactly that colour, as a tile of a pixel test needs.
func TestSolidColourStaysExact(t *testing.T) {
	f := scaled(t, Factory, "solid-color foreground-color=0xff2080c0", 640, 360, 426, 240)
	want := scaled(t, Factory, "solid-color foreground-color=0xff2080c0", 640, 360, 640, 360)
	for p := range f.planes {
		v := want.planes[p][0]
		for i, b := range f.planes[p] {
			if b != v {
				t.Fatalf("plane %d byte %d = %d, want %d", p, i, b, v)
			}
		}
	}
}

// Same size in and out is passed through untouched, and a new size from
// downstream (a layout change) takes effect mid-stream.
func TestPassthroughAndLiveResize(t *testing.T) {
	desc := "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! " +
		Factory + " ! capsfilter name=size caps=video/x-raw,width=640,height=360 ! appsink name=out sync=false max-buffers=1"
	ref, _ := frames(t, "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! appsink name=out sync=false", nil)
	out, sizes := frames(t, desc, func(i int, p *gst.Pipeline) {
		if i == 4 {
			e, _ := p.GetElementByName("size")
			_ = e.SetProperty("caps", gst.NewCapsFromString("video/x-raw,width=426,height=240"))
		}
	})
	if len(out) != 20 {
		t.Fatalf("got %d frames, want 20", len(out))
	}
	for i := 0; i < 5; i++ {
		if sizes[i] != [2]int{640, 360} || string(out[i]) != string(ref[i]) {
			t.Fatalf("frame %d: size %v, identical to the input: %v", i, sizes[i], string(out[i]) == string(ref[i]))
		}
	}
	if last := sizes[len(sizes)-1]; last != [2]int{426, 240} {
		t.Fatalf("last frame is %v after the resize, want 426x240 (sizes %v)", last, sizes)
	}
}

// Formats other than I420 scale too (through the converter).
func TestOtherFormats(t *testing.T) {
	for _, f := range []string{"NV12", "Y444", "I420_10LE", "RGBA"} {
		desc := fmt.Sprintf("videotestsrc num-buffers=2 ! video/x-raw,format=%s,width=640,height=360 ! %s ! video/x-raw,width=426,height=240 ! appsink name=out sync=false", f, Factory)
		out, sizes := frames(t, desc, nil)
		if len(out) != 2 || sizes[0] != [2]int{426, 240} {
			t.Errorf("%s: %d frames, sizes %v", f, len(out), sizes)
		}
	}
}

// BenchmarkScale: one I420 frame scaled b.N times, by slscale and by
// videoscale, to tile sizes of 3x3 in 720p from 360p (the 2/3 kernel) and
// from 720p (3:1), 2x2 and 4x4 in 1080p from 360p (the bilinear kernel).
func BenchmarkScale(b *testing.B) {
	for _, c := range []string{"640x360-426x240", "1280x720-426x240", "640x360-960x540", "640x360-480x270"} {
		var sw, sh, dw, dh int
		fmt.Sscanf(c, "%dx%d-%dx%d", &sw, &sh, &dw, &dh)
		for _, scaler := range []string{Factory, "videoscale method=bilinear"} {
			b.Run(c+"/"+strings.Fields(scaler)[0], func(b *testing.B) {
				desc := fmt.Sprintf("videotestsrc num-buffers=1 pattern=snow ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1,colorimetry=bt601,chroma-site=jpeg ! "+
					"imagefreeze num-buffers=%d ! %s ! video/x-raw,width=%d,height=%d ! fakesink sync=false", sw, sh, b.N, scaler, dw, dh)
				p, err := gst.NewPipelineFromString(desc)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = p.SetState(gst.StateNull) }()
				b.ResetTimer()
				_ = p.SetState(gst.StatePlaying)
				p.GetPipelineBus().TimedPopFiltered(gst.ClockTimeNone, gst.MessageEOS|gst.MessageError)
			})
		}
	}
}

// slscale scales, it does not convert: a downstream that wants another
// format is refused at link time, and one that turns to another format
// mid-stream gets a negotiation error on the bus, not a crash.
func TestRefusesFormatChange(t *testing.T) {
	_, err := gst.NewPipelineFromString("videotestsrc ! video/x-raw,format=I420,width=640,height=360 ! " +
		Factory + " ! video/x-raw,format=NV12,width=426,height=240 ! fakesink")
	if err == nil || !strings.Contains(err.Error(), "can't handle caps") {
		t.Fatalf("linked to NV12: %v", err)
	}
	p, err := gst.NewPipelineFromString("videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! " +
		Factory + " ! capsfilter name=size caps=video/x-raw,width=426,height=240 ! fakesink")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.SetState(gst.StateNull) }()
	_ = p.SetState(gst.StatePlaying)
	time.Sleep(200 * time.Millisecond)
	size, _ := p.GetElementByName("size")
	_ = size.SetProperty("caps", gst.NewCapsFromString("video/x-raw,format=NV12,width=426,height=240"))
	msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(5*time.Second), gst.MessageError)
	if msg == nil {
		t.Fatal("no error after downstream turned to NV12")
	}
	if e := msg.ParseError(); !strings.Contains(strings.ToLower(e.Error()+e.DebugString()), "negotiat") {
		t.Fatalf("error %q (%s), want a negotiation error", e.Error(), e.DebugString())
	}
}
