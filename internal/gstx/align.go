package gstx

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>
#include <string.h>

// SlAlign starts an encoding's video and audio at the same instant. MP4
// fragments (mp4mux fragment-duration) start every track at zero whatever
// its first timestamp, so the first video frame and the first audio sample
// an encoding takes must be the same instant of the room; and an AAC
// encoder puts `priming` ns of its own delay before the first sample, so
// audio starts that much later (the skipped audio is exactly what the
// priming replaces) and its timestamps move back by as much, so muxers that
// keep each track's start (Matroska, WebM) agree too.
typedef struct {
	GMutex lock;
	GCond cond;
	gint refs;
	gboolean released;
	gboolean vdone;  // the video probe has removed itself
	gboolean astarted; // the audio probe let its first buffer through
	gint64 v0, a0;   // running time of the first buffer seen on each side, -1 until
	gint64 tv;       // running time of the first video frame let through, -1 until
	gint64 priming;  // ns
	gint rate, bpf;  // raw audio: sample rate and bytes per frame
	gint64 wait_ns;  // longest wait for the other side
} SlAlign;

static SlAlign *sl_align_new(gint64 priming, gint rate, gint bpf, gint64 wait_ns) {
	SlAlign *a = g_new0(SlAlign, 1);
	g_mutex_init(&a->lock);
	g_cond_init(&a->cond);
	a->refs = 1;
	a->v0 = a->a0 = a->tv = -1;
	a->priming = priming;
	a->rate = rate;
	a->bpf = bpf;
	a->wait_ns = wait_ns;
	return a;
}

static void sl_align_unref(gpointer p) {
	SlAlign *a = p;
	if (g_atomic_int_dec_and_test(&a->refs)) {
		g_mutex_clear(&a->lock);
		g_cond_clear(&a->cond);
		g_free(a);
	}
}

static gint64 sl_running_time(GstPad *pad, GstClockTime ts) {
	GstEvent *ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
	if (ev == NULL)
		return -1;
	const GstSegment *seg;
	gst_event_parse_segment(ev, &seg);
	gint64 rt = -1;
	if (seg->format == GST_FORMAT_TIME) {
		guint64 r = gst_segment_to_running_time(seg, GST_FORMAT_TIME, ts);
		if (r != GST_CLOCK_TIME_NONE)
			rt = (gint64)r;
	}
	gst_event_unref(ev);
	return rt;
}

// sl_align_wait waits (lock held) until cond holds, the other side gives
// up or the wait is over.
#define SL_ALIGN_WAIT(a, cond_expr) do { \
	gint64 until = g_get_monotonic_time() + (a)->wait_ns / 1000; \
	while (!(cond_expr) && !(a)->released) \
		if (!g_cond_wait_until(&(a)->cond, &(a)->lock, until)) break; \
} while (0)

// The video side never waits or drops (a blocked video branch would back up
// into the compositor and stall every output; dropping would start the file
// late): its first frame is the start. The compositor's output runs behind
// the audio mixer's by the difference of their inputs' latencies (video
// decoding, ~150 ms here), so the audio for that instant has usually gone
// by before the branch was linked: the audio side then starts with silence
// up to its first buffer.
static GstPadProbeReturn sl_align_video(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlAlign *a = user;
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!GST_BUFFER_PTS_IS_VALID(buf))
		return GST_PAD_PROBE_OK;
	gint64 rt = sl_running_time(pad, GST_BUFFER_PTS(buf));
	if (rt < 0) // before the segment (RebaseSegment): nothing downstream wants it
		return g_atomic_int_get(&a->released) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
	g_mutex_lock(&a->lock);
	a->v0 = a->tv = rt;
	a->vdone = TRUE;
	g_cond_broadcast(&a->cond);
	g_mutex_unlock(&a->lock);
	return GST_PAD_PROBE_REMOVE;
}

static GstPadProbeReturn sl_align_audio(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlAlign *a = user;
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!GST_BUFFER_PTS_IS_VALID(buf))
		return GST_PAD_PROBE_OK;
	GstClockTime pts = GST_BUFFER_PTS(buf);
	if (a->astarted || g_atomic_int_get(&a->released)) {
		// Started: move every buffer back by the priming.
		buf = gst_buffer_make_writable(buf);
		GST_BUFFER_PTS(buf) = pts >= (GstClockTime)a->priming ? pts - a->priming : 0;
		GST_PAD_PROBE_INFO_DATA(info) = buf;
		return GST_PAD_PROBE_OK;
	}
	gint64 rt = sl_running_time(pad, pts);
	if (rt < 0) // before the segment (RebaseSegment): nothing downstream wants it
		return g_atomic_int_get(&a->released) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
	g_mutex_lock(&a->lock);
	if (a->a0 < 0) {
		a->a0 = rt;
		g_cond_broadcast(&a->cond);
	}
	SL_ALIGN_WAIT(a, a->tv >= 0);
	gint64 ta = (a->tv >= 0 ? a->tv : a->a0) + a->priming;
	gsize size = gst_buffer_get_size(buf);
	gint64 frames = a->bpf > 0 ? (gint64)(size / a->bpf) : 0;
	gint64 end = rt + gst_util_uint64_scale_int(frames, GST_SECOND, a->rate);
	if (end <= ta && !a->released) {
		g_mutex_unlock(&a->lock);
		return GST_PAD_PROBE_DROP;
	}
	a->astarted = TRUE; // only this thread reads it
	g_mutex_unlock(&a->lock);
	if (rt > ta + GST_MSECOND && rt - ta < 5 * GST_SECOND) {
		// Audio begins after the video's first frame (see sl_align_video):
		// silence fills the gap so the two still start together.
		gint64 fill = gst_util_uint64_scale_int(rt - ta, a->rate, GST_SECOND);
		GstBuffer *out = gst_buffer_new_allocate(NULL, (fill + frames) * a->bpf, NULL);
		GstMapInfo map;
		if (out != NULL && gst_buffer_map(out, &map, GST_MAP_WRITE)) {
			memset(map.data, 0, fill * a->bpf);
			gst_buffer_extract(buf, 0, map.data + fill * a->bpf, frames * a->bpf);
			gst_buffer_unmap(out, &map);
			gst_buffer_copy_into(out, buf, GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_META, 0, -1);
			GST_BUFFER_DURATION(out) = gst_util_uint64_scale_int(fill + frames, GST_SECOND, a->rate);
			gst_buffer_unref(buf);
			buf = out;
			pts -= rt - ta;
			rt = ta;
		} else if (out != NULL) {
			gst_buffer_unref(out);
		}
	}
	buf = gst_buffer_make_writable(buf);
	if (rt < ta) {
		gint64 skip = gst_util_uint64_scale_int(ta - rt, a->rate, GST_SECOND);
		gst_buffer_resize(buf, skip * a->bpf, -1);
		pts += ta - rt;
		if (GST_BUFFER_DURATION_IS_VALID(buf))
			GST_BUFFER_DURATION(buf) = gst_util_uint64_scale_int(frames - skip, GST_SECOND, a->rate);
	}
	GST_BUFFER_PTS(buf) = pts >= (GstClockTime)a->priming ? pts - a->priming : 0;
	GST_PAD_PROBE_INFO_DATA(info) = buf;
	return GST_PAD_PROBE_OK;
}

static gulong sl_add_align_probe(void *pad, SlAlign *a, gboolean video) {
	g_atomic_int_inc(&a->refs);
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER,
		video ? sl_align_video : sl_align_audio, a, sl_align_unref);
}

static void sl_align_release(SlAlign *a, void *vpad, gulong vprobe, void *apad, gulong aprobe) {
	g_mutex_lock(&a->lock);
	g_atomic_int_set(&a->released, TRUE);
	gboolean vdone = a->vdone;
	a->vdone = TRUE;
	g_cond_broadcast(&a->cond);
	g_mutex_unlock(&a->lock);
	if (!vdone)
		gst_pad_remove_probe(GST_PAD(vpad), vprobe);
	gst_pad_remove_probe(GST_PAD(apad), aprobe);
	sl_align_unref(a);
}
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// StartAlign makes an encoding start its video and audio at one instant:
// the first raw video frame is the start; the audio waits (at most wait) for
// it, drops what comes before it cutting the first buffer to the sample, or
// begins with silence when its first buffer comes later; and it starts
// later by priming (an AAC encoder's delay, see encode.Encoder.Priming)
// while its timestamps move back by as much. videoPad carries raw video and
// audioPad interleaved audio of rate samples per second and bytesPerFrame
// bytes per sample frame, both before their encoders. Call Release when the
// encoding stops.
type StartAlign struct {
	c              *C.SlAlign
	vpad, apad     *gst.Pad
	vprobe, aprobe C.gulong
}

// AlignStart attaches the probes; see StartAlign.
func AlignStart(videoPad, audioPad *gst.Pad, priming time.Duration, rate, bytesPerFrame int, wait time.Duration) *StartAlign {
	a := &StartAlign{c: C.sl_align_new(C.gint64(priming), C.gint(rate), C.gint(bytesPerFrame), C.gint64(wait)),
		vpad: videoPad, apad: audioPad}
	a.vprobe = C.sl_add_align_probe(unsafe.Pointer(videoPad.Instance()), a.c, C.TRUE)
	a.aprobe = C.sl_add_align_probe(unsafe.Pointer(audioPad.Instance()), a.c, C.FALSE)
	return a
}

// Release wakes any waiting streaming thread, removes the probes and drops
// the Go side's reference. Safe to call once.
func (a *StartAlign) Release() {
	if a == nil || a.c == nil {
		return
	}
	C.sl_align_release(a.c, unsafe.Pointer(a.vpad.Instance()), a.vprobe, unsafe.Pointer(a.apad.Instance()), a.aprobe)
	a.c = nil
}
