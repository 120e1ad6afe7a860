/* The recurrent product of a small batch, out = x W^T (n rows), with W packed once per scan.
 *
 * At every step a scan multiplies the n_t running rows of h_{t-1} (n_t = 1..64) by the same
 * W_hh (G*H x H). A BLAS packs W into its internal panel layout at every call, which at batch
 * 8-32 costs as much as the arithmetic (OpenBLAS: 45 GFLOP/s for 8 x 128 -> 512 on one core
 * here, against 89 for the kernel below). Here W is packed once per scan and each step streams
 * the packed panels:
 *
 *     packed panel p:  P[p][k][r] = W[p*R + r][k]      R = 32 rows (AVX-512) or 16 (AVX2)
 *     out[b][p*R + r] = sum_k x[b][k] P[p][k][r]       (accumulated in k order, as a BLAS does)
 *
 * A register block is R rows x up to 6 batch rows (12 vector accumulators); the weights are
 * loaded once per k for the whole block, x[b][k] broadcast. Rows past W's end are zero in the
 * packing and masked at the store. `accumulate` adds the product to out (BLAS beta = 1).
 *
 * The instruction set is chosen at run time (rgemm_panel): AVX-512F, else AVX2 + FMA, else
 * none (panel 0), and the caller uses the BLAS. float32 only: float64 runs on the BLAS. */
#include <stdint.h>
#include <string.h>

#include "native.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define RGEMM_X86 1
#endif

enum { MAX_COLS = 6 };

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int detected_panel(void) {
#ifdef RGEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 32;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 16;
#endif
    return 0;
}

static int panel_in_use = -1; /* -1: not chosen yet (the widest the CPU has) */

int rgemm_panel(void) {
    if (panel_in_use < 0) panel_in_use = detected_panel();
    return panel_in_use;
}

/* For the tests and benchmarks: use the variant with `panel` rows (32 AVX-512, 16 AVX2, 0 the
 * BLAS) if the CPU can run it; returns the panel in use afterwards. Not for concurrent use. */
BIRNN_EXPORT int birnn_rgemm_use(int panel) {
    int widest = detected_panel();
    if ((panel == 0 || panel == 16 || panel == 32) && panel <= widest) panel_in_use = panel;
    return rgemm_panel();
}

int64_t rgemm_packed_floats(int64_t rows, int64_t depth) {
    int64_t panel = rgemm_panel();
    /* + 16: room to align the start to 64 bytes */
    return panel ? ceil_div(rows, panel) * panel * depth + 16 : 0;
}

BIRNN_EXPORT int64_t birnn_packed_floats(int64_t rows, int64_t depth) {
    return rgemm_packed_floats(rows, depth);
}

BIRNN_EXPORT int birnn_rgemm_panel(void) { return rgemm_panel(); }

#ifdef RGEMM_X86
/* The 16 x 16 transpose of r[0..16) (row i in r[i] -> column i in r[i]), in registers. */
static inline __attribute__((always_inline, target("avx512f"))) void transpose_16(__m512 r[16]) {
    __m512 t[16], u[16], v[16];
    for (int i = 0; i < 8; i++) { /* pairs of rows interleaved, then quads, then lanes */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            v[8 * i + j] = _mm512_shuffle_f32x4(u[8 * i + j], u[8 * i + 4 + j], 0x88);
            v[8 * i + 4 + j] = _mm512_shuffle_f32x4(u[8 * i + j], u[8 * i + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0xDD);
    }
}

/* A whole 32-row panel of the AVX-512 layout, k in [0, done): W's rows contiguous in k
 * (col_stride 1) go through 16 x 16 transposes, W's columns contiguous in r (row_stride 1,
 * the backward's transpose) are copied a vector at a time. Returns `done`, the k from which
 * the scalar loop finishes the panel. Scalar, the pack was 8% of an LSTM d inference. */
static __attribute__((target("avx512f"))) int64_t pack_panel_32(float *panel, const float *src,
                                                                 int64_t depth, int64_t rs,
                                                                 int64_t cs) {
    if (cs == 1) {
        int64_t done = depth / 16 * 16;
        for (int64_t k0 = 0; k0 < done; k0 += 16)
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
                for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (h * 16 + i) * rs + k0);
                transpose_16(r);
                for (int j = 0; j < 16; j++) _mm512_store_ps(panel + (k0 + j) * 32 + h * 16, r[j]);
            }
        return done;
    }
    if (rs == 1) {
        for (int64_t k = 0; k < depth; k++) {
            _mm512_store_ps(panel + k * 32, _mm512_loadu_ps(src + k * cs));
            _mm512_store_ps(panel + k * 32 + 16, _mm512_loadu_ps(src + k * cs + 16));
        }
        return depth;
    }
    return 0;
}
#endif

packed_matrix rgemm_pack(float *buffer, const float *w, int64_t rows, int64_t depth,
                         int64_t row_stride, int64_t col_stride) {
    packed_matrix m = {rows, depth, rgemm_panel(), NULL};
    if (!buffer || !m.panel) return m;
    float *data = (float *)(((uintptr_t)buffer + 63) & ~(uintptr_t)63);
    int64_t R = m.panel;
    /* k outer, r inner: the panel is written in order, and the R rows read at each k stay in
     * cache (the transposed W of the backward pass is read in order too); r outer had both
     * sides jump a cache line at every number (6% of an LSTM d training step) */
    for (int64_t p = 0; p < ceil_div(rows, R); p++) {
        float *panel = data + p * R * depth;
        const float *src = w + p * R * row_stride;
        int64_t valid = rows - p * R < R ? rows - p * R : R;
        int64_t k = 0;
#ifdef RGEMM_X86
        if (R == 32 && valid == 32) k = pack_panel_32(panel, src, depth, row_stride, col_stride);
#endif
        for (; k < depth; k++) {
            float *out = panel + k * R;
            for (int64_t r = 0; r < valid; r++) out[r] = src[r * row_stride + k * col_stride];
            for (int64_t r = valid; r < R; r++) out[r] = 0;
        }
    }
    m.data = data;
    return m;
}

#ifdef RGEMM_X86

/* One register block: rows [0, R) of a panel times `cols` rows of x (cols <= MAX_COLS, a
 * constant after inlining into the switch below). */
#define BLOCK(ISA, VEC, WIDTH, SET1, FMA, ZERO, LOAD, STORE_ROWS)                              \
    static inline __attribute__((always_inline, target(ISA))) void block_##WIDTH(            \
        const float *panel, int64_t depth, const float *const *x, int cols, float *out,       \
        int64_t ldo, int64_t valid, int accumulate) {                                         \
        VEC lo[MAX_COLS], hi[MAX_COLS];                                                       \
        for (int j = 0; j < cols; j++) lo[j] = hi[j] = ZERO();                                \
        for (int64_t k = 0; k < depth; k++) {                                                 \
            VEC w0 = LOAD(panel + k * 2 * WIDTH), w1 = LOAD(panel + k * 2 * WIDTH + WIDTH);   \
            for (int j = 0; j < cols; j++) {                                                  \
                VEC v = SET1(x[j][k]);                                                        \
                lo[j] = FMA(w0, v, lo[j]);                                                    \
                hi[j] = FMA(w1, v, hi[j]);                                                    \
            }                                                                                 \
        }                                                                                     \
        for (int j = 0; j < cols; j++) STORE_ROWS(out + j * ldo, lo[j], hi[j], valid, accumulate); \
    }

/* AVX-512: 2 x 16 floats a row block; masked stores for a last, partial panel. */
static inline __attribute__((always_inline, target("avx512f"))) void store_512(
    float *out, __m512 lo, __m512 hi, int64_t valid, int accumulate) {
    __mmask16 m0 = valid >= 16 ? 0xFFFF : (__mmask16)((1u << valid) - 1);
    __mmask16 m1 = valid >= 32 ? 0xFFFF : valid <= 16 ? 0 : (__mmask16)((1u << (valid - 16)) - 1);
    if (accumulate) {
        lo = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, out), lo);
        hi = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, out + 16), hi);
    }
    _mm512_mask_storeu_ps(out, m0, lo);
    _mm512_mask_storeu_ps(out + 16, m1, hi);
}
BLOCK("avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps, _mm512_load_ps,
      store_512)

/* AVX2: 2 x 8 floats a row block; a partial panel goes through a small buffer. */
static inline __attribute__((always_inline, target("avx2,fma"))) void store_256(
    float *out, __m256 lo, __m256 hi, int64_t valid, int accumulate) {
    float tmp[16];
    if (valid >= 16) {
        if (accumulate) {
            lo = _mm256_add_ps(_mm256_loadu_ps(out), lo);
            hi = _mm256_add_ps(_mm256_loadu_ps(out + 8), hi);
        }
        _mm256_storeu_ps(out, lo);
        _mm256_storeu_ps(out + 8, hi);
        return;
    }
    _mm256_storeu_ps(tmp, lo);
    _mm256_storeu_ps(tmp + 8, hi);
    for (int64_t r = 0; r < valid; r++) out[r] = accumulate ? out[r] + tmp[r] : tmp[r];
}
BLOCK("avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_load_ps,
      store_256)

/* Every panel, in blocks of MAX_COLS rows of x (the switch makes `cols` a constant); row b of
 * x is rows[b] if rows is given, else x + b * ldx. */
#define PRODUCT(ISA, WIDTH)                                                                    \
    static __attribute__((target(ISA))) void product_##WIDTH(                                  \
        const packed_matrix *m, const float *x, int64_t ldx, const float *const *rows,         \
        int64_t n, float *out, int64_t ldo, int accumulate) {                                  \
        int64_t R = 2 * WIDTH;                                                                 \
        for (int64_t p = 0; p * R < m->rows; p++) {                                            \
            const float *panel = m->data + p * R * m->depth;                                   \
            int64_t valid = m->rows - p * R;                                                   \
            for (int64_t b = 0; b < n; b += MAX_COLS) {                                        \
                const float *xb[MAX_COLS];                                                     \
                int cols = n - b < MAX_COLS ? (int)(n - b) : MAX_COLS;                         \
                for (int j = 0; j < cols; j++) xb[j] = rows ? rows[b + j] : x + (b + j) * ldx; \
                float *ob = out + b * ldo + p * R;                                             \
                switch (cols) {                                                                \
                case 1: block_##WIDTH(panel, m->depth, xb, 1, ob, ldo, valid, accumulate); break; \
                case 2: block_##WIDTH(panel, m->depth, xb, 2, ob, ldo, valid, accumulate); break; \
                case 3: block_##WIDTH(panel, m->depth, xb, 3, ob, ldo, valid, accumulate); break; \
                case 4: block_##WIDTH(panel, m->depth, xb, 4, ob, ldo, valid, accumulate); break; \
                case 5: block_##WIDTH(panel, m->depth, xb, 5, ob, ldo, valid, accumulate); break; \
                default: block_##WIDTH(panel, m->depth, xb, 6, ob, ldo, valid, accumulate); break; \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
PRODUCT("avx512f", 16)
PRODUCT("avx2,fma", 8)

#endif

void rgemm(const packed_matrix *m, const float *x, int64_t ldx, int64_t n, float *out,
           int64_t ldo, int accumulate) {
#ifdef RGEMM_X86
    if (m->panel == 32) product_16(m, x, ldx, NULL, n, out, ldo, accumulate);
    if (m->panel == 16) product_8(m, x, ldx, NULL, n, out, ldo, accumulate);
#else
    (void)m, (void)x, (void)ldx, (void)n, (void)out, (void)ldo, (void)accumulate;
#endif
}

void rgemm_rows(const packed_matrix *m, const float *const *rows, int64_t n, float *out,
                int64_t ldo, int accumulate) {
#ifdef RGEMM_X86
    if (m->panel == 32) product_16(m, NULL, 0, rows, n, out, ldo, accumulate);
    if (m->panel == 16) product_8(m, NULL, 0, rows, n, out, ldo, accumulate);
#else
    (void)m, (void)rows, (void)n, (void)out, (void)ldo, (void)accumulate;
#endif
}

/* For the tests: out (n, rows) = x (n, depth) W^T, W (rows, depth) with the given strides,
 * through packing and the kernel; returns the panel used (0: no kernel, nothing written). */
BIRNN_EXPORT int birnn_rgemm_f32(const float *w, int64_t rows, int64_t depth, int64_t row_stride,
                                 int64_t col_stride, float *buffer, const float *x, int64_t ldx,
                                 int64_t n, float *out, int64_t ldo, int accumulate) {
    packed_matrix m = rgemm_pack(buffer, w, rows, depth, row_stride, col_stride);
    if (!m.data) return 0;
    rgemm(&m, x, ldx, n, out, ldo, accumulate);
    return m.panel;
}
