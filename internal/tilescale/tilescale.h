/* slscale: a video scaler for the composite's tiles. See tilescale.go. */
#ifndef SL_TILESCALE_H
#define SL_TILESCALE_H
#include <stdint.h>

/* sl_scale32_plane scales one 8-bit plane by 2/3 in both directions, 2-tap
 * bilinear (each output pixel from the two source pixels around it,
 * weighted 3:1). It needs sw >= ceil(1.5*dw) and sh >= ceil(1.5*dh); tmp
 * holds 2*sw bytes. */
void sl_scale32_plane(const uint8_t *src, int sstride, int sw, int sh,
                      uint8_t *dst, int dstride, int dw, int dh, uint8_t *tmp);

/* sl_fits32 reports whether a plane of sw x sh can be scaled to dw x dh by
 * sl_scale32_plane within one source pixel of the exact ratio. */
int sl_fits32(int sw, int sh, int dw, int dh);

/* sl_scalar_only, when set, keeps the kernel to plain C (for tests). */
extern int sl_scalar_only;

/* sl_tilescale_register registers the element "slscale" (no plugin file). */
int sl_tilescale_register(void);
#endif
