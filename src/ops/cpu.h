/* cpu.h - x86 feature detection (cpuid + xgetbv) and the choice of kernel
 * level. On other architectures everything reports "scalar".
 *
 * Levels (each implies the previous):
 *   VLM_ISA_SCALAR  portable C, the reference
 *   VLM_ISA_AVX2    AVX2 + FMA + F16C
 *   VLM_ISA_AVX512  AVX-512 F/BW/VL/DQ + VNNI + BF16 (Sapphire Rapids class; Ice Lake
 *                   class without BF16 also qualifies, BF16 is used only where present)
 *   VLM_ISA_AMX     AVX512 plus AMX-TILE/INT8/BF16 with OS permission (slot, no
 *                   kernels yet: falls back to the AVX512 kernels)
 *
 * The environment variable VLM_CPU=scalar|avx2|avx512|amx caps the level
 * (never raises it above what the CPU and OS support).
 */
#ifndef VLM_OPS_CPU_H
#define VLM_OPS_CPU_H

#include <stdbool.h>

typedef struct {
    bool sse42, avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avx512fp16;
    bool avxvnni;
    bool amx_tile, amx_int8, amx_bf16;
    bool os_avx, os_avx512, os_amx; /* xgetbv: the OS saves the register state */
} vlm_cpu_features;

typedef enum {
    VLM_ISA_SCALAR = 0,
    VLM_ISA_AVX2 = 1,
    VLM_ISA_AVX512 = 2,
    VLM_ISA_AMX = 3,
} vlm_isa;

/* Fill *f from cpuid/xgetbv (all false off x86). */
void vlm_cpu_detect(vlm_cpu_features *f);
/* The best level the features allow. */
vlm_isa vlm_cpu_isa_supported(const vlm_cpu_features *f);
/* The best supported level, capped by VLM_CPU when set. An unknown VLM_CPU
 * value is ignored. */
vlm_isa vlm_cpu_isa(void);
/* Parse "scalar", "avx2", "avx512", "amx"; -1 if unknown. */
int vlm_isa_parse(const char *s);
const char *vlm_isa_name(vlm_isa isa);

#endif
