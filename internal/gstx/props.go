package gstx

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdlib.h>

// sl_set_bilinear sets a video aggregator pad's converter-config to
// bilinear luma and chroma scaling without dithering. The structure is
// built with typed values: parsing "(GstVideoResamplerMethod)linear" from a
// string fails until something has registered that enum type.
static void sl_set_bilinear(void *pad) {
	GstStructure *st = gst_structure_new("GstVideoConverter",
		GST_VIDEO_CONVERTER_OPT_RESAMPLER_METHOD, GST_TYPE_VIDEO_RESAMPLER_METHOD, GST_VIDEO_RESAMPLER_METHOD_LINEAR,
		GST_VIDEO_CONVERTER_OPT_CHROMA_RESAMPLER_METHOD, GST_TYPE_VIDEO_RESAMPLER_METHOD, GST_VIDEO_RESAMPLER_METHOD_LINEAR,
		GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE,
		NULL);
	g_object_set(G_OBJECT(pad), "converter-config", st, NULL);
	gst_structure_free(st);
}

static void sl_clear_converter(void *pad) {
	g_object_set(G_OBJECT(pad), "converter-config", NULL, NULL);
}

static gchar *sl_get_structure(void *obj, const char *prop) {
	GstStructure *st = NULL;
	g_object_get(G_OBJECT(obj), prop, &st, NULL);
	if (st == NULL)
		return NULL;
	gchar *s = gst_structure_to_string(st);
	gst_structure_free(st);
	return s;
}
*/
import "C"

import (
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// SetBilinearScaling makes a compositor (video aggregator) pad scale its
// input bilinearly, luma and chroma, without dithering.
func SetBilinearScaling(pad *gst.Pad) {
	C.sl_set_bilinear(unsafe.Pointer(pad.Instance()))
}

// ClearScaling puts a compositor pad back to GStreamer's default
// converter (none at all while its input needs no conversion: any
// converter-config, even one asking for nothing unusual, made the
// compositor convert every frame of an unscaled input).
func ClearScaling(pad *gst.Pad) {
	C.sl_clear_converter(unsafe.Pointer(pad.Instance()))
}

// PadStructure returns a GstStructure-typed property of a pad in string
// form ("" when unset).
func PadStructure(pad *gst.Pad, prop string) string {
	cp := C.CString(prop)
	defer C.free(unsafe.Pointer(cp))
	s := C.sl_get_structure(unsafe.Pointer(pad.Instance()), cp)
	if s == nil {
		return ""
	}
	defer C.g_free(C.gpointer(s))
	return C.GoString(s)
}
