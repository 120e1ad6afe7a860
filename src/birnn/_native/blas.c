/* The BLAS the kernel calls: NumPy's own OpenBLAS, handed over by Python as function pointers.
 *
 * Using the library NumPy already loaded (instead of linking one) adds no dependency and no
 * second thread pool. NumPy's wheels ship OpenBLAS with 64-bit integers (ILP64, symbols like
 * scipy_cblas_sgemm64_); other builds use 32-bit ones; both signatures are supported.
 *
 * Thread count: OpenBLAS's thread setting is process-wide (openblas_set_num_threads_local is
 * not thread-local in its pthread builds), so a scan sets it on entry and restores it on exit;
 * overlapping scans from several threads share one saved value under a lock. */
#include <pthread.h>

#include "native.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                           const float *, int64_t, float, float *, int64_t);
typedef void (*dgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, double, const double *,
                           int64_t, const double *, int64_t, double, double *, int64_t);
typedef void (*sgemm32_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                           int, float, float *, int);
typedef void (*dgemm32_fn)(int, int, int, int, int, int, double, const double *, int,
                           const double *, int, double, double *, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef void (*any_fn)(void); /* a function pointer as handed over; cast to its type to call */

static struct {
    any_fn sgemm, dgemm;
    int ilp64;
    set_threads_fn set_threads; /* NULL: the thread count cannot be controlled */
    get_threads_fn get_threads;
} blas;

BIRNN_EXPORT int birnn_abi_version(void) { return BIRNN_ABI_VERSION; }

BIRNN_EXPORT void birnn_set_blas(any_fn sgemm, any_fn dgemm, int ilp64, any_fn set_threads,
                                 any_fn get_threads) {
    blas.sgemm = sgemm;
    blas.dgemm = dgemm;
    blas.ilp64 = ilp64;
    blas.set_threads = (set_threads_fn)set_threads;
    blas.get_threads = (get_threads_fn)get_threads;
}

BIRNN_EXPORT int birnn_blas_threads(void) { return blas.get_threads ? blas.get_threads() : 0; }

/* gemm_f32 and gemm_f64: one definition for both number types (the BLAS takes 64-bit or 32-bit
 * integers, as the build NumPy loaded says). */
#define DEFINE_GEMM(NAME, REAL, FN, FN64, FN32)                                                  \
    void NAME(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const REAL *a,         \
              int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c, int64_t ldc) {       \
        int ta = trans_a ? TRANS : NO_TRANS, tb = trans_b ? TRANS : NO_TRANS;                   \
        if (blas.ilp64)                                                                         \
            ((FN64)blas.FN)(ROW_MAJOR, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);       \
        else                                                                                    \
            ((FN32)blas.FN)(ROW_MAJOR, ta, tb, (int)m, (int)n, (int)k, 1, a, (int)lda, b,       \
                            (int)ldb, beta, c, (int)ldc);                                       \
    }

DEFINE_GEMM(gemm_f32, float, sgemm, sgemm64_fn, sgemm32_fn)
DEFINE_GEMM(gemm_f64, double, dgemm, dgemm64_fn, dgemm32_fn)

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static int threads_users = 0;
static int threads_saved = 0;

void blas_threads_enter(int threads) {
    if (!blas.set_threads || !blas.get_threads) return;
    pthread_mutex_lock(&threads_lock);
    if (threads_users++ == 0) threads_saved = blas.get_threads();
    if (blas.get_threads() != threads) blas.set_threads(threads);
    pthread_mutex_unlock(&threads_lock);
}

void blas_threads_leave(void) {
    if (!blas.set_threads || !blas.get_threads) return;
    pthread_mutex_lock(&threads_lock);
    if (--threads_users == 0 && blas.get_threads() != threads_saved)
        blas.set_threads(threads_saved);
    pthread_mutex_unlock(&threads_lock);
}

/* For Python (backend.chain_threads): the same counted setting around a whole module call. */
BIRNN_EXPORT void birnn_blas_threads_enter(int threads) { blas_threads_enter(threads); }

BIRNN_EXPORT void birnn_blas_threads_leave(void) { blas_threads_leave(); }
