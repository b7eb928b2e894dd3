package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

// SlAfter finds the first output frame of an aggregator (compositor) whose
// input samples were selected after a moment: the aggregator reads its pad
// properties (a layout) after selecting the samples, so that frame is the
// first one built entirely with what was set before the moment.
typedef struct {
	gint64 armed;    // monotonic ns of the moment; -1 = not armed
	gint64 sel_pts;  // PTS of the first frame selected after it; -1 = none yet
	gint64 hit_mono; // monotonic ns when that frame left the src pad; -1 = not yet
	gint64 hit_pts;
} SlAfter;

static gint64 sl_mono_ns(void) { return g_get_monotonic_time() * 1000; }

static SlAfter *sl_after_new(void) {
	SlAfter *a = g_new0(SlAfter, 1);
	a->armed = -1;
	a->sel_pts = -1;
	a->hit_mono = -1;
	a->hit_pts = -1;
	return a;
}

static gint64 sl_after_arm(SlAfter *a) {
	__atomic_store_n(&a->armed, (gint64)-1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->sel_pts, (gint64)-1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->hit_mono, (gint64)-1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->hit_pts, (gint64)-1, __ATOMIC_SEQ_CST);
	gint64 now = sl_mono_ns();
	__atomic_store_n(&a->armed, now, __ATOMIC_SEQ_CST);
	return now;
}

static void sl_after_selected(GstElement *agg, GstSegment *seg, guint64 pts, guint64 dts, guint64 dur, GstStructure *info, gpointer user) {
	SlAfter *a = user;
	gint64 armed = __atomic_load_n(&a->armed, __ATOMIC_SEQ_CST);
	if (armed < 0 || !GST_CLOCK_TIME_IS_VALID(pts) || __atomic_load_n(&a->sel_pts, __ATOMIC_SEQ_CST) != -1) return;
	if (sl_mono_ns() < armed) return;
	__atomic_store_n(&a->sel_pts, (gint64)pts, __ATOMIC_SEQ_CST);
}

static GstPadProbeReturn sl_after_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlAfter *a = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL || !GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
	gint64 sel = __atomic_load_n(&a->sel_pts, __ATOMIC_SEQ_CST);
	if (sel < 0 || (gint64)GST_BUFFER_PTS(b) < sel || __atomic_load_n(&a->hit_mono, __ATOMIC_SEQ_CST) != -1) return GST_PAD_PROBE_OK;
	__atomic_store_n(&a->hit_pts, (gint64)GST_BUFFER_PTS(b), __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->hit_mono, sl_mono_ns(), __ATOMIC_SEQ_CST);
	return GST_PAD_PROBE_OK;
}

static gulong sl_after_connect(void *agg, SlAfter *a) {
	g_object_set(G_OBJECT(agg), "emit-signals", TRUE, NULL);
	return g_signal_connect(G_OBJECT(agg), "samples-selected", G_CALLBACK(sl_after_selected), a);
}

static gulong sl_after_add_probe(void *pad, SlAfter *a) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_after_probe, a, NULL);
}

static void sl_after_disconnect(void *agg, gulong id) { g_signal_handler_disconnect(G_OBJECT(agg), id); }
static void sl_after_remove_probe(void *pad, gulong id) { gst_pad_remove_probe(GST_PAD(pad), id); }
static gint64 sl_after_load(gint64 *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
*/
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// FrameWatch tells when an aggregator (compositor) pushed the first frame
// built after a moment (Arm): the first output whose input samples it
// selected after that moment, when it reads its pads' properties. Both
// halves run in C on the streaming thread; Go only polls.
type FrameWatch struct {
	agg *gst.Element
	pad *gst.Pad
	c   *C.SlAfter

	mu         sync.Mutex
	sig, probe C.gulong
}

// WatchFrames turns on the aggregator's samples-selected signal and
// watches its src pad. Call Remove, then Free once the element is stopped.
func WatchFrames(agg *gst.Element) (*FrameWatch, error) {
	pad := agg.GetStaticPad("src")
	if pad == nil {
		return nil, errors.New("gstx: aggregator has no src pad")
	}
	w := &FrameWatch{agg: agg, pad: pad, c: C.sl_after_new()}
	w.sig = C.sl_after_connect(unsafe.Pointer(agg.Unsafe()), w.c)
	w.probe = C.sl_after_add_probe(pad.Unsafe(), w.c)
	return w, nil
}

// MonotonicNow is GLib's monotonic clock in nanoseconds, the clock of Arm
// and Hit.
func MonotonicNow() int64 { return int64(C.sl_mono_ns()) }

// MonotonicToTime converts a MonotonicNow reading to wall-clock time.
func MonotonicToTime(mono int64) time.Time {
	return time.Now().Add(time.Duration(mono - MonotonicNow()))
}

// Arm starts looking for the first frame built from now on, forgetting an
// earlier one; it returns the moment (MonotonicNow).
func (w *FrameWatch) Arm() int64 { return int64(C.sl_after_arm(w.c)) }

// Hit reports when (MonotonicNow) that frame left the aggregator, and its PTS.
func (w *FrameWatch) Hit() (mono, pts int64, ok bool) {
	mono = int64(C.sl_after_load(&w.c.hit_mono))
	if mono < 0 {
		return 0, 0, false
	}
	return mono, int64(C.sl_after_load(&w.c.hit_pts)), true
}

// Remove disconnects the signal handler and the probe.
func (w *FrameWatch) Remove() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sig != 0 {
		C.sl_after_disconnect(unsafe.Pointer(w.agg.Unsafe()), w.sig)
		w.sig = 0
	}
	if w.probe != 0 {
		C.sl_after_remove_probe(w.pad.Unsafe(), w.probe)
		w.probe = 0
	}
	runtime.KeepAlive(w.agg)
	runtime.KeepAlive(w.pad)
}

// Free releases the state; the aggregator must be stopped (or Remove called
// and no buffer in flight).
func (w *FrameWatch) Free() {
	w.Remove()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		C.g_free(C.gpointer(unsafe.Pointer(w.c)))
		w.c = nil
	}
}
