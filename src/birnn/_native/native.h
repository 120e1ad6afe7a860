/* Shared declarations of birnn's compiled time loop (see __init__.py for the design).
 *
 * Every array is C-contiguous; chain d's block of an array of shape (D, ...) starts at
 * d * (size of one chain's block). Rows are row vectors, as in the Python code. */
#ifndef BIRNN_NATIVE_H
#define BIRNN_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#define BIRNN_ABI_VERSION 12

#if defined(__GNUC__)
#define BIRNN_EXPORT __attribute__((visibility("default")))
#else
#define BIRNN_EXPORT
#endif

/* One GEMM a chain runs after its backward loop, on the chain's own thread (a term of
 * birnn.cells.sums: the parameter gradients and the chain's part of dx): out = op(a) op(b),
 * op(X) = X^T where trans_x is set, rows of out ldo apart. With `add`, the product goes to
 * temp (m x n) first and is then added to out, as NumPy's `out += a @ b` does: both paths
 * make the same BLAS calls, so they give the same numbers. */
typedef struct {
    int32_t trans_a, trans_b, add;
    int64_t m, n, k, lda, ldb, ldo;
    const void *a, *b;
    void *out, *temp;
} product;

/* One scan of D chains, forward or backward: what birnn.recurrent.scan hands over.
 *
 * The tape's layout is the Python cell's declaration (birnn/cells: extra_widths, grad_widths,
 * native_step), passed in here as widths and slot order; this file does not repeat it. */
typedef struct {
    int32_t cell;         /* index of the cell's steps: birnn_cell_kind(cell.native_step) */
    int32_t real_size;    /* bytes per number: 4 (float32) or 8 (float64) */
    int32_t concurrent;   /* 1: chain 1 runs on a second thread while chain 0 runs here */
    int32_t blas_threads; /* BLAS threads during the scan (per chain when concurrent) */
    int32_t states;       /* recurrent states: 1 (h) or 2 (h, c) */
    int32_t project_steps; /* 1: x_t W_in^T at each step with W_in packed (float32, packed
                              set, room for it after W_hh's: rgemm_packed_floats(G*H, x_width)
                              more per chain) instead of one BLAS GEMM over all steps; a
                              then holds one step per chain, (D, 1, N, G*H) */
    int64_t chains, steps, batch, hidden; /* D, T, N, H */
    int64_t gates;                        /* G*H: width of a, rows of W_hh */
    int64_t extra_width[2];               /* numbers per row of each extras slot (0: none) */
    int64_t grad_width[2];                /* numbers per row of each grads slot (0: none) */
    int64_t kept;                         /* steps of extras stored: T (training) or 1 */
    int64_t states_kept;                  /* steps of states_out stored: T, or 2 (inference
                                             with h_out: step t in slot t % 2) */
    const int64_t *lengths;               /* (N,), sorted decreasing, each in [1, T] */
    void *a;                              /* (D, T, N, G*H) input projections, biases added:
                                             computed here from x and w_in when x[0] is set
                                             (D, 1, N, G*H) with project_steps */
    const void *w;                        /* (D, G*H, H) W_hh */
    const void *b_hn;                     /* (D, H) GRU reset_after: b_hh of the n block */
    const void *init[2];                  /* (D, N, H) initial h [, c] */
    void *states_out[2];                  /* (D, states_kept, N, H) h [, c] after each step */
    void *extras[2];                      /* (D, kept, N, extra_width): cell.extra_widths() */
    const void *d_out;                    /* (D, T, N, H) gradient at each output, or NULL */
    const void *d_final[2];               /* (D, N, H) gradient at the final h [, c], or NULL */
    void *grads[2];                       /* (D, T, N, grad_width): cell.grad_widths() */
    void *carry[2];                       /* (D, N, H) zeros in; gradient at init out */
    void *scratch;                        /* (D, N, G*H) working memory of the steps */
    void *packed;                         /* (D, packed_floats) room for W packed, or NULL */
    int64_t packed_floats;                /* per chain: birnn_packed_floats(rows, depth) */
    const void *x[2];                     /* forward: (T*N, x_width) chain d's scan input */
    int64_t x_width;                      /* F, or F + 1 with the ones column of the biases */
    const void *w_in;                     /* (D, G*H, w_in_stride) W_ih [| b]: x_width used */
    int64_t w_in_stride;                  /* numbers between rows of w_in (>= x_width) */
    const void *bias;                     /* (D, G*H) added to a at each step, or NULL (a
                                             holds the biases: the ones column of x) */
    /* Inference only: h_out[d], each step's h of chain d is also copied there, (T, N,
     * h_out_ld) in time order: with h_out_flipped[d], row b of step t is time len[b]-1-t
     * (the chain scans the flipped sequences). */
    int32_t h_out_flipped[2];
    /* With project_steps: x_flipped[d], chain d reads x[d] as time-reversed sequences, row b of
     * step t at time len[b]-1-t (the backward chain projects x itself, no flipped copy). */
    int32_t x_flipped[2];
    void *x_rows;                         /* (D, N) room for row addresses, with x_flipped */
    void *h_out[2];
    int64_t h_out_ld;
    /* Backward only: after[d], after_count[d] products that chain d runs after its loop. */
    const product *after[2];
    int64_t after_count[2];
} scan_args;

/* A matrix packed for the recurrent product (rgemm.c); data NULL: not packed, use the BLAS. */
typedef struct {
    int64_t rows, depth; /* out = x W^T: W is (rows, depth) */
    int panel;           /* rows per packed panel: 32 (AVX-512), 16 (AVX2), 0 (no kernel) */
    const float *data;
} packed_matrix;

/* What one time step of one chain touches: the first n rows (the sequences still running). */
typedef struct {
    int64_t n, hidden;
    const void *a;                /* (n, G*H) */
    const void *bias;             /* (G*H) added to each row of a before its pass, or NULL */
    const void *h_prev, *c_prev;  /* (n, H) */
    void *h, *c;                  /* (n, H) forward: written; backward: read */
    void *ex0, *ex1;              /* extras at this step, in the cell's extra_widths() order */
    const void *w, *b_hn;
    const void *d_out;            /* backward: (n, H) gradient arriving at h, or NULL */
    void *dh, *dc;                /* backward: carry; in at t, out at t - 1 */
    void *da, *dhh;               /* backward: grads at this step, grad_widths() order */
    void *scratch;                /* (G*H, n) forward: W_hh h_prev^T; GRU reset_before bwd */
    const packed_matrix *packed;  /* forward W_hh, backward W_hh^T, or NULL */
} step_args;

typedef void (*step_fn)(const step_args *s);

/* A cell's compiled steps, under the name its Python class gives as ``native_step``; `packs`:
 * its steps use the packed recurrent product (step_args.packed) when the scan provides it.
 * `in_place`: a bit per extras slot whose values the backward step reads from the grads slot
 * of the same index and overwrites with that gradient (LSTM: the gates become da; GRU also
 * hh_n becomes dhh_n); with bit 0 set the forward step also finds a in extras slot 0 and
 * writes the gates over it (ex0 is a). One buffer then serves a, the gates and da. */
typedef struct {
    const char *name;
    step_fn forward, backward;
    int packs;
    int in_place;
} cell_steps;

/* cells.c: the step functions of cell kind k for real_size 4 or 8 (NULL if unknown). */
const cell_steps *cell_steps_for(int kind, int real_size);

/* blas.c: row-major GEMM, C = op(A) op(B) + beta C, op(X) = X^T where trans_x is set. */
void gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
              int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const double *a,
              int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);
/* rgemm.c: the recurrent product of small batches, out (n, rows) = x (n, depth) W^T. */
int rgemm_panel(void);
int64_t rgemm_packed_floats(int64_t rows, int64_t depth);
packed_matrix rgemm_pack(float *buffer, const float *w, int64_t rows, int64_t depth,
                         int64_t row_stride, int64_t col_stride);
void rgemm(const packed_matrix *m, const float *x, int64_t ldx, int64_t n, float *out,
           int64_t ldo, int accumulate);
/* rgemm with row b of x at rows[b] (rows anywhere: the flipped scan input, read in place). */
void rgemm_rows(const packed_matrix *m, const float *const *rows, int64_t n, float *out,
                int64_t ldo, int accumulate);
/* worker.c: run fn(arg) on the persistent helper thread (0), or refuse (nonzero: the caller
 * runs it itself); worker_wait blocks until a submitted job has finished. */
typedef void (*worker_job)(void *arg);
int worker_submit(worker_job fn, void *arg);
void worker_wait(void);
/* Set the BLAS thread count for the duration of a scan, and put it back (counted: nested
 * settings restore the outermost one's value). */
void blas_threads_enter(int threads);
void blas_threads_leave(void);

#endif
