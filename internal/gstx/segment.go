package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

// sl_rebase_probe moves every TIME segment crossing the pad so that running
// time starts `delta` nanoseconds later: the base absorbs what it can, the
// start (and stream time) the rest. Buffers keep their timestamps.
static GstPadProbeReturn sl_rebase_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
	if (ev == NULL || GST_EVENT_TYPE(ev) != GST_EVENT_SEGMENT) return GST_PAD_PROBE_OK;
	guint64 delta = (guint64)(guintptr)user;
	GstSegment seg;
	gst_event_copy_segment(ev, &seg);
	if (seg.format != GST_FORMAT_TIME || seg.rate != 1.0) return GST_PAD_PROBE_OK;
	if (seg.base >= delta) {
		seg.base -= delta;
	} else {
		guint64 rest = delta - seg.base;
		seg.base = 0;
		seg.start += rest;
		seg.time += rest;
		if (seg.position != GST_CLOCK_TIME_NONE && seg.position < seg.start) seg.position = seg.start;
		if (seg.stop != GST_CLOCK_TIME_NONE && seg.stop < seg.start) seg.stop = seg.start;
	}
	GstEvent *moved = gst_event_new_segment(&seg);
	gst_event_set_seqnum(moved, gst_event_get_seqnum(ev));
	gst_event_unref(ev);
	GST_PAD_PROBE_INFO_DATA(info) = moved;
	return GST_PAD_PROBE_OK;
}

static void sl_add_rebase_probe(void *pad, guint64 delta) {
	gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, sl_rebase_probe, (gpointer)(guintptr)delta, NULL);
}
*/
import "C"

import (
	"runtime"

	"github.com/go-gst/go-gst/gst"
)

// RebaseSegment makes the running time of everything crossing pad start
// delta nanoseconds later, by rewriting its TIME segments (buffers keep
// their timestamps; those before the new start fall outside the segment).
// A branch attached to a mix that has run for a while uses it on its
// inputs, so that its media starts at zero: elements that fill from the
// segment start (videorate) then fill nothing, and muxers see both streams
// from zero. The probe lives as long as the pad.
func RebaseSegment(pad *gst.Pad, delta int64) {
	if delta <= 0 {
		return
	}
	C.sl_add_rebase_probe(pad.Unsafe(), C.guint64(delta))
	runtime.KeepAlive(pad)
}
