// Package gstx holds the go-gst calls every media package shares: initialising
// GStreamer, pushing RTP packets into an appsrc without per-packet Go garbage,
// timestamp and keyframe probes implemented in C (so they cost no cgo callback
// per buffer), EOS watches, bus polling and pipeline graph rendering.
//
// Keeping these in one small package means a later move to newer bindings
// touches one place (see ../shared/GSTREAMER.md).
package gstx

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0
#cgo LDFLAGS: -lm
#include <math.h>
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <stdlib.h>

static GstFlowReturn sl_push_bytes(void *appsrc, const void *data, gsize len) {
	GstBuffer *b = gst_buffer_new_memdup(data, len);
	return gst_app_src_push_buffer(GST_APP_SRC(appsrc), b);
}

static GstFlowReturn sl_end_stream(void *appsrc) {
	return gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
}

// SlTimes is written by streaming threads and read from Go with atomics.
typedef struct {
	gint64 first_pts;   // -1 until the first buffer with a valid PTS
	gint64 last_pts;    // -1 until then
	gint64 last_dur;    // duration of the last buffer, or -1
	guint64 buffers;
	guint64 bytes;
	gint64 rtp_pts;     // PTS of the last RTP buffer seen (rtp probes only)
	guint32 rtp_ts;     // its RTP timestamp
	// How far after its arrival each RTP buffer is stamped (rtp probes
	// with an arrivals probe only): the least over the current window of
	// SL_AHEAD_WINDOW ns and over the one before it (G_MAXINT64: none).
	gint64 ahead_min, ahead_prev_min, ahead_window_start, ahead_first;
	struct SlArrivals *arr;
} SlTimes;

// SlArrivals keeps the arrival stamp (appsrc do-timestamp) of the latest
// packets going into a jitterbuffer, by sequence number, for its output
// side: one thread writes a slot, another reads it long after (a slot is
// rewritten only SL_ARRIVALS packets later).
#define SL_ARRIVALS 1024
typedef struct SlArrivals {
	gint64 key[SL_ARRIVALS]; // seqnum + 1, 0: empty
	gint64 pts[SL_ARRIVALS];
} SlArrivals;

#define SL_AHEAD_WINDOW (2 * GST_SECOND)
// SL_AHEAD_SKIP: the first packets of a stream are stamped from the first
// one's arrival, a start-up burst among them (see ingest's anchorCheck,
// which measures those seconds): they say nothing of how late the stamps
// run afterwards.
#define SL_AHEAD_SKIP (2 * GST_SECOND)

static SlTimes *sl_times_new(void) {
	SlTimes *t = g_new0(SlTimes, 1);
	t->first_pts = -1;
	t->last_pts = -1;
	t->last_dur = -1;
	t->rtp_pts = -1;
	t->ahead_min = t->ahead_prev_min = G_MAXINT64;
	t->ahead_window_start = t->ahead_first = -1;
	return t;
}

static void sl_times_free(SlTimes *t) {
	g_free(t->arr);
	g_free(t);
}

static guint16 sl_rtp_seq(GstBuffer *b, guint32 *ts) {
	guint8 hdr[8];
	if (gst_buffer_extract(b, 0, hdr, 8) != 8) return 0;
	if (ts != NULL) *ts = ((guint32)hdr[4] << 24) | ((guint32)hdr[5] << 16) | ((guint32)hdr[6] << 8) | hdr[7];
	return ((guint16)hdr[2] << 8) | hdr[3];
}

// sl_arrival_probe (on the jitterbuffer's sink pad) notes each packet's
// arrival stamp under its sequence number.
static GstPadProbeReturn sl_arrival_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlArrivals *a = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL || !GST_BUFFER_PTS_IS_VALID(b) || gst_buffer_get_size(b) < 12) return GST_PAD_PROBE_OK;
	guint16 seq = sl_rtp_seq(b, NULL);
	guint i = seq % SL_ARRIVALS;
	__atomic_store_n(&a->key[i], 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->pts[i], (gint64)GST_BUFFER_PTS(b), __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->key[i], (gint64)seq + 1, __ATOMIC_SEQ_CST);
	return GST_PAD_PROBE_OK;
}

// sl_note_ahead adds how far after its arrival an output packet is stamped
// to the windowed minimum. Only the output's streaming thread writes;
// readers load the two minima (a torn pair only mixes neighbouring
// windows). The time a packet waited in the jitterbuffer (for a lost one)
// does not count: its stamp is compared with its arrival, not with now.
static void sl_note_ahead(SlTimes *t, guint16 seq, gint64 pts) {
	SlArrivals *a = t->arr;
	if (a == NULL) return;
	guint i = seq % SL_ARRIVALS;
	if (__atomic_load_n(&a->key[i], __ATOMIC_SEQ_CST) != (gint64)seq + 1) return;
	gint64 arrival = __atomic_load_n(&a->pts[i], __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&a->key[i], __ATOMIC_SEQ_CST) != (gint64)seq + 1) return;
	if (t->ahead_first < 0) t->ahead_first = arrival;
	if (arrival - t->ahead_first < SL_AHEAD_SKIP) return;
	gint64 ahead = pts - arrival;
	if (t->ahead_window_start < 0 || arrival - t->ahead_window_start >= SL_AHEAD_WINDOW) {
		gboolean adjacent = t->ahead_window_start >= 0 && arrival - t->ahead_window_start < 2 * SL_AHEAD_WINDOW;
		__atomic_store_n(&t->ahead_prev_min, adjacent ? t->ahead_min : G_MAXINT64, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->ahead_min, ahead, __ATOMIC_SEQ_CST);
		t->ahead_window_start = arrival;
	} else if (ahead < t->ahead_min) {
		__atomic_store_n(&t->ahead_min, ahead, __ATOMIC_SEQ_CST);
	}
}

static GstPadProbeReturn sl_times_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlTimes *t = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL) return GST_PAD_PROBE_OK;
	__atomic_add_fetch(&t->buffers, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->bytes, gst_buffer_get_size(b), __ATOMIC_RELAXED);
	if (GST_BUFFER_PTS_IS_VALID(b)) {
		gint64 pts = GST_BUFFER_PTS(b);
		gint64 expected = -1;
		__atomic_compare_exchange_n(&t->first_pts, &expected, pts, FALSE, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->last_pts, pts, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->last_dur, GST_BUFFER_DURATION_IS_VALID(b) ? (gint64)GST_BUFFER_DURATION(b) : -1, __ATOMIC_RELAXED);
	}
	return GST_PAD_PROBE_OK;
}

// sl_rtp_probe records the (PTS, RTP timestamp) pair of the latest RTP buffer.
// The pair is read rarely, so a plain mutex-free double write is tolerable:
// readers use sl_rtp_pair which retries on a torn read.
static GstPadProbeReturn sl_rtp_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlTimes *t = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL || !GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
	if (gst_buffer_get_size(b) < 12) return GST_PAD_PROBE_OK;
	guint32 ts = 0;
	guint16 seq = sl_rtp_seq(b, &ts);
	__atomic_store_n(&t->rtp_pts, (gint64)-2, __ATOMIC_SEQ_CST); // writing
	__atomic_store_n(&t->rtp_ts, ts, __ATOMIC_SEQ_CST);
	__atomic_store_n(&t->rtp_pts, (gint64)GST_BUFFER_PTS(b), __ATOMIC_SEQ_CST);
	sl_note_ahead(t, seq, (gint64)GST_BUFFER_PTS(b));
	return GST_PAD_PROBE_OK;
}

static gulong sl_add_times_probe(void *pad, SlTimes *t) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_times_probe, t, NULL);
}

static gulong sl_add_rtp_probe(void *pad, SlTimes *t) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_rtp_probe, t, NULL);
}

static gulong sl_add_arrival_probe(void *pad, SlTimes *t) {
	t->arr = g_new0(SlArrivals, 1);
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_arrival_probe, t->arr, NULL);
}

static gint64 sl_load64(gint64 *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static guint64 sl_loadu64(guint64 *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static guint32 sl_loadu32(guint32 *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }

// sl_keyframe_gate drops delta units until the first keyframe, then removes itself.
static GstPadProbeReturn sl_keyframe_gate(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL) return GST_PAD_PROBE_OK;
	if (GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)) return GST_PAD_PROBE_DROP;
	return GST_PAD_PROBE_REMOVE;
}

static gulong sl_add_keyframe_gate(void *pad) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_keyframe_gate, NULL, NULL);
}

// SlLevel keeps the loudness of the latest S16 audio buffer in millibel
// relative to full scale (0 = full scale, -9600 = silence floor).
typedef struct {
	gint64 mb;
	guint64 buffers;
} SlLevel;

static SlLevel *sl_level_new(void) {
	SlLevel *l = g_new0(SlLevel, 1);
	l->mb = -9600;
	return l;
}

static GstPadProbeReturn sl_level_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlLevel *l = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	GstMapInfo map;
	if (b == NULL || !gst_buffer_map(b, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
	const gint16 *s = (const gint16 *)map.data;
	gsize n = map.size / 2;
	double sum = 0;
	for (gsize i = 0; i < n; i++) sum += (double)s[i] * (double)s[i];
	gst_buffer_unmap(b, &map);
	double ms = n ? sum / (double)n / (32768.0 * 32768.0) : 0;
	gint64 mb = ms > 1e-10 ? (gint64)(1000.0 * log10(ms)) : -10000;
	if (mb < -9600) mb = -9600;
	__atomic_store_n(&l->mb, mb, __ATOMIC_RELAXED);
	__atomic_add_fetch(&l->buffers, 1, __ATOMIC_RELAXED);
	return GST_PAD_PROBE_OK;
}

static gulong sl_add_level_probe(void *pad, SlLevel *l) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_level_probe, l, NULL);
}

static gint64 sl_level_mb(SlLevel *l) { return __atomic_load_n(&l->mb, __ATOMIC_RELAXED); }
static guint64 sl_level_buffers(SlLevel *l) { return __atomic_load_n(&l->buffers, __ATOMIC_RELAXED); }

// sl_running_time converts a timestamp of the buffers on pad to running time
// through the pad's current segment, or returns -1.
static gint64 sl_running_time(void *pad, gint64 ts) {
	if (ts < 0) return -1;
	GstEvent *ev = gst_pad_get_sticky_event(GST_PAD(pad), GST_EVENT_SEGMENT, 0);
	if (ev == NULL) return -1;
	const GstSegment *seg = NULL;
	gst_event_parse_segment(ev, &seg);
	guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, (guint64)ts);
	gst_event_unref(ev);
	return rt == GST_CLOCK_TIME_NONE ? -1 : (gint64)rt;
}

// sl_drop_until drops buffers whose running time on pad is before *from
// (gint64, owned by the probe), then removes itself at the first one at or
// after it.
static GstPadProbeReturn sl_drop_until(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL || !GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
	gint64 rt = sl_running_time(pad, (gint64)GST_BUFFER_PTS(b));
	if (rt >= 0 && rt < *(gint64 *)user) return GST_PAD_PROBE_DROP;
	return GST_PAD_PROBE_REMOVE;
}

static gulong sl_add_drop_until(void *pad, gint64 from) {
	gint64 *p = g_new(gint64, 1);
	*p = from;
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_drop_until, p, g_free);
}

// SlDurations is the state of sl_durations: the last PTS seen and the
// duration used when no interval is known.
typedef struct {
	gint64 last_pts;
	gint64 fallback;
} SlDurations;

// sl_durations gives buffers without a duration the interval from the
// previous buffer's PTS (the fallback for the first one or after a gap).
static GstPadProbeReturn sl_durations(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	SlDurations *d = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL || !GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
	gint64 pts = (gint64)GST_BUFFER_PTS(b);
	if (!GST_BUFFER_DURATION_IS_VALID(b)) {
		gint64 dur = pts - d->last_pts;
		if (d->last_pts < 0 || dur <= 0 || dur > 4 * d->fallback) dur = d->fallback;
		b = gst_buffer_make_writable(b);
		GST_BUFFER_DURATION(b) = (GstClockTime)dur;
		GST_PAD_PROBE_INFO_DATA(info) = b;
	}
	d->last_pts = pts;
	return GST_PAD_PROBE_OK;
}

static gulong sl_add_durations(void *pad, gint64 fallback) {
	SlDurations *d = g_new(SlDurations, 1);
	d->last_pts = -1;
	d->fallback = fallback;
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_durations, d, g_free);
}

// sl_rate_in and sl_rate_out keep a videorate from filling gaps in its
// input. For each input videorate pushes the previous input as often as the
// output slots up to the new one need (none when it drops it), and at EOS
// (or a caps change) the last one: the first such push is a frame, the
// others are copies. *user counts the pushes since the last input or event.
static GstPadProbeReturn sl_rate_in(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	*(gint *)user = 0;
	return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn sl_rate_out(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	gint *pushed = user;
	return (*pushed)++ > 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

static void sl_add_keep_gaps(void *sink, void *src) {
	gint *pushed = g_new0(gint, 1);
	gst_pad_add_probe(GST_PAD(sink), GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, sl_rate_in, pushed, NULL);
	gst_pad_add_probe(GST_PAD(src), GST_PAD_PROBE_TYPE_BUFFER, sl_rate_out, pushed, g_free);
}

// sl_drop_padding drops RTP packets that carry only padding (bandwidth
// probes) and numbers the packets after them on, so the depayloader sees
// an unbroken sequence: a gap would make it discard the frame in progress
// and wait for a keyframe. *user (guint16, owned by the probe) counts the
// packets dropped so far. Packets arrive in order (after the jitterbuffer).
static GstPadProbeReturn sl_drop_padding(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	guint16 *dropped = user;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (b == NULL) return GST_PAD_PROBE_OK;
	GstMapInfo m;
	if (!gst_buffer_map(b, &m, GST_MAP_READ)) return GST_PAD_PROBE_OK;
	gsize size = m.size, hl = 12;
	gboolean empty = FALSE;
	if (size >= 12 && (m.data[0] >> 6) == 2) {
		hl += 4 * (m.data[0] & 0x0f);
		if ((m.data[0] & 0x10) && size >= hl + 4)
			hl += 4 + 4 * (((gsize)m.data[hl + 2] << 8) | m.data[hl + 3]);
		gsize pad_len = (m.data[0] & 0x20) ? m.data[size - 1] : 0;
		empty = hl + pad_len >= size;
	}
	gst_buffer_unmap(b, &m);
	if (empty) {
		(*dropped)++;
		return GST_PAD_PROBE_DROP;
	}
	if (*dropped != 0 && size >= 12) {
		guint8 seq[2];
		if (gst_buffer_extract(b, 2, seq, 2) != 2) return GST_PAD_PROBE_OK;
		guint16 v = (((guint16)seq[0] << 8) | seq[1]) - *dropped;
		seq[0] = v >> 8;
		seq[1] = v & 0xff;
		b = gst_buffer_make_writable(b);
		gst_buffer_fill(b, 2, seq, 2);
		GST_PAD_PROBE_INFO_DATA(info) = b;
	}
	return GST_PAD_PROBE_OK;
}

static gulong sl_add_drop_padding(void *pad) {
	return gst_pad_add_probe(GST_PAD(pad), GST_PAD_PROBE_TYPE_BUFFER, sl_drop_padding, g_new0(guint16, 1), g_free);
}

static void sl_remove_probe(void *pad, gulong id) {
	gst_pad_remove_probe(GST_PAD(pad), id);
}
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

var initOnce sync.Once

// Init initialises GStreamer once per process. It is safe to call many times.
func Init() {
	initOnce.Do(func() { gst.Init(nil) })
}

// FlowReturn mirrors GstFlowReturn for callers that should not import go-gst.
type FlowReturn int

// Flow results used by callers.
const (
	FlowOK       FlowReturn = 0
	FlowFlushing FlowReturn = -2
	FlowEOS      FlowReturn = -3
)

// PushBytes copies pkt into a new GstBuffer and pushes it into appsrc. It
// creates no Go wrapper, so nothing waits for a finalizer (GSTREAMER.md pitfall 2).
// Empty packets are ignored (pitfall 11).
func PushBytes(src *app.Source, pkt []byte) FlowReturn {
	if len(pkt) == 0 {
		return FlowOK
	}
	ret := C.sl_push_bytes(src.Unsafe(), unsafe.Pointer(&pkt[0]), C.gsize(len(pkt)))
	runtime.KeepAlive(src)
	return FlowReturn(ret)
}

// EndStream sends EOS from an appsrc once its queue drains.
func EndStream(src *app.Source) FlowReturn {
	ret := C.sl_end_stream(src.Unsafe())
	runtime.KeepAlive(src)
	return FlowReturn(ret)
}

// Times follows the buffers crossing a pad: first and last PTS, counts and
// bytes. It is maintained by a C probe, so it costs no Go callback per buffer.
type Times struct {
	pad *gst.Pad
	c   *C.SlTimes
	ids []C.gulong
	// in and inID: WatchRTP's arrivals probe, on the jitterbuffer's input.
	in   *gst.Pad
	inID C.gulong
	mu   sync.Mutex
}

// NoTime is returned for timestamps that have not been seen yet.
const NoTime int64 = -1

func newTimes(pad *gst.Pad) *Times {
	return &Times{pad: pad, c: C.sl_times_new()}
}

// WatchTimes attaches a buffer-timing probe to pad. Call Remove when done.
func WatchTimes(pad *gst.Pad) *Times {
	t := newTimes(pad)
	t.ids = append(t.ids, C.sl_add_times_probe(pad.Unsafe(), t.c))
	return t
}

// WatchRTP attaches a probe to a jitterbuffer's output pad that records the
// PTS and RTP timestamp of the latest buffer (see RTPPair) and, with in, the
// jitterbuffer's input pad (its buffers stamped with their arrival), how
// far after their arrival the packets are stamped (see MinRTPAhead).
func WatchRTP(in, out *gst.Pad) *Times {
	t := newTimes(out)
	if in != nil {
		t.in = in
		t.inID = C.sl_add_arrival_probe(in.Unsafe(), t.c)
	}
	t.ids = append(t.ids, C.sl_add_rtp_probe(out.Unsafe(), t.c))
	return t
}

// read applies f to the counters, or returns none once they are freed: a
// reader racing Free (a manifest refresh while its recording finalizes)
// gets no figure instead of a crash.
func (t *Times) read(none int64, f func(*C.SlTimes) int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return none
	}
	return f(t.c)
}

// FirstPTS is the PTS of the first timestamped buffer, or NoTime.
func (t *Times) FirstPTS() int64 {
	return t.read(NoTime, func(c *C.SlTimes) int64 { return int64(C.sl_load64(&c.first_pts)) })
}

// LastPTS is the PTS of the latest timestamped buffer, or NoTime.
func (t *Times) LastPTS() int64 {
	return t.read(NoTime, func(c *C.SlTimes) int64 { return int64(C.sl_load64(&c.last_pts)) })
}

// LastDuration is the duration of the latest timestamped buffer, or NoTime.
func (t *Times) LastDuration() int64 {
	return t.read(NoTime, func(c *C.SlTimes) int64 { return int64(C.sl_load64(&c.last_dur)) })
}

// LastRunningTime is LastPTS converted to running time through the pad's
// current segment (encoders shift timestamps, e.g. by 1000 hours, and their
// segment with them), or NoTime.
func (t *Times) LastRunningTime() int64 {
	rt := int64(C.sl_running_time(t.pad.Unsafe(), C.gint64(t.LastPTS())))
	runtime.KeepAlive(t.pad)
	return rt
}

// FirstRunningTime is FirstPTS converted to running time through the pad's
// current segment, or NoTime.
func (t *Times) FirstRunningTime() int64 {
	rt := int64(C.sl_running_time(t.pad.Unsafe(), C.gint64(t.FirstPTS())))
	runtime.KeepAlive(t.pad)
	return rt
}

// Buffers is the number of buffers seen.
func (t *Times) Buffers() uint64 {
	return uint64(t.read(0, func(c *C.SlTimes) int64 { return int64(C.sl_loadu64(&c.buffers)) }))
}

// Bytes is the number of bytes seen.
func (t *Times) Bytes() uint64 {
	return uint64(t.read(0, func(c *C.SlTimes) int64 { return int64(C.sl_loadu64(&c.bytes)) }))
}

// MinRTPAhead is the least amount by which the RTP buffers that left the
// jitterbuffer over the last two to four seconds (not counting its first
// two) were stamped after their arrival (negative: before it); ok is false
// without such buffers. Unlike the latest buffer's, it does not move with
// each packet's arrival jitter, nor with the time packets wait in the
// jitterbuffer for a lost one.
func (t *Times) MinRTPAhead() (ahead time.Duration, ok bool) {
	v := t.read(math.MaxInt64, func(c *C.SlTimes) int64 {
		return min(int64(C.sl_load64(&c.ahead_min)), int64(C.sl_load64(&c.ahead_prev_min)))
	})
	if v == math.MaxInt64 {
		return 0, false
	}
	return time.Duration(v), true
}

// RTPPair returns the PTS and RTP timestamp of the latest RTP buffer seen by
// a WatchRTP probe; ok is false before the first one.
func (t *Times) RTPPair() (pts int64, rtpTS uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return 0, 0, false
	}
	for i := 0; i < 100; i++ {
		p1 := int64(C.sl_load64(&t.c.rtp_pts))
		ts := uint32(C.sl_loadu32(&t.c.rtp_ts))
		p2 := int64(C.sl_load64(&t.c.rtp_pts))
		if p1 == -1 {
			return 0, 0, false
		}
		if p1 >= 0 && p1 == p2 {
			return p1, ts, true
		}
		runtime.Gosched()
	}
	return 0, 0, false
}

// Remove detaches the probes. The counters stay readable until Free.
func (t *Times) Remove() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range t.ids {
		C.sl_remove_probe(t.pad.Unsafe(), id)
	}
	t.ids = nil
	runtime.KeepAlive(t.pad)
	if t.in != nil && t.inID != 0 {
		C.sl_remove_probe(t.in.Unsafe(), t.inID)
		t.inID = 0
		runtime.KeepAlive(t.in)
	}
}

// Free releases the counters; the probes must have been removed, or the pad
// must no longer carry data (its element is in NULL state).
func (t *Times) Free() {
	t.Remove()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil {
		C.sl_times_free(t.c)
		t.c = nil
	}
}

// GateUntilKeyframe drops delta-unit buffers on pad until the first keyframe
// passes; then the probe removes itself.
func GateUntilKeyframe(pad *gst.Pad) {
	C.sl_add_keyframe_gate(pad.Unsafe())
	runtime.KeepAlive(pad)
}

// DropUntil drops the buffers on pad whose running time (through the pad's
// segment) is before runningTime, until the first one at or after it; then
// the probe removes itself. A mixer input shifted onto a timeline that
// starts at runningTime needs it: compositor never consumes a buffer whose
// shifted running time is negative, so such a first frame (a keyframe that
// was in flight when the mix started) would block its tile for good.
func DropUntil(pad *gst.Pad, runningTime int64) {
	C.sl_add_drop_until(pad.Unsafe(), C.gint64(runningTime))
	runtime.KeepAlive(pad)
}

// DropPadding drops the RTP packets crossing pad that carry no payload, only
// padding (SFUs probe bandwidth with them in a video stream's own sequence
// space), and numbers the following packets on so a depayloader downstream
// sees no gap. pad must carry RTP in sequence order (a jitterbuffer's
// output).
func DropPadding(pad *gst.Pad) {
	C.sl_add_drop_padding(pad.Unsafe())
	runtime.KeepAlive(pad)
}

// KeepGaps makes a videorate leave the gaps in its input unfilled: of what
// it pushes for one input (the previous input, as often as the output slots
// up to the new one need) only the first passes; the copies are dropped.
// The frames that pass keep videorate's grid of output times (which
// max-duplication-time does not: it shifts the grid by the gap, and a
// Matroska file then had two frames in one frame's time), and an input
// slower than the output passes at its own rate. Both probes run on the
// element's streaming thread; the state is freed with the src pad's probe.
func KeepGaps(videorate *gst.Element) {
	C.sl_add_keep_gaps(videorate.GetStaticPad("sink").Unsafe(), videorate.GetStaticPad("src").Unsafe())
	runtime.KeepAlive(videorate)
}

// SetFrameDurations gives video frames crossing pad that carry no duration
// (decoders of RTP video: the stream has no frame rate) the interval since
// the previous frame, or fallback. compositor needs a frame's end to
// decide which output frames it covers; without one it waits for the next
// frame, and that frame's decoding time relative to the mixer's deadline
// then decides whether a frame is shown, skipped or repeated.
func SetFrameDurations(pad *gst.Pad, fallback time.Duration) {
	C.sl_add_durations(pad.Unsafe(), C.gint64(fallback))
	runtime.KeepAlive(pad)
}

// Level follows the loudness of interleaved S16 audio crossing a pad,
// computed in C on the streaming thread.
type Level struct {
	pad *gst.Pad
	c   *C.SlLevel
	id  C.gulong
	mu  sync.Mutex
}

// WatchLevel attaches a loudness probe to a pad carrying S16 audio.
func WatchLevel(pad *gst.Pad) *Level {
	l := &Level{pad: pad, c: C.sl_level_new()}
	l.id = C.sl_add_level_probe(pad.Unsafe(), l.c)
	return l
}

// DB is the mean-square level of the latest buffer in dB full scale
// (-96 = silence), and how many buffers were measured.
func (l *Level) DB() (db float64, buffers uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return -96, 0
	}
	return float64(C.sl_level_mb(l.c)) / 100, uint64(C.sl_level_buffers(l.c))
}

// Free removes the probe and frees the counters.
func (l *Level) Free() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return
	}
	C.sl_remove_probe(l.pad.Unsafe(), l.id)
	C.g_free(C.gpointer(unsafe.Pointer(l.c)))
	l.c = nil
}
