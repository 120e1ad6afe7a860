/* One Adam / AdamW step over a parameter in a single pass over memory (birnn/optim/adam.py).
 *
 * The NumPy update makes a dozen passes over p, g, m, v and a scratch array; for an embedding
 * table of millions of rows that is most of an optimiser step. This loop reads each element
 * once and does the same float operations in the same order, each rounded to REAL as NumPy
 * rounds it (no fused multiply-add: ADAM_CLONES), so both paths give the same bits on x86-64
 * (a compiler that contracts a * b + c elsewhere may differ in the last bit):
 *
 *     g' = g + wd * p                  (Adam's L2 penalty; AdamW instead p <- p * decay first)
 *     m <- m + (g' - m) * c1           c1 = 1 - beta1
 *     v <- v * beta2 + (g' * g') * c2  c2 = 1 - beta2
 *     p <- p - (m / (sqrt(v) / bc2 + eps)) * step    bc2 = sqrt(1 - beta2^t),
 *                                                    step = lr / (1 - beta1^t)
 *
 * h[] holds the scalars in that order: c1, beta2, c2, bc2, eps, step, wd, decay; each is
 * rounded to REAL first, as NumPy does with a Python float against a REAL array. */
#include <math.h>

#include "native.h"

/* AVX2 without FMA: 8-wide vectors, and no fused multiply-add the compiler could contract two
 * of the steps into (it rounds once where NumPy rounds twice). The loop is memory-bound. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define ADAM_CLONES __attribute__((target_clones("default", "avx2")))
#else
#define ADAM_CLONES
#endif

enum { DECAY_NONE = 0, DECAY_L2 = 1, DECAY_DECOUPLED = 2 };

/* The loop for one weight-decay rule (DECAY a constant, so each copy is branch-free and the
 * compiler vectorises it). */
#define ADAM_LOOP(REAL, SQRT, DECAY)                                                            \
    for (int64_t i = 0; i < n; i++) {                                                           \
        REAL pi = p[i], gi = g[i];                                                              \
        if (DECAY == DECAY_DECOUPLED) pi = pi * keep;                                           \
        if (DECAY == DECAY_L2) {                                                                \
            REAL penalty = pi * wd;                                                             \
            gi = penalty + gi;                                                                  \
        }                                                                                       \
        REAL diff = gi - m[i];                                                                  \
        diff = diff * c1;                                                                       \
        REAL mi = m[i] + diff;                                                                  \
        REAL sq = gi * gi;                                                                      \
        sq = sq * c2;                                                                           \
        REAL vi = v[i] * b2;                                                                    \
        vi = vi + sq;                                                                           \
        REAL den = SQRT(vi);                                                                    \
        den = den / bc2;                                                                        \
        den = den + eps;                                                                        \
        REAL upd = mi / den;                                                                    \
        upd = upd * step;                                                                       \
        m[i] = mi;                                                                              \
        v[i] = vi;                                                                              \
        p[i] = pi - upd;                                                                        \
    }

#define DEFINE_ADAM(NAME, REAL, SQRT)                                                              \
    BIRNN_EXPORT ADAM_CLONES void NAME(REAL *restrict p, const REAL *restrict g, REAL *restrict m, \
                                       REAL *restrict v, int64_t n, const double *h, int decay) {  \
        const REAL c1 = (REAL)h[0], b2 = (REAL)h[1], c2 = (REAL)h[2], bc2 = (REAL)h[3];            \
        const REAL eps = (REAL)h[4], step = (REAL)h[5], wd = (REAL)h[6], keep = (REAL)h[7];        \
        if (decay == DECAY_L2) {                                                                   \
            ADAM_LOOP(REAL, SQRT, DECAY_L2)                                                        \
        } else if (decay == DECAY_DECOUPLED) {                                                     \
            ADAM_LOOP(REAL, SQRT, DECAY_DECOUPLED)                                                 \
        } else {                                                                                   \
            ADAM_LOOP(REAL, SQRT, DECAY_NONE)                                                      \
        }                                                                                          \
    }

DEFINE_ADAM(birnn_adam_f32, float, sqrtf)
DEFINE_ADAM(birnn_adam_f64, double, sqrt)
