/* The 2/3 downscale of sl_scale32_plane: a 3x3 grid of 640x360 video in a
 * 1280x720 composite, or 1280x720 in 1920x1080. GStreamer's video scaler
 * does this ratio in scalar C (~130 us a 640x360 I420 frame); this does it
 * in ~25 us with SSSE3, ~65 us without. */
#include "tilescale.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <tmmintrin.h>
#define SL_X86 1
#endif

int sl_scalar_only;

int sl_fits32(int sw, int sh, int dw, int dh) {
  int nw = (3 * dw + 1) / 2, nh = (3 * dh + 1) / 2; /* source pixels read */
  return dw > 0 && dh > 0 && sw >= nw && sw <= nw + 1 && sh >= nh && sh <= nh + 1;
}

/* Two output rows from three source rows: at 0.25 and 1.75 of the way. */
static void sl_rows32(const uint8_t *a, const uint8_t *b, const uint8_t *c,
                      uint8_t *o0, uint8_t *o1, int n) {
  for (int x = 0; x < n; x++) {
    o0[x] = (uint8_t)((3 * a[x] + b[x] + 2) >> 2);
    o1[x] = (uint8_t)((b[x] + 3 * c[x] + 2) >> 2);
  }
}

static void sl_cols32_c(const uint8_t *s, uint8_t *d, int dw) {
  int k = 0;
  for (; k + 1 < dw; k += 2, s += 3) {
    d[k] = (uint8_t)((3 * s[0] + s[1] + 2) >> 2);
    d[k + 1] = (uint8_t)((s[1] + 3 * s[2] + 2) >> 2);
  }
  if (k < dw)
    d[k] = (uint8_t)((3 * s[0] + s[1] + 2) >> 2);
}

#ifdef SL_X86
/* sl_gather3 splits 48 source bytes into every third byte from 0 (a), 1
 * (b) and 2 (c): 16 each, with pshufb. */
__attribute__((target("ssse3"))) static inline void sl_gather3(const uint8_t *s, __m128i *a, __m128i *b, __m128i *c) {
  const __m128i a0 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i a1 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
  const __m128i a2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
  const __m128i b0 = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i b1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
  const __m128i b2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
  const __m128i c0 = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i c1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
  const __m128i c2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
  __m128i x0 = _mm_loadu_si128((const __m128i *)s);
  __m128i x1 = _mm_loadu_si128((const __m128i *)(s + 16));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(s + 32));
  *a = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(x0, a0), _mm_shuffle_epi8(x1, a1)), _mm_shuffle_epi8(x2, a2));
  *b = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(x0, b0), _mm_shuffle_epi8(x1, b1)), _mm_shuffle_epi8(x2, b2));
  *c = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(x0, c0), _mm_shuffle_epi8(x1, c1)), _mm_shuffle_epi8(x2, c2));
}

/* 48 source bytes to 32 outputs: gather every third byte with pshufb. */
__attribute__((target("ssse3"))) static void sl_cols32_ssse3(const uint8_t *s, uint8_t *d, int dw) {
  const __m128i three = _mm_set1_epi16(3), two = _mm_set1_epi16(2), z = _mm_setzero_si128();
  int k = 0;
  for (; k + 32 <= dw; k += 32, s += 48) {
    __m128i a, b, c;
    sl_gather3(s, &a, &b, &c);
    __m128i bl = _mm_unpacklo_epi8(b, z), bh = _mm_unpackhi_epi8(b, z);
    __m128i el = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(_mm_unpacklo_epi8(a, z), three), bl), two), 2);
    __m128i eh = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(_mm_unpackhi_epi8(a, z), three), bh), two), 2);
    __m128i ol = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(_mm_unpacklo_epi8(c, z), three), bl), two), 2);
    __m128i oh = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(_mm_unpackhi_epi8(c, z), three), bh), two), 2);
    __m128i even = _mm_packus_epi16(el, eh), odd = _mm_packus_epi16(ol, oh);
    _mm_storeu_si128((__m128i *)(d + k), _mm_unpacklo_epi8(even, odd));
    _mm_storeu_si128((__m128i *)(d + k + 16), _mm_unpackhi_epi8(even, odd));
  }
  sl_cols32_c(s, d + k, dw - k);
}

int sl_have_ssse3(void) {
  static int have = -1;
  if (sl_scalar_only)
    return 0;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("ssse3") ? 1 : 0;
  }
  return have;
}
#endif

void sl_scale32_plane(const uint8_t *src, int sstride, int sw,
                      uint8_t *dst, int dstride, int dw, int dh, uint8_t *tmp) {
  void (*cols)(const uint8_t *, uint8_t *, int) = sl_cols32_c;
#ifdef SL_X86
  if (sl_have_ssse3())
    cols = sl_cols32_ssse3;
#endif
  uint8_t *t0 = tmp, *t1 = tmp + sw;
  int y = 0;
  for (; y + 1 < dh; y += 2) {
    const uint8_t *a = src + (size_t)(3 * y / 2) * sstride;
    sl_rows32(a, a + sstride, a + 2 * (size_t)sstride, t0, t1, sw);
    cols(t0, dst + (size_t)y * dstride, dw);
    cols(t1, dst + (size_t)(y + 1) * dstride, dw);
  }
  if (y < dh) { /* odd height: the last row at 0.25 between rows 3k and 3k+1 */
    const uint8_t *a = src + (size_t)(3 * y / 2) * sstride;
    for (int x = 0; x < sw; x++)
      t0[x] = (uint8_t)((3 * a[x] + a[sstride + x] + 2) >> 2);
    cols(t0, dst + (size_t)y * dstride, dw);
  }
}

/* The 3:1 downscale (a 3x3 grid of 1280x720 in 1280x720, of 1920x1080 in
 * 1920x1080): each output pixel the mean of the 3x3 source pixels it
 * covers, where a 2-tap bilinear filter would take only the middle one.
 * Needs sw in [3*dw, 3*dw+2] and sh in [3*dh, 3*dh+2]; tmp holds 6*dw bytes
 * (three rows of 16-bit column sums). */
int sl_fits31(int sw, int sh, int dw, int dh) {
  return dw > 0 && dh > 0 && sw >= 3 * dw && sw <= 3 * dw + 2 && sh >= 3 * dh && sh <= 3 * dh + 2;
}

static void sl_triples_c(const uint8_t *s, uint16_t *out, int dw) {
  for (int k = 0; k < dw; k++, s += 3)
    out[k] = (uint16_t)(s[0] + s[1] + s[2]);
}

#ifdef SL_X86
__attribute__((target("ssse3"))) static void sl_triples_ssse3(const uint8_t *s, uint16_t *out, int dw) {
  const __m128i z = _mm_setzero_si128();
  int k = 0;
  for (; k + 16 <= dw; k += 16, s += 48) {
    __m128i a, b, c;
    sl_gather3(s, &a, &b, &c);
    __m128i lo = _mm_add_epi16(_mm_add_epi16(_mm_unpacklo_epi8(a, z), _mm_unpacklo_epi8(b, z)), _mm_unpacklo_epi8(c, z));
    __m128i hi = _mm_add_epi16(_mm_add_epi16(_mm_unpackhi_epi8(a, z), _mm_unpackhi_epi8(b, z)), _mm_unpackhi_epi8(c, z));
    _mm_storeu_si128((__m128i *)(out + k), lo);
    _mm_storeu_si128((__m128i *)(out + k + 8), hi);
  }
  sl_triples_c(s, out + k, dw - k);
}

/* (sum + 4) / 9 for sums up to 9 * 255: (sum + 4) * 7282 >> 16 is exact there. */
__attribute__((target("ssse3"))) static void sl_mean9_ssse3(const uint16_t *r0, const uint16_t *r1, const uint16_t *r2, uint8_t *d, int dw) {
  const __m128i four = _mm_set1_epi16(4), ninth = _mm_set1_epi16(7282);
  int k = 0;
  for (; k + 16 <= dw; k += 16) {
    __m128i lo = _mm_add_epi16(_mm_add_epi16(_mm_loadu_si128((const __m128i *)(r0 + k)), _mm_loadu_si128((const __m128i *)(r1 + k))),
                               _mm_loadu_si128((const __m128i *)(r2 + k)));
    __m128i hi = _mm_add_epi16(_mm_add_epi16(_mm_loadu_si128((const __m128i *)(r0 + k + 8)), _mm_loadu_si128((const __m128i *)(r1 + k + 8))),
                               _mm_loadu_si128((const __m128i *)(r2 + k + 8)));
    lo = _mm_mulhi_epu16(_mm_add_epi16(lo, four), ninth);
    hi = _mm_mulhi_epu16(_mm_add_epi16(hi, four), ninth);
    _mm_storeu_si128((__m128i *)(d + k), _mm_packus_epi16(lo, hi));
  }
  for (; k < dw; k++)
    d[k] = (uint8_t)((r0[k] + r1[k] + r2[k] + 4) / 9);
}
#endif

void sl_scale31_plane(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int dw, int dh, uint8_t *tmp) {
  uint16_t *t = (uint16_t *)tmp;
#ifdef SL_X86
  if (sl_have_ssse3()) {
    for (int y = 0; y < dh; y++) {
      const uint8_t *r = src + (size_t)(3 * y) * sstride;
      for (int i = 0; i < 3; i++)
        sl_triples_ssse3(r + (size_t)i * sstride, t + (size_t)i * dw, dw);
      sl_mean9_ssse3(t, t + dw, t + 2 * (size_t)dw, dst + (size_t)y * dstride, dw);
    }
    return;
  }
#endif
  for (int y = 0; y < dh; y++) {
    const uint8_t *r = src + (size_t)(3 * y) * sstride;
    for (int i = 0; i < 3; i++)
      sl_triples_c(r + (size_t)i * sstride, t + (size_t)i * dw, dw);
    uint8_t *d = dst + (size_t)y * dstride;
    for (int k = 0; k < dw; k++)
      d[k] = (uint8_t)((t[k] + t[dw + k] + t[2 * dw + k] + 4) / 9);
  }
}
