/* attn_blocks.h - the block kernels of the trainer's attention (backward.c).
 *
 * Four query rows at a time (VLM_AB_ROWS); every output element is a sum of
 * products, each a multiply then an add (never fused), added in a fixed
 * order. The lanes of a vector are independent elements, so the widths only
 * change how many elements one instruction computes, never a result: every
 * level returns bitwise the result of the 4-lane baseline (tests/unit/test_attn_blocks.c).
 *
 * Shapes (Tp: the row stride of the score rows and of K / V transposed):
 *   dots:    dst[r][s] = sum_i a_r[i] bt[i][s]   r < VLM_AB_ROWS (rows nr.. of a read as 0),
 *            s < n, n a multiple of vlm_attn_blocks_align()
 *   combine: out_r[i] = sum_{s < n0 + r} w[r][s] x[s][i]       r < nr, i < Dh
 *   axpy:    y[s][i] += sum_{r < nr, s < n0 + r} w[r][s] a_r[i] (over r in order)
 */
#ifndef VLM_TRAIN_ATTN_BLOCKS_H
#define VLM_TRAIN_ATTN_BLOCKS_H
#include <stdint.h>

#include "ops/ops.h"

enum { VLM_AB_ROWS = 4 };

typedef struct {
    const char *name;
    void (*dots)(float *dst, int64_t Tp, const float *a, int64_t lda, int nr, const float *bt, int64_t n,
                 int64_t Dh);
    void (*combine)(float *out, int64_t ldo, const float *w, int64_t Tp, int nr, int64_t n0, const float *x,
                    int64_t ld, int64_t Dh);
    void (*axpy)(float *y, int64_t ld, const float *w, int64_t Tp, int nr, int64_t n0, const float *a,
                 int64_t lda, int64_t Dh);
} vlm_attn_blocks;

/* The widest level isa allows (the baseline's 4 lanes on any CPU). */
const vlm_attn_blocks *vlm_attn_blocks_get(vlm_isa isa);
/* What dots' n must be a multiple of, at every level (32). */
int64_t vlm_attn_blocks_align(void);

#endif
