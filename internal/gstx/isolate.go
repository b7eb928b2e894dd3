package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

// SlRefused counts what an isolated pad's consumer refused.
typedef struct {
	guint64 refused; // pushes whose consumer returned anything but OK
	gint last;       // the last such GstFlowReturn
	gboolean failed; // an error was answered: nothing more is pushed
	GstPadQueryFunction query; // the pad's own query function
} SlRefused;

// sl_absorb counts a consumer's refusal and answers OK. An error
// (NOT_NEGOTIATED, ERROR and below: not FLUSHING, EOS or NOT_LINKED, which
// pass) latches: the consumer is failed for good (its file cannot be
// written, its decoder gave up), so later buffers are no longer pushed
// into it, and what it counts stops where it failed.
static GstFlowReturn sl_absorb(GstPad *pad, GstFlowReturn r) {
	if (r == GST_FLOW_OK) return r;
	SlRefused *s = gst_pad_get_element_private(pad);
	if (s != NULL) {
		__atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&s->last, (gint)r, __ATOMIC_RELAXED);
		if (r <= GST_FLOW_NOT_NEGOTIATED) __atomic_store_n(&s->failed, TRUE, __ATOMIC_RELAXED);
	}
	return GST_FLOW_OK;
}

static gboolean sl_failed(GstPad *pad) {
	SlRefused *s = gst_pad_get_element_private(pad);
	return s != NULL && __atomic_load_n(&s->failed, __ATOMIC_RELAXED);
}

static GstFlowReturn sl_isolated_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
	if (sl_failed(pad)) {
		gst_buffer_unref(buf);
		return GST_FLOW_OK;
	}
	return sl_absorb(pad, gst_proxy_pad_chain_default(pad, parent, buf));
}

static GstFlowReturn sl_isolated_chain_list(GstPad *pad, GstObject *parent, GstBufferList *list) {
	if (sl_failed(pad)) {
		gst_buffer_list_unref(list);
		return GST_FLOW_OK;
	}
	return sl_absorb(pad, gst_proxy_pad_chain_list_default(pad, parent, list));
}

// sl_isolated_query keeps the serialized queries of the producer out of
// the consumer: such a query waits in the consumer's queue until everything
// queued before it has been consumed, and the producer's streaming thread
// waits with it. A consumer that has stopped taking buffers (a muxer waiting
// for its other stream, a file on a hung disk) held a mixer's allocation
// query (sent when the mixer renegotiates, as when a new branch is added)
// for good, and the mix stopped for everyone. The producer allocates
// without the consumer's say (ALLOCATION answered at once, with nothing
// asked for) and has nothing to wait for (DRAIN answered at once; the
// consumer's queue keeps references to what it holds). Other queries pass.
// (Refusing ALLOCATION instead — FALSE — made a compositor that grew its
// frame while new encodings branched off stop feeding them, about one run
// in six of TestLargerCompositeGrowsTheMix.)
static gboolean sl_isolated_query(GstPad *pad, GstObject *parent, GstQuery *query) {
	switch (GST_QUERY_TYPE(query)) {
	case GST_QUERY_ALLOCATION:
	case GST_QUERY_DRAIN:
		return TRUE;
	default: {
		SlRefused *s = gst_pad_get_element_private(pad);
		return s->query(pad, parent, query);
	}
	}
}

// sl_isolate replaces the chain functions of the pad where a ghost pad's
// pushes arrive — a src ghost pad's internal pad (pushed by its target),
// or a sink ghost pad itself (pushed by its peer) — with ones that answer
// OK whatever the consumer answered, and its query function with one that
// keeps serialized queries from waiting on the consumer.
static SlRefused *sl_isolate(void *ghost) {
	GstPad *in;
	if (GST_PAD_IS_SINK(GST_PAD(ghost))) {
		in = gst_object_ref(GST_PAD(ghost));
	} else {
		in = GST_PAD(gst_proxy_pad_get_internal(GST_PROXY_PAD(ghost)));
		if (in == NULL) return NULL;
	}
	SlRefused *s = g_new0(SlRefused, 1);
	g_object_set_data_full(G_OBJECT(in), "sl-refused", s, g_free); // freed with the pad
	gst_pad_set_element_private(in, s);
	gst_pad_set_chain_function(in, sl_isolated_chain);
	gst_pad_set_chain_list_function(in, sl_isolated_chain_list);
	s->query = GST_PAD_QUERYFUNC(in);
	gst_pad_set_query_function(in, sl_isolated_query);
	gst_object_unref(in);
	return s;
}

static guint64 sl_refused(SlRefused *s) { return __atomic_load_n(&s->refused, __ATOMIC_RELAXED); }
static gint sl_refused_last(SlRefused *s) { return __atomic_load_n(&s->last, __ATOMIC_RELAXED); }
static void sl_refused_fail(SlRefused *s) { __atomic_store_n(&s->failed, TRUE, __ATOMIC_RELAXED); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/go-gst/go-gst/gst"
)

// Isolation is what an isolated ghost pad's consumer refused.
type Isolation struct {
	c   *C.SlRefused
	pad *gst.Pad // keeps the ghost pad (and its internal pad) alive
}

// Isolate makes a ghost pad answer OK to whoever pushes into it (a src
// ghost pad's target, a sink ghost pad's peer) whatever its consumer
// answers. A tee branch whose consumer runs on the tee's own streaming
// thread (no queue between them) would otherwise hand the consumer's
// FLUSHING (being removed), EOS or error back to the tee, which stops at
// the first such answer, and the producer's task would pause: one consumer
// going away or failing would stop the track, or the mix, for everyone.
// What the consumer refused is counted (see Refused); after an error
// (anything but FLUSHING, EOS or NOT_LINKED) nothing more is pushed into it.
// Errors reach the bus from the element that failed. Nor does the producer
// wait on the consumer for a serialized query (ALLOCATION and DRAIN are
// answered at once, ALLOCATION with nothing asked for): one that stopped
// consuming would hold it, and the producer, for good.
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

// Fail stops pushing into the consumer, as an error it answered would: for
// a consumer known to be failed (an element of it posted an error) that
// goes on answering OK.
func (i *Isolation) Fail() { C.sl_refused_fail(i.c) }

// IsolatedBranch opens a branch of tee, an element of bin: a new request
// pad of the tee behind a src ghost pad of bin named name, isolated (see
// Isolate), active and added. On error nothing is left behind.
//
// The ghost pad is active, isolated and in the bin before it becomes the
// tee pad's peer: a running tee pushes into its new pad at once, and the
// sticky events it replays into an inactive ghost pad fail (flushing),
// which the tee answers to its producer as a flow error: the producer
// stops ("streaming stopped, reason error (-5)").
func IsolatedBranch(bin *gst.Bin, tee *gst.Element, name string) (ghost, teePad *gst.Pad, iso *Isolation, err error) {
	g := gst.NewGhostPadNoTarget(name, gst.PadDirectionSource)
	if g == nil {
		return nil, nil, nil, fmt.Errorf("ghost pad %s", name)
	}
	if iso, err = Isolate(g.Pad); err != nil {
		return nil, nil, nil, err
	}
	if !g.SetActive(true) || !bin.AddPad(g.Pad) {
		return nil, nil, nil, fmt.Errorf("ghost pad %s: could not activate or add it", name)
	}
	if teePad = tee.GetRequestPad("src_%u"); teePad == nil {
		bin.RemovePad(g.Pad)
		return nil, nil, nil, errors.New("tee gave no pad")
	}
	if !g.SetTarget(teePad) {
		bin.RemovePad(g.Pad)
		tee.ReleaseRequestPad(teePad)
		return nil, nil, nil, fmt.Errorf("ghost pad %s: could not target %s", name, teePad.GetName())
	}
	return g.Pad, teePad, iso, nil
}
