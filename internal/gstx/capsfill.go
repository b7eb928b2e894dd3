package gstx

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0
#include <stdlib.h>
#include <gst/gst.h>
#include <gst/video/video.h>

// sl_fill_colorimetry gives the colorimetry of s the parts it leaves
// unknown ("1:0:0:0": full range, nothing else said) from want's; TRUE
// when it changed s.
static gboolean sl_fill_colorimetry(GstStructure *s, const gchar *want) {
	const gchar *have = gst_structure_get_string(s, "colorimetry");
	GstVideoColorimetry c, w;
	if (have == NULL || !gst_video_colorimetry_from_string(&c, have) || !gst_video_colorimetry_from_string(&w, want))
		return FALSE;
	gboolean changed = FALSE;
	if (c.range == GST_VIDEO_COLOR_RANGE_UNKNOWN) { c.range = w.range; changed = TRUE; }
	if (c.matrix == GST_VIDEO_COLOR_MATRIX_UNKNOWN) { c.matrix = w.matrix; changed = TRUE; }
	if (c.transfer == GST_VIDEO_TRANSFER_UNKNOWN) { c.transfer = w.transfer; changed = TRUE; }
	if (c.primaries == GST_VIDEO_COLOR_PRIMARIES_UNKNOWN) { c.primaries = w.primaries; changed = TRUE; }
	if (!changed) return FALSE;
	gchar *str = gst_video_colorimetry_to_string(&c);
	if (str == NULL) return FALSE;
	gst_structure_set(s, "colorimetry", G_TYPE_STRING, str, NULL);
	g_free(str);
	return TRUE;
}

// sl_fill_structure gives s the fields of fill it lacks (and a colorimetry's
// unknown parts); TRUE when it changed s.
static gboolean sl_fill_structure(GstStructure *s, const GstStructure *fill) {
	gboolean changed = FALSE;
	for (gint f = 0; f < gst_structure_n_fields(fill); f++) {
		const gchar *name = gst_structure_nth_field_name(fill, f);
		if (!gst_structure_has_field(s, name)) {
			gst_structure_set_value(s, name, gst_structure_get_value(fill, name));
			changed = TRUE;
		} else if (g_str_equal(name, "colorimetry")) {
			const gchar *want = gst_structure_get_string(fill, name);
			changed |= want != NULL && sl_fill_colorimetry(s, want);
		}
	}
	return changed;
}

// sl_fill_caps replaces a caps event that lacks some of the fields of fill
// (a GstStructure, owned by the probe) with one where every structure has
// them: the fields it had stay as they were, but for a colorimetry's
// unknown parts.
static GstPadProbeReturn sl_fill_caps(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
	if (ev == NULL || GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
	const GstStructure *fill = user;
	GstCaps *caps;
	gst_event_parse_caps(ev, &caps);
	GstCaps *filled = gst_caps_copy(caps);
	gboolean changed = FALSE;
	for (guint i = 0; i < gst_caps_get_size(filled); i++)
		changed |= sl_fill_structure(gst_caps_get_structure(filled, i), fill);
	if (!changed) {
		gst_caps_unref(filled);
		return GST_PAD_PROBE_OK;
	}
	GstEvent *nev = gst_event_new_caps(filled);
	gst_caps_unref(filled);
	gst_event_set_seqnum(nev, gst_event_get_seqnum(ev));
	gst_event_unref(ev);
	GST_PAD_PROBE_INFO_DATA(info) = nev;
	return GST_PAD_PROBE_OK;
}

// sl_add_fill_caps parses fields ("a=1,b=x") and adds the probe; 0 when
// they do not parse.
static gulong sl_add_fill_caps(void *pad, const char *fields) {
	gchar *desc = g_strconcat("fill, ", fields, NULL);
	GstStructure *fill = gst_structure_from_string(desc, NULL);
	g_free(desc);
	if (fill == NULL) return 0;
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, sl_fill_caps, fill,
		(GDestroyNotify)gst_structure_free);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// FillCaps gives the caps crossing pad (a src pad) the fields of fields
// ("colorimetry=bt601,chroma-site=jpeg") they lack; fields they carry are
// left alone, except that the parts a colorimetry leaves unknown (a stream
// that signals its range and nothing else: "1:0:0:0") are taken from the
// given colorimetry. For a decoder whose bitstream may or may not say something
// (its colour space): what it says is kept, and what downstream would
// otherwise guess is decided here. The probe lives as long as the pad.
func FillCaps(pad *gst.Pad, fields string) error {
	cs := C.CString(fields)
	defer C.free(unsafe.Pointer(cs))
	id := C.sl_add_fill_caps(pad.Unsafe(), cs)
	runtime.KeepAlive(pad)
	if id == 0 {
		return fmt.Errorf("gstx: fill caps: %q does not parse as caps fields", fields)
	}
	return nil
}
