/* slscale: a video scaler for the composite's tiles. See tilescale.go. */
#ifndef SL_TILESCALE_H
#define SL_TILESCALE_H
#include <stdint.h>

/* sl_scale32_plane scales one 8-bit plane by 2/3 in both directions, 2-tap
 * bilinear (each output pixel from the two source pixels around it,
 * weighted 3:1). The plane must hold ceil(1.5*dw) columns of its sw and
 * ceil(1.5*dh) rows (sl_fits32); tmp holds 2*sw bytes. */
void sl_scale32_plane(const uint8_t *src, int sstride, int sw,
                      uint8_t *dst, int dstride, int dw, int dh, uint8_t *tmp);

/* sl_fits32 reports whether a plane of sw x sh can be scaled to dw x dh by
 * sl_scale32_plane within one source pixel of the exact ratio. */
int sl_fits32(int sw, int sh, int dw, int dh);

/* sl_scale31_plane: the 3:1 downscale, each output the mean of 3x3 source
 * pixels; sl_fits31 says whether the sizes allow it; tmp holds 6*dw bytes. */
int sl_fits31(int sw, int sh, int dw, int dh);
void sl_scale31_plane(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int dw, int dh, uint8_t *tmp);

/* sl_bilinear scales 8-bit planes of sw x sh to dw x dh (bilinear.c); NULL
 * from sl_bilinear_new when the ratio is out of its reach. */
typedef struct sl_bilinear sl_bilinear;
int sl_bilinear_fits(int sw, int sh, int dw, int dh);
sl_bilinear *sl_bilinear_new(int sw, int sh, int dw, int dh);
void sl_bilinear_free(sl_bilinear *b);
void sl_bilinear_plane(const sl_bilinear *b, const uint8_t *src, int sstride, uint8_t *dst, int dstride);

/* sl_have_ssse3: the CPU has SSSE3 and sl_scalar_only is not set. */
int sl_have_ssse3(void);

/* sl_scalar_only, when set, keeps the kernel to plain C (for tests). */
extern int sl_scalar_only;

/* sl_tilescale_register registers the element "slscale" (no plugin file). */
int sl_tilescale_register(void);
#endif
