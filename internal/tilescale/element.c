/* slscale: GstVideoFilter that scales, for the composite's tiles. Same
 * caps behaviour as videoscale with add-borders=false (any size out, same
 * format). 8-bit planar 4:2:0 at 2/3 goes through sl_scale32_plane, at
 * 3:1 through sl_scale31_plane (a 3x3 mean), at any
 * enlargement or a shrink up to 13:7 through sl_bilinear; every other case
 * through GStreamer's own video converter with the linear (bilinear)
 * resampler, as videoscale method=bilinear does. */
#include "tilescale.h"
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

/* How frames are scaled (passthrough aside). */
typedef enum {
  SL_PATH_CONVERT,  /* GStreamer's converter: convert */
  SL_PATH_32,       /* 2/3: sl_scale32_plane */
  SL_PATH_31,       /* 3:1: sl_scale31_plane */
  SL_PATH_BILINEAR, /* bilinear.c: luma, chroma */
} SlPath;

typedef struct {
  GstVideoFilter parent;
  SlPath path;
  GstVideoConverter *convert; /* SL_PATH_CONVERT's; NULL otherwise */
  sl_bilinear *luma, *chroma; /* SL_PATH_BILINEAR's, for 4:2:0 within its ratios */
  guint8 *tmp;
  gsize tmp_size;
} SlScale;

typedef struct {
  GstVideoFilterClass parent_class;
} SlScaleClass;

GType sl_scale_get_type(void);
G_DEFINE_TYPE(SlScale, sl_scale, GST_TYPE_VIDEO_FILTER)

#define SL_CAPS GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)

static GstStaticPadTemplate sl_sink = GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(SL_CAPS));
static GstStaticPadTemplate sl_src = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(SL_CAPS));

static void sl_scale_reset(SlScale *s) {
  if (s->convert) {
    gst_video_converter_free(s->convert);
    s->convert = NULL;
  }
  sl_bilinear_free(s->luma);
  sl_bilinear_free(s->chroma);
  s->luma = s->chroma = NULL;
  s->path = SL_PATH_CONVERT;
}

static void sl_scale_finalize(GObject *obj) {
  SlScale *s = (SlScale *)obj;
  sl_scale_reset(s);
  g_free(s->tmp);
  s->tmp = NULL;
  G_OBJECT_CLASS(sl_scale_parent_class)->finalize(obj);
}

/* Any size on the other side; the pixel aspect ratio is not kept (the
 * layout's rectangle already has the picture's aspect). */
static GstCaps *sl_scale_transform_caps(GstBaseTransform *bt, GstPadDirection dir, GstCaps *caps, GstCaps *filter) {
  GstCaps *ret = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    GstStructure *st = gst_caps_get_structure(caps, i);
    GstCapsFeatures *f = gst_caps_get_features(caps, i);
    if (i > 0 && gst_caps_is_subset_structure_full(ret, st, f))
      continue;
    st = gst_structure_copy(st);
    gst_structure_set(st, "width", GST_TYPE_INT_RANGE, 1, G_MAXINT, "height", GST_TYPE_INT_RANGE, 1, G_MAXINT, NULL);
    gst_structure_remove_field(st, "pixel-aspect-ratio");
    gst_caps_append_structure_full(ret, st, f ? gst_caps_features_copy(f) : NULL);
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full(filter, ret, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(ret);
    ret = tmp;
  }
  return ret;
}

/* Unconstrained sizes stay the input's (a capsfilter sets the tile's). */
static GstCaps *sl_scale_fixate_caps(GstBaseTransform *bt, GstPadDirection dir, GstCaps *caps, GstCaps *othercaps) {
  if (gst_caps_is_empty(othercaps))
    return othercaps;
  othercaps = gst_caps_truncate(othercaps);
  othercaps = gst_caps_make_writable(othercaps);
  GstStructure *in = gst_caps_get_structure(caps, 0);
  GstStructure *out = gst_caps_get_structure(othercaps, 0);
  gint w = 0, h = 0;
  if (gst_structure_get_int(in, "width", &w))
    gst_structure_fixate_field_nearest_int(out, "width", w);
  if (gst_structure_get_int(in, "height", &h))
    gst_structure_fixate_field_nearest_int(out, "height", h);
  if (gst_structure_has_field(out, "pixel-aspect-ratio"))
    gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", 1, 1);
  return gst_caps_fixate(othercaps);
}

static gboolean sl_scale_set_info(GstVideoFilter *vf, GstCaps *incaps, GstVideoInfo *in, GstCaps *outcaps, GstVideoInfo *out) {
  SlScale *s = (SlScale *)vf;
  sl_scale_reset(s);
  if (GST_VIDEO_INFO_WIDTH(in) == GST_VIDEO_INFO_WIDTH(out) && GST_VIDEO_INFO_HEIGHT(in) == GST_VIDEO_INFO_HEIGHT(out)) {
    gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(vf), TRUE);
    return TRUE;
  }
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(vf), FALSE);
  GstVideoFormat fmt = GST_VIDEO_INFO_FORMAT(in);
  if ((fmt == GST_VIDEO_FORMAT_I420 || fmt == GST_VIDEO_FORMAT_YV12) && !GST_VIDEO_INFO_IS_INTERLACED(in)) {
    gboolean fits32 = TRUE, fits31 = TRUE;
    for (guint c = 0; c < GST_VIDEO_INFO_N_PLANES(in); c++) {
      /* planar 4:2:0: plane c holds component c (YV12 swaps U and V, same sizes) */
      int sw = GST_VIDEO_INFO_COMP_WIDTH(in, c), sh = GST_VIDEO_INFO_COMP_HEIGHT(in, c);
      int dw = GST_VIDEO_INFO_COMP_WIDTH(out, c), dh = GST_VIDEO_INFO_COMP_HEIGHT(out, c);
      fits32 = fits32 && sl_fits32(sw, sh, dw, dh);
      fits31 = fits31 && sl_fits31(sw, sh, dw, dh);
    }
    if (fits32 || fits31) {
      gsize need = fits32 ? 2 * (gsize)GST_VIDEO_INFO_WIDTH(in) : 6 * (gsize)GST_VIDEO_INFO_WIDTH(out);
      if (s->tmp_size < need) {
        g_free(s->tmp);
        s->tmp = g_malloc(need);
        s->tmp_size = need;
      }
      s->path = fits32 ? SL_PATH_32 : SL_PATH_31;
      return TRUE;
    }
    /* planar 4:2:0: component 1 (U) has the sizes of both chroma planes */
    s->luma = sl_bilinear_new(GST_VIDEO_INFO_COMP_WIDTH(in, 0), GST_VIDEO_INFO_COMP_HEIGHT(in, 0),
                              GST_VIDEO_INFO_COMP_WIDTH(out, 0), GST_VIDEO_INFO_COMP_HEIGHT(out, 0));
    s->chroma = sl_bilinear_new(GST_VIDEO_INFO_COMP_WIDTH(in, 1), GST_VIDEO_INFO_COMP_HEIGHT(in, 1),
                                GST_VIDEO_INFO_COMP_WIDTH(out, 1), GST_VIDEO_INFO_COMP_HEIGHT(out, 1));
    if (s->luma && s->chroma) {
      s->path = SL_PATH_BILINEAR;
      return TRUE;
    }
    sl_scale_reset(s); /* one of them was out of reach */
  }
  GstStructure *opts = gst_structure_new("slscale",
      GST_VIDEO_CONVERTER_OPT_RESAMPLER_METHOD, GST_TYPE_VIDEO_RESAMPLER_METHOD, GST_VIDEO_RESAMPLER_METHOD_LINEAR,
      GST_VIDEO_RESAMPLER_OPT_MAX_TAPS, G_TYPE_INT, 2,
      GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE,
      GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, 1,
      NULL);
  s->convert = gst_video_converter_new(in, out, opts);
  if (!s->convert) {
    GST_ELEMENT_ERROR(vf, CORE, NEGOTIATION, (NULL), ("cannot scale %dx%d to %dx%d", GST_VIDEO_INFO_WIDTH(in),
        GST_VIDEO_INFO_HEIGHT(in), GST_VIDEO_INFO_WIDTH(out), GST_VIDEO_INFO_HEIGHT(out)));
    return FALSE;
  }
  return TRUE;
}

static GstFlowReturn sl_scale_transform_frame(GstVideoFilter *vf, GstVideoFrame *in, GstVideoFrame *out) {
  SlScale *s = (SlScale *)vf;
  if (s->path == SL_PATH_CONVERT) {
    gst_video_converter_frame(s->convert, in, out);
    return GST_FLOW_OK;
  }
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(in); p++) {
    const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA(in, p);
    guint8 *dst = GST_VIDEO_FRAME_PLANE_DATA(out, p);
    int sstride = GST_VIDEO_FRAME_PLANE_STRIDE(in, p), dstride = GST_VIDEO_FRAME_PLANE_STRIDE(out, p);
    int dw = GST_VIDEO_FRAME_COMP_WIDTH(out, p), dh = GST_VIDEO_FRAME_COMP_HEIGHT(out, p);
    switch (s->path) {
    case SL_PATH_32:
      sl_scale32_plane(src, sstride, GST_VIDEO_FRAME_COMP_WIDTH(in, p), dst, dstride, dw, dh, s->tmp);
      break;
    case SL_PATH_31:
      sl_scale31_plane(src, sstride, dst, dstride, dw, dh, s->tmp);
      break;
    default: /* SL_PATH_BILINEAR */
      sl_bilinear_plane(p ? s->chroma : s->luma, src, sstride, dst, dstride);
      break;
    }
  }
  return GST_FLOW_OK;
}

static void sl_scale_class_init(SlScaleClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *bc = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *vc = GST_VIDEO_FILTER_CLASS(klass);
  oc->finalize = sl_scale_finalize;
  gst_element_class_set_static_metadata(ec, "Streamline tile scaler", "Filter/Converter/Video/Scaler",
      "Scales video to a tile's size; 2/3 downscales of 4:2:0 video in SIMD", "Streamline");
  gst_element_class_add_static_pad_template(ec, &sl_sink);
  gst_element_class_add_static_pad_template(ec, &sl_src);
  bc->transform_caps = sl_scale_transform_caps;
  bc->fixate_caps = sl_scale_fixate_caps;
  vc->set_info = sl_scale_set_info;
  vc->transform_frame = sl_scale_transform_frame;
}

static void sl_scale_init(SlScale *s) {}

int sl_tilescale_register(void) {
  return gst_element_register(NULL, "slscale", GST_RANK_NONE, sl_scale_get_type());
}
