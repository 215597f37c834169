/* attn_blocks.c - the trainer's attention block kernels at 4 lanes (any
 * target: SSE on x86-64, NEON on arm64), 8 (AVX2) and 16 (AVX-512), chosen at
 * run time from the ops level (attn_blocks.h). Products and sums are never
 * fused into FMAs here (the pragmas below), which is what keeps every width
 * bitwise equal to the 4-lane one. */
#include <string.h>

#include "model/model.h"
#include "train/attn_blocks.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define AB_W 4
#define AB(name) ab4_##name
#define AB_NAME "4 lanes"
#include "train/attn_blocks_impl.h"
#undef AB_W
#undef AB
#undef AB_NAME

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define AB_W 8
#define AB(name) ab8_##name
#define AB_NAME "8 lanes (AVX2)"
#define AB_REST(name) ab4_##name
#include "train/attn_blocks_impl.h"
#undef AB_W
#undef AB
#undef AB_NAME
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
#define AB_W 16
#define AB(name) ab16_##name
#define AB_NAME "16 lanes (AVX-512)"
#include "train/attn_blocks_impl.h"
#undef AB_W
#undef AB
#undef AB_NAME
#undef AB_REST
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

const vlm_attn_blocks *vlm_attn_blocks_get(vlm_isa isa) {
#if defined(__x86_64__)
    if (isa >= VLM_ISA_AVX512) return &ab16_table;
    if (isa >= VLM_ISA_AVX2) return &ab8_table;
#else
    (void)isa;
#endif
    return &ab4_table;
}

int64_t vlm_attn_blocks_align(void) { return 32; }
