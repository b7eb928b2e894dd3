package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

// SlRefused counts what an isolated pad's consumer refused.
typedef struct {
	guint64 refused; // pushes whose consumer returned anything but OK
	gint last;       // the last such GstFlowReturn
} SlRefused;

static GstFlowReturn sl_absorb(GstPad *pad, GstFlowReturn r) {
	if (r == GST_FLOW_OK) return r;
	SlRefused *s = gst_pad_get_element_private(pad);
	if (s != NULL) {
		__atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&s->last, (gint)r, __ATOMIC_RELAXED);
	}
	return GST_FLOW_OK;
}

static GstFlowReturn sl_isolated_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
	return sl_absorb(pad, gst_proxy_pad_chain_default(pad, parent, buf));
}

static GstFlowReturn sl_isolated_chain_list(GstPad *pad, GstObject *parent, GstBufferList *list) {
	return sl_absorb(pad, gst_proxy_pad_chain_list_default(pad, parent, list));
}

// sl_isolate replaces the chain functions of a src ghost pad's internal
// pad (where its target's pushes arrive) with ones that answer OK whatever
// the ghost pad's peer answered.
static SlRefused *sl_isolate(void *ghost) {
	GstProxyPad *internal = gst_proxy_pad_get_internal(GST_PROXY_PAD(ghost));
	if (internal == NULL) return NULL;
	SlRefused *s = g_new0(SlRefused, 1);
	g_object_set_data_full(G_OBJECT(internal), "sl-refused", s, g_free); // freed with the pad
	gst_pad_set_element_private(GST_PAD(internal), s);
	gst_pad_set_chain_function(GST_PAD(internal), sl_isolated_chain);
	gst_pad_set_chain_list_function(GST_PAD(internal), sl_isolated_chain_list);
	gst_object_unref(internal);
	return s;
}

static guint64 sl_refused(SlRefused *s) { return __atomic_load_n(&s->refused, __ATOMIC_RELAXED); }
static gint sl_refused_last(SlRefused *s) { return __atomic_load_n(&s->last, __ATOMIC_RELAXED); }
*/
import "C"

import (
	"errors"
	"runtime"

	"github.com/go-gst/go-gst/gst"
)

// Isolation is what an isolated ghost pad's consumer refused.
type Isolation struct {
	c   *C.SlRefused
	pad *gst.Pad // keeps the ghost pad (and its internal pad) alive
}

// Isolate makes a src ghost pad answer OK to the element pushing into it
// (its target) whatever its peer answers. A tee branch whose consumer runs
// on the tee's own streaming thread (no queue between them) would otherwise
// hand the consumer's FLUSHING (being removed), EOS or error back to the
// tee, which stops at the first such answer, and the producer's task would
// pause: one consumer going away or failing would stop the track for
// everyone. What the consumer refused is counted (see Refused); errors
// reach the bus from the element that failed.
func Isolate(ghost *gst.Pad) (*Isolation, error) {
	s := C.sl_isolate(ghost.Unsafe())
	runtime.KeepAlive(ghost)
	if s == nil {
		return nil, errors.New("gstx: isolate: not a ghost pad")
	}
	// The C state is freed with the internal pad, which the ghost pad (held
	// here) keeps.
	return &Isolation{c: s, pad: ghost}, nil
}

// Refused is how many pushes the consumer refused and the last answer.
func (i *Isolation) Refused() (n uint64, last gst.FlowReturn) {
	return uint64(C.sl_refused(i.c)), gst.FlowReturn(C.sl_refused_last(i.c))
}
