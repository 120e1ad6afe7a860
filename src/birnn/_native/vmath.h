/* tanh and sigmoid for the fused passes: written so that a plain C loop over them vectorises
 * at -O3 (sigmoid below tanh_f32: one exp and a division).
 *
 * libm's scalar tanhf costs ~10 ns a call, as much as the recurrent GEMM at small sizes;
 * NumPy's SIMD tanh costs ~1 ns. tanh_f32 is branch-free (both formulas are computed and one
 * is selected) so the compiler turns a loop over it into SIMD code:
 *
 *   |x| < 0.625:  tanh(x) = x + x^3 P(x^2)            (Cephes tanhf's minimax polynomial)
 *   otherwise:    tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)),   |x| clamped to 10
 *                 exp(y)  = 2^k exp(r),  k = round(y / ln 2),  r = y - k ln 2   (Cephes expf)
 *
 * Error: at most a few ulp (tests/test_native.py checks it against float64 tanh); NaN stays NaN.
 * float64 uses libm's tanh (float64 speed is not a target; its accuracy is).
 *
 * VECTOR_LOOPS marks the functions holding those loops: on x86-64 Linux the compiler builds them
 * three times (baseline SSE2, AVX2, AVX-512) and the loader picks the widest the CPU has (an
 * ifunc), so the library runs on any x86-64 and still uses 16-wide vectors where they exist
 * (7x faster than SSE2 here). The math is the same in every version. */
#ifndef BIRNN_VMATH_H
#define BIRNN_VMATH_H

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_LOOPS __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define VECTOR_LOOPS
#endif
/* always inlined: a clone can only vectorise a loop over tanh once tanh is inside it */
#define INLINE static inline __attribute__((always_inline))

#include <math.h>
#include <stdint.h>
#include <string.h>

INLINE float exp_f32(float y) {
    /* valid for y in [-87, 88]: tanh's y is in [1.25, 20], sigmoid's in [-87, 87] */
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = y * 1.44269504088896341f + magic;
    float k = t - magic;
    float r = y - k * 0.693359375f + k * 2.12194440e-4f; /* ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23; /* k + 127 in the exponent field: 2^k */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

INLINE float tanh_f32(float x) {
    float ax = fabsf(x);
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float e = exp_f32(2.0f * (ax < 10.0f ? ax : 10.0f));
    float big = copysignf(1.0f - 2.0f / (e + 1.0f), x);
    float y = ax < 0.625f ? small : big;
    return x != x ? x : y;
}

/* sigmoid(x) = 1 / (1 + exp(-x)): one exp and one division, half the work of
 * 0.5 tanh(x / 2) + 0.5 (which computes both of tanh's formulas). No cancellation anywhere,
 * so the relative error stays a few ulp; -x is clamped to [-87, 87] (exp's range), which only
 * changes results below 1e-38 or within an ulp of 1. NaN stays NaN (the clamps keep it). */
INLINE float sigmoid_f32(float x) {
    float y = -x;
    y = y > 87.0f ? 87.0f : y;
    y = y < -87.0f ? -87.0f : y;
    return 1.0f / (1.0f + exp_f32(y));
}

INLINE double tanh_f64(double x) { return tanh(x); }

INLINE double sigmoid_f64(double x) { return 0.5 * tanh(0.5 * x) + 0.5; }

#endif
