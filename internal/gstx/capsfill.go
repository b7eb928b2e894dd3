package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <stdlib.h>
#include <gst/gst.h>

// sl_fill_caps replaces a caps event that lacks some of the fields of fill
// (a GstStructure, owned by the probe) with one where every structure has
// them: the fields it had stay as they were.
static GstPadProbeReturn sl_fill_caps(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
	if (ev == NULL || GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
	const GstStructure *fill = user;
	gint nfill = gst_structure_n_fields(fill);
	GstCaps *caps;
	gst_event_parse_caps(ev, &caps);
	gboolean missing = FALSE;
	for (guint i = 0; i < gst_caps_get_size(caps) && !missing; i++) {
		const GstStructure *s = gst_caps_get_structure(caps, i);
		for (gint f = 0; f < nfill && !missing; f++)
			missing = !gst_structure_has_field(s, gst_structure_nth_field_name(fill, f));
	}
	if (!missing) return GST_PAD_PROBE_OK;
	GstCaps *filled = gst_caps_copy(caps);
	for (guint i = 0; i < gst_caps_get_size(filled); i++) {
		GstStructure *s = gst_caps_get_structure(filled, i);
		for (gint f = 0; f < nfill; f++) {
			const gchar *name = gst_structure_nth_field_name(fill, f);
			if (!gst_structure_has_field(s, name))
				gst_structure_set_value(s, name, gst_structure_get_value(fill, name));
		}
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
// left alone. For a decoder whose bitstream may or may not say something
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
