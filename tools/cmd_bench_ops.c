/* cmd_bench_ops.c - `videollm bench-ops`: micro-benchmark of the compute
 * kernels at the real model shapes, with NumPy (OpenBLAS) f32 matmul measured
 * in the same run as the peer (OPENBLAS_CORETYPE=SkylakeX: its AVX-512 kernels,
 * which Debian's OpenBLAS does not pick by itself on this CPU).
 *
 *   LM step   x[11, 4096] @ W^T for W 4096x4096 and 14336x4096, every weight
 *             type; weights rotated over copies totalling > --mem MiB so they
 *             come from DRAM, not cache (GB/s = weight bytes / time).
 *   SigLIP    x[576, 1024] @ W^T, W 4096x1024 and 1024x1024 (f32/f16/bf16/q8_0).
 *   others    gelu_tanh, layernorm, softmax, attention at SigLIP and LM shapes.
 * Each figure is the median of --reps runs after one warm-up. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ops/ops.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

/* ---- the machine's FMA peak right now (the host is shared: figures are
 * relative to what the cores deliver during this run) ---- */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f,fma"))) static float fma_loop512(long n) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    for (long i = 0; i < n; i++)
        for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}
#endif

typedef struct {
    long n;
    float sink[8];
} peak_ctx;

static void peak_fn(void *arg, int ith, int nth) {
    (void)nth;
    peak_ctx *p = arg;
#if defined(__x86_64__)
    p->sink[ith & 7] += fma_loop512(p->n);
#else
    (void)p, (void)ith;
#endif
}

/* GFLOP/s of a register-only AVX-512 FMA loop on every thread of the pool. */
static double fma_peak(vlm_pool *pool, int nth) {
    peak_ctx p = {.n = 20000000};
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        vlm_pool_run(pool, peak_fn, &p);
        double g = 12.0 * 32.0 * (double)p.n * nth / (now_s() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

typedef struct {
    int reps;
    size_t mem_mb;
    bool peer, quick;
    int threads[4], n_threads;
    const vlm_kernels *kern;
} bench_opts;

/* NumPy f32 matmul x[T,K] @ W[N,K].T, median seconds; < 0 if unavailable. */
static double numpy_peer(int64_t T, int64_t N, int64_t K, int threads, int reps) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d /usr/bin/python3 -c '"
             "import numpy as np, time\n"
             "x = np.random.rand(%lld, %lld).astype(np.float32)\n"
             "w = np.random.rand(%lld, %lld).astype(np.float32)\n"
             "x @ w.T\n"
             "ts = []\n"
             "for _ in range(%d):\n"
             "    t = time.perf_counter(); x @ w.T; ts.append(time.perf_counter() - t)\n"
             "print(sorted(ts)[len(ts) // 2])\n' 2>/dev/null",
             threads, threads, (long long)T, (long long)K, (long long)N, (long long)K, reps);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double s = -1;
    if (fscanf(p, "%lf", &s) != 1) s = -1;
    pclose(p);
    return s;
}

static void bench_matmul(const bench_opts *o, vlm_pool *pool, int nth, const char *label, int wt, int64_t T,
                         int64_t N, int64_t K, bool cold, double peer_s) {
    size_t row = vlm_dtype_row_size(wt, K), wbytes = row * (size_t)N;
    int copies = 1;
    if (cold) {
        copies = (int)((o->mem_mb << 20) / wbytes) + 1;
        if (copies > 64) copies = 64;
    }
    uint8_t **w = calloc((size_t)copies, sizeof *w);
    float *tmp = malloc((size_t)K * 4);
    int ok = w && tmp;
    for (int c = 0; ok && c < copies; c++) {
        w[c] = malloc(wbytes);
        if (!w[c]) {
            ok = 0;
            break;
        }
        if (c == 0) {
            for (int64_t n = 0; n < N; n++) {
                for (int64_t k = 0; k < K; k++) tmp[k] = frand();
                vlm_quantize_row(wt, tmp, w[0] + (size_t)n * row, K);
            }
        } else {
            memcpy(w[c], w[0], wbytes);
        }
    }
    float *x = malloc((size_t)(T * K) * 4), *y = malloc((size_t)(T * N) * 4);
    size_t ss = vlm_matmul_scratch_size(wt, T, K, nth);
    void *scr = aligned_alloc(64, (ss + 63) & ~(size_t)63);
    if (!ok || !x || !y || !scr) {
        printf("  %-8s %-5s out of memory\n", label, vlm_dtype_name(wt));
        goto done;
    }
    for (int64_t i = 0; i < T * K; i++) x[i] = frand();
    vlm_ops ops = {o->kern, pool, scr, ss};
    double ts[64];
    int reps = o->reps < 64 ? o->reps : 64;
    vlm_matmul(&ops, y, N, x, K, w[0], wt, NULL, T, N, K); /* warm-up */
    for (int r = 0; r < reps; r++) {
        uint8_t *wc = w[(r + 1) % copies];
        double t0 = now_s();
        vlm_matmul(&ops, y, N, x, K, wc, wt, NULL, T, N, K);
        ts[r] = now_s() - t0;
    }
    double s = median(ts, reps), flop = 2.0 * (double)T * (double)N * (double)K;
    printf("  %-8s %-5s T=%-4lld N=%-6lld K=%-5lld th=%d  %8.3f ms  %7.1f GFLOP/s  %6.1f GB/s", label,
           vlm_dtype_name(wt), (long long)T, (long long)N, (long long)K, nth, s * 1e3, flop / s * 1e-9,
           (double)wbytes / s * 1e-9);
    if (peer_s > 0) printf("  numpy f32 %.3f ms (x%.2f)", peer_s * 1e3, peer_s / s);
    printf("\n");
done:
    if (w)
        for (int c = 0; c < copies; c++) free(w[c]);
    free(w), free(tmp), free(x), free(y), free(scr);
}

static void bench_misc(const bench_opts *o, vlm_pool *pool, int nth) {
    vlm_ops ops = {o->kern, pool, NULL, 0};
    const int64_t T = 576, n = 4096;
    float *x = malloc(T * n * 4), *y = malloc(T * n * 4), *w = malloc(n * 4), *b = malloc(n * 4);
    for (int64_t i = 0; i < T * n; i++) x[i] = frand() * 4;
    for (int64_t i = 0; i < n; i++) w[i] = frand(), b[i] = frand();
    double ts[64];
    int reps = o->reps < 64 ? o->reps : 64;
#define TIME(expr)                                  \
    do {                                            \
        expr;                                       \
        for (int r = 0; r < reps; r++) {            \
            double t0 = now_s();                    \
            expr;                                   \
            ts[r] = now_s() - t0;                   \
        }                                           \
    } while (0)
    TIME(vlm_gelu_tanh(&ops, y, x, T * n));
    double s = median(ts, reps);
    printf("  gelu_tanh  576x4096       th=%d  %8.3f ms  %7.2f Gelem/s\n", nth, s * 1e3, T * n / s * 1e-9);
    TIME(vlm_layernorm(&ops, y, 1024, x, 1024, w, b, T, 1024, 1e-6f));
    s = median(ts, reps);
    printf("  layernorm  576x1024       th=%d  %8.3f ms  %7.2f GB/s\n", nth, s * 1e3, T * 1024 * 8 / s * 1e-9);
    TIME(vlm_softmax(&ops, y, 576, x, 576, 576 * 4, 576, 0.125f));
    s = median(ts, reps);
    printf("  softmax    2304x576       th=%d  %8.3f ms  %7.2f Gelem/s\n", nth, s * 1e3, 576.0 * 2304 / s * 1e-9);
    /* SigLIP attention: 576 queries, 16 heads of 64, f32 K/V, not causal */
    {
        const int64_t H = 16, D = 64, L = 576;
        float *q = malloc(L * H * D * 4), *k = malloc(L * H * D * 4), *v = malloc(L * H * D * 4), *out = malloc(L * H * D * 4);
        for (int64_t i = 0; i < L * H * D; i++) q[i] = frand(), k[i] = frand(), v[i] = frand();
        vlm_attn_args a = {.q = q, .ldq = H * D, .out = out, .ldo = H * D, .T = L, .n_head = H, .n_kv_head = H,
                           .D = D, .k = k, .v = v, .kv_type = VLM_DT_F32, .kv_stride_pos = H * D,
                           .kv_stride_head = D, .n_kv = L, .pos0 = 0, .causal = false, .scale = 0.125f};
        TIME(vlm_attention(&ops, &a));
        s = median(ts, reps);
        double flop = 4.0 * L * L * H * D;
        printf("  attention  SigLIP 576x16x64 f32 th=%d  %8.3f ms  %7.1f GFLOP/s\n", nth, s * 1e3, flop / s * 1e-9);
        free(q), free(k), free(v), free(out);
    }
    /* LM step attention: 11 queries, 32 heads / 8 kv heads of 128, 2048 cached f16 keys */
    {
        const int64_t H = 32, HKV = 8, D = 128, NKV = 2048, TQ = 11;
        float *q = malloc(TQ * H * D * 4), *out = malloc(TQ * H * D * 4);
        uint16_t *k = malloc(NKV * HKV * D * 2), *v = malloc(NKV * HKV * D * 2);
        for (int64_t i = 0; i < TQ * H * D; i++) q[i] = frand();
        for (int64_t i = 0; i < NKV * HKV * D; i++) k[i] = vlm_f32_to_f16(frand()), v[i] = vlm_f32_to_f16(frand());
        vlm_attn_args a = {.q = q, .ldq = H * D, .out = out, .ldo = H * D, .T = TQ, .n_head = H, .n_kv_head = HKV,
                           .D = D, .k = k, .v = v, .kv_type = VLM_DT_F16, .kv_stride_pos = HKV * D,
                           .kv_stride_head = D, .n_kv = NKV, .pos0 = NKV - TQ, .causal = true, .scale = 0.088f};
        TIME(vlm_attention(&ops, &a));
        s = median(ts, reps);
        printf("  attention  LM 11q 32/8x128 2048 f16 th=%d  %8.3f ms  (x32 layers: %.1f ms)  %6.1f GB/s KV\n", nth,
               s * 1e3, s * 32e3, NKV * HKV * D * 4.0 / s * 1e-9);
        free(q), free(out), free(k), free(v);
    }
#undef TIME
    free(x), free(y), free(w), free(b);
}

int cmd_bench_ops(int argc, char **argv) {
    bench_opts o = {.reps = 5, .mem_mb = 640, .peer = true, .threads = {1, 2}, .n_threads = 2};
    const char *isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) o.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mem") && i + 1 < argc) o.mem_mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            o.n_threads = 0;
            for (char *s = strtok(argv[++i], ","); s && o.n_threads < 4; s = strtok(NULL, ","))
                o.threads[o.n_threads++] = atoi(s);
        } else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--no-peer")) o.peer = false;
        else if (!strcmp(argv[i], "--quick")) o.quick = true;
        else {
            fprintf(stderr,
                    "usage: videollm bench-ops [--threads 1,2] [--reps 5] [--mem MiB] [--isa scalar|avx2|avx512]\n"
                    "                          [--no-peer] [--quick]\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (o.reps < 1) o.reps = 1;
    int isa_id = isa ? vlm_isa_parse(isa) : -1;
    if (isa && isa_id < 0) {
        fprintf(stderr, "bench-ops: unknown --isa '%s'\n", isa);
        return 2;
    }
    o.kern = isa ? vlm_kernels_get((vlm_isa)isa_id) : vlm_kernels_best();
    printf("bench-ops: kernels %s, reps %d, cold weights > %zu MiB\n", vlm_kernels_name(o.kern), o.reps, o.mem_mb);
    const int types[] = {VLM_DT_F32, VLM_DT_F16, VLM_DT_BF16, VLM_DT_Q8_0, VLM_DT_Q4_0};
    for (int ti = 0; ti < o.n_threads; ti++) {
        int nth = o.threads[ti];
        vlm_pool *pool = NULL;
        if (nth < 1 || vlm_pool_init(nth, &pool) != VLM_OK) {
            fprintf(stderr, "bench-ops: bad thread count %d\n", nth);
            return 2;
        }
        if (vlm_kernels_isa(o.kern) >= VLM_ISA_AVX512)
            printf("threads %d: AVX-512 FMA peak now %.1f GFLOP/s (register-only loop, %d thread%s)\n", nth,
                   fma_peak(pool, nth), nth, nth > 1 ? "s" : "");
        else
            printf("threads %d\n", nth);
        double peer = o.peer ? numpy_peer(11, 4096, 4096, nth, o.reps) : -1;
        for (int i = 0; i < 5; i++) bench_matmul(&o, pool, nth, "LM", types[i], 11, 4096, 4096, true, peer);
        if (!o.quick) {
            peer = o.peer ? numpy_peer(11, 14336, 4096, nth, o.reps) : -1;
            for (int i = 0; i < 5; i++) bench_matmul(&o, pool, nth, "LM", types[i], 11, 14336, 4096, true, peer);
        }
        peer = o.peer ? numpy_peer(576, 4096, 1024, nth, o.reps) : -1;
        for (int i = 0; i < 4; i++) bench_matmul(&o, pool, nth, "SigLIP", types[i], 576, 4096, 1024, false, peer);
        if (!o.quick) {
            peer = o.peer ? numpy_peer(576, 1024, 1024, nth, o.reps) : -1;
            for (int i = 0; i < 3; i++) bench_matmul(&o, pool, nth, "SigLIP", types[i], 576, 1024, 1024, false, peer);
        }
        bench_misc(&o, pool, nth);
        vlm_pool_free(pool);
    }
    return 0;
}
