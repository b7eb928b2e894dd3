package gstx

import (
	"strings"
	"testing"

	"github.com/go-gst/go-gst/gst"
)

// TestSetBilinearScaling: the compositor pad ends up with a converter-config
// asking for linear luma and chroma resampling and no dithering, even in a
// process where nothing has used those enum types yet (parsing the same
// structure from a string fails there).
func TestSetBilinearScaling(t *testing.T) {
	Init()
	comp, err := gst.NewElement("compositor")
	if err != nil {
		t.Fatal(err)
	}
	pad := comp.GetRequestPad("sink_%u")
	if pad == nil {
		t.Fatal("compositor gave no pad")
	}
	defer comp.ReleaseRequestPad(pad)
	if got := PadStructure(pad, "converter-config"); strings.Contains(got, "linear") {
		t.Fatalf("fresh pad already linear: %q", got)
	}
	SetBilinearScaling(pad)
	got := PadStructure(pad, "converter-config")
	for _, want := range []string{
		"GstVideoConverter.resampler-method=(GstVideoResamplerMethod)linear",
		"GstVideoConverter.chroma-resampler-method=(GstVideoResamplerMethod)linear",
		"GstVideoConverter.dither-method=(GstVideoDitherMethod)none",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("converter-config %q lacks %q", got, want)
		}
	}
}
