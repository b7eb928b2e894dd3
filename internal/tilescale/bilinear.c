/* sl_bilinear: textbook 2-tap bilinear scaling of one 8-bit plane with
 * 7-bit weights, for ratios GStreamer 1.22's video converter does in scalar
 * C (0.47 ms a 640x360 frame to 960x540 here, 0.64 ms to 1280x720): any
 * upscale, and downscales up to 13:7 (eight outputs from one 16-byte
 * load). Each output pixel x sits at source position
 * p = (x + 0.5) * src/dst - 0.5, in 1/128 pixel: left tap floor(p), weight
 * of the right tap frac(p) * 128. */
#include "tilescale.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <tmmintrin.h>
#define SL_X86 1
#endif

/* taps of one axis: first source index and the right tap's weight (0-127) */
static void sl_taps(int src, int dst, int32_t *first, uint8_t *w) {
  for (int x = 0; x < dst; x++) {
    int64_t p = ((int64_t)(2 * x + 1) * src * 128) / (2 * (int64_t)dst) - 64;
    if (p < 0)
      p = 0;
    int i = (int)(p >> 7), f = (int)(p & 127);
    if (i >= src - 1) {
      i = src - 1;
      f = 0;
    }
    first[x] = i;
    w[x] = (uint8_t)f;
  }
}

int sl_bilinear_fits(int sw, int sh, int dw, int dh) {
  /* eight outputs read at most 16 source bytes: 7 steps of sw/dw, the
   * floor of the first position and the right tap of the last */
  return sw > 1 && sh > 1 && dw > 0 && dh > 0 && (int64_t)sw * 7 <= (int64_t)dw * 13 && (int64_t)sh * 7 <= (int64_t)dh * 13;
}

struct sl_bilinear {
  int sw, sh, dw, dh, groups;
  int32_t *xfirst, *yfirst;
  uint8_t *xw, *yw;
  int32_t *gbase;   /* per group of 8 outputs: the first source byte read */
  uint8_t *gmask;   /* per group: 16-byte pshufb mask, pairs (left, right) */
  int8_t *gweight;  /* per group: 16 weights, pairs (128 - f, f) */
  uint8_t *tmp;     /* one blended source row, padded for 16-byte reads */
};

void sl_bilinear_free(sl_bilinear *b) {
  if (!b)
    return;
  free(b->xfirst); free(b->yfirst); free(b->xw); free(b->yw);
  free(b->gbase); free(b->gmask); free(b->gweight); free(b->tmp);
  free(b);
}

sl_bilinear *sl_bilinear_new(int sw, int sh, int dw, int dh) {
  if (!sl_bilinear_fits(sw, sh, dw, dh))
    return NULL;
  sl_bilinear *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->sw = sw; b->sh = sh; b->dw = dw; b->dh = dh;
  b->groups = (dw + 7) / 8;
  b->xfirst = calloc(dw, sizeof *b->xfirst);
  b->xw = calloc(dw, 1);
  b->yfirst = calloc(dh, sizeof *b->yfirst);
  b->yw = calloc(dh, 1);
  b->gbase = calloc(b->groups, sizeof *b->gbase);
  b->gmask = calloc((size_t)b->groups * 16, 1);
  b->gweight = calloc((size_t)b->groups * 16, 1);
  b->tmp = calloc((size_t)sw + 32, 1);
  if (!b->xfirst || !b->xw || !b->yfirst || !b->yw || !b->gbase || !b->gmask || !b->gweight || !b->tmp) {
    sl_bilinear_free(b);
    return NULL;
  }
  sl_taps(sw, dw, b->xfirst, b->xw);
  sl_taps(sh, dh, b->yfirst, b->yw);
  for (int g = 0; g < b->groups; g++) {
    int base = b->xfirst[g * 8];
    b->gbase[g] = base;
    for (int k = 0; k < 8; k++) {
      int x = g * 8 + k < dw ? g * 8 + k : dw - 1;
      int l = b->xfirst[x] - base, f = b->xw[x];
      int r = f ? l + 1 : l; /* f = 0: both taps on the left pixel, 64 each */
      if (r > 15) { /* cannot happen within sl_bilinear_fits; never read outside the window */
        sl_bilinear_free(b);
        return NULL;
      }
      b->gmask[g * 16 + 2 * k] = (uint8_t)l;
      b->gmask[g * 16 + 2 * k + 1] = (uint8_t)r;
      b->gweight[g * 16 + 2 * k] = (int8_t)(f ? 128 - f : 64);
      b->gweight[g * 16 + 2 * k + 1] = (int8_t)(f ? f : 64);
    }
  }
  return b;
}

static void sl_blend_rows(const uint8_t *r0, const uint8_t *r1, int f, uint8_t *out, int n) {
  int a = 128 - f;
  for (int x = 0; x < n; x++)
    out[x] = (uint8_t)((r0[x] * a + r1[x] * f + 64) >> 7);
}

static void sl_cols_c(const sl_bilinear *b, const uint8_t *s, uint8_t *d, int from) {
  for (int x = from; x < b->dw; x++) {
    int i = b->xfirst[x], f = b->xw[x];
    d[x] = f ? (uint8_t)((s[i] * (128 - f) + s[i + 1] * f + 64) >> 7) : s[i];
  }
}

#ifdef SL_X86
__attribute__((target("ssse3"))) static void sl_blend_rows_ssse3(const uint8_t *r0, const uint8_t *r1, int f, uint8_t *out, int n) {
  const __m128i w = _mm_set1_epi16((short)(((f & 0xff) << 8) | (128 - f))), round = _mm_set1_epi16(64);
  int x = 0;
  for (; x + 16 <= n; x += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(r0 + x)), c = _mm_loadu_si128((const __m128i *)(r1 + x));
    __m128i lo = _mm_srli_epi16(_mm_add_epi16(_mm_maddubs_epi16(_mm_unpacklo_epi8(a, c), w), round), 7);
    __m128i hi = _mm_srli_epi16(_mm_add_epi16(_mm_maddubs_epi16(_mm_unpackhi_epi8(a, c), w), round), 7);
    _mm_storeu_si128((__m128i *)(out + x), _mm_packus_epi16(lo, hi));
  }
  sl_blend_rows(r0 + x, r1 + x, f, out + x, n - x);
}

__attribute__((target("ssse3"))) static void sl_cols_ssse3(const sl_bilinear *b, const uint8_t *s, uint8_t *d) {
  const __m128i round = _mm_set1_epi16(64);
  int full = b->dw / 8;
  for (int g = 0; g < full; g++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(s + b->gbase[g]));
    __m128i pairs = _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)(b->gmask + g * 16)));
    __m128i sum = _mm_maddubs_epi16(pairs, _mm_loadu_si128((const __m128i *)(b->gweight + g * 16)));
    __m128i px = _mm_srli_epi16(_mm_add_epi16(sum, round), 7);
    _mm_storel_epi64((__m128i *)(d + g * 8), _mm_packus_epi16(px, px));
  }
  sl_cols_c(b, s, d, full * 8);
}
#endif

void sl_bilinear_plane(const sl_bilinear *b, const uint8_t *src, int sstride, uint8_t *dst, int dstride) {
  int simd = 0;
#ifdef SL_X86
  simd = sl_have_ssse3();
#endif
  for (int y = 0; y < b->dh; y++) {
    int i = b->yfirst[y], f = b->yw[y];
    const uint8_t *row = src + (size_t)i * sstride;
    if (f) {
#ifdef SL_X86
      if (simd)
        sl_blend_rows_ssse3(row, row + sstride, f, b->tmp, b->sw);
      else
#endif
        sl_blend_rows(row, row + sstride, f, b->tmp, b->sw);
    } else {
      memcpy(b->tmp, row, (size_t)b->sw);
    }
    b->tmp[b->sw] = b->tmp[b->sw - 1];
    uint8_t *d = dst + (size_t)y * dstride;
#ifdef SL_X86
    if (simd) {
      sl_cols_ssse3(b, b->tmp, d);
      continue;
    }
#endif
    sl_cols_c(b, b->tmp, d, 0);
  }
}
