/* cpu.c - cpuid/xgetbv feature detection and the VLM_CPU override. */
#include "ops/cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
/* Linux requires a process to ask for the AMX tile-data state once. */
static bool amx_request_permission(void) {
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) == 0 && (bitmask & (1ul << XFEATURE_XTILEDATA)))
        return true;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return false;
    return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) == 0 &&
           (bitmask & (1ul << XFEATURE_XTILEDATA)) != 0;
}
#else
static bool amx_request_permission(void) { return false; }
#endif

void vlm_cpu_detect(vlm_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 1) return;
    __cpuid(1, a, b, c, d);
    f->sse42 = (c >> 20) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    f->avx = (c >> 28) & 1;
    bool osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    f->os_avx = osxsave && (xcr0 & 0x6) == 0x6;          /* XMM, YMM */
    f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0;   /* opmask, ZMM_Hi256, Hi16_ZMM */
    f->os_amx = f->os_avx && (xcr0 & 0x60000) == 0x60000; /* XTILECFG, XTILEDATA */
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        f->avx512fp16 = (d >> 23) & 1;
        f->amx_bf16 = (d >> 22) & 1;
        f->amx_tile = (d >> 24) & 1;
        f->amx_int8 = (d >> 25) & 1;
        unsigned sub = a;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avxvnni = (a >> 4) & 1;
            f->avx512bf16 = (a >> 5) & 1;
        }
    }
    if (f->amx_tile && f->os_amx) f->os_amx = amx_request_permission();
}
#else
void vlm_cpu_detect(vlm_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

vlm_isa vlm_cpu_isa_supported(const vlm_cpu_features *f) {
    if (!(f->os_avx && f->avx2 && f->fma && f->f16c)) return VLM_ISA_SCALAR;
    if (!(f->os_avx512 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni))
        return VLM_ISA_AVX2;
    if (!(f->os_amx && f->amx_tile && f->amx_int8 && f->amx_bf16 && f->avx512bf16)) return VLM_ISA_AVX512;
    return VLM_ISA_AMX;
}

int vlm_isa_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "scalar")) return VLM_ISA_SCALAR;
    if (!strcmp(s, "avx2")) return VLM_ISA_AVX2;
    if (!strcmp(s, "avx512")) return VLM_ISA_AVX512;
    if (!strcmp(s, "amx")) return VLM_ISA_AMX;
    return -1;
}

vlm_isa vlm_cpu_isa(void) {
    vlm_cpu_features f;
    vlm_cpu_detect(&f);
    vlm_isa best = vlm_cpu_isa_supported(&f);
    int cap = vlm_isa_parse(getenv("VLM_CPU"));
    if (cap >= 0 && (vlm_isa)cap < best) best = (vlm_isa)cap;
    return best;
}

const char *vlm_isa_name(vlm_isa isa) {
    switch (isa) {
    case VLM_ISA_SCALAR: return "scalar";
    case VLM_ISA_AVX2: return "avx2";
    case VLM_ISA_AVX512: return "avx512";
    case VLM_ISA_AMX: return "amx";
    }
    return "unknown";
}
