/* One time step of each cell, forward and backward: a template over the number type.
 *
 * cells.c includes this file twice, with REAL = float and REAL = double, SUF(name) adding a
 * _f32 / _f64 suffix, and TANH and GEMM the matching functions. Each step is the recurrent
 * GEMM(s) into preallocated buffers followed by one fused pass over the n active rows: the same
 * equations, in the same order of operations, as the NumPy cells in birnn/cells/ (rnn.py, gru.py,
 * gru_original.py, lstm.py), whose docstrings derive them. Gate blocks are in the internal
 * order (LSTM i, f, o, g; GRU r, z, n). SIGMOID is 1 / (1 + exp(-x)) in float32 (vmath.h:
 * one exp, half the work of a tanh) and 0.5 + 0.5 tanh(x / 2) in float64, as the NumPy cells.
 * Derivatives are taken from outputs: sigmoid' = s - s*s, tanh' = 1 - t*t. */

/* pre = the recurrent product of the n running rows, h_prev W^T, and its layout: with the
 * packed kernel (float32, rgemm.c) pre is (n, G) row-major, so row b starts at b * G and its
 * entries follow each other (*row_step = G, *col_step = 1); through the BLAS it is computed
 * transposed, W h_prev^T (G x n), the faster BLAS form at these sizes (*row_step = 1,
 * *col_step = n). */
static void SUF(recurrent_product)(const step_args *s, int64_t G, REAL *pre, int64_t *row_step,
                                   int64_t *col_step) {
    int64_t n = s->n, H = s->hidden;
#if PACKED_PRODUCT
    if (s->packed && s->packed->data) {
        rgemm(s->packed, s->h_prev, H, n, pre, G, 0);
        *row_step = G, *col_step = 1;
        return;
    }
#endif
    GEMM(0, 1, G, n, H, s->w, H, s->h_prev, H, 0, pre, n);
    *row_step = 1, *col_step = n;
}

/* dh = d W_hh (+ dh when `accumulate`): the gradient at h_prev through the recurrent product,
 * d (n, G) with row stride G. */
static void SUF(back_product)(const step_args *s, int64_t G, const REAL *d, REAL *dh,
                              int accumulate) {
    int64_t n = s->n, H = s->hidden;
#if PACKED_PRODUCT
    if (s->packed && s->packed->data) {
        rgemm(s->packed, d, G, n, dh, H, accumulate);
        return;
    }
#endif
    GEMM(0, 0, n, H, G, d, G, s->w, H, accumulate, dh, H);
}

/* dh += d_out: the gradient arriving at this step's output joins the carry (BPTT). */
VECTOR_LOOPS static void SUF(add_into)(REAL *restrict dh, const REAL *restrict d_out, int64_t len) {
    for (int64_t i = 0; i < len; i++) dh[i] += d_out[i];
}

/* a_b += bias (s->bias set: inference) just before row b's fused pass reads a_b, so the row
 * is in L1 then: a pass over all n rows first (the row cold in memory, and in the SSE2 code of
 * the non-cloned scan loop) took 5% of an LSTM a inference. In place: a is the kernel's own
 * buffer. */
static void SUF(add_bias_row)(const step_args *s, int64_t b, int64_t G) {
    if (s->bias) SUF(add_into)((REAL *)s->a + b * G, s->bias, G);
}

/* ---- RNN:  h = act(a + h_prev W_hh^T);   da = dh act'(h);   dh_prev = da W_hh ------------ */

INLINE void SUF(rnn_row_forward_at)(int64_t H, const REAL *restrict a,
                                    const REAL *restrict pre, int64_t stride,
                                    REAL *restrict h, int relu) {
    if (relu) {
        for (int64_t j = 0; j < H; j++) {
            REAL x = pre[j * stride] + a[j];
            h[j] = x < 0 ? 0 : x; /* NaN stays NaN, like np.maximum */
        }
    } else {
        for (int64_t j = 0; j < H; j++) h[j] = TANH(pre[j * stride] + a[j]);
    }
}

/* pre's stride as a constant where it is 1 (the packed product): contiguous vector loads */
VECTOR_LOOPS static void SUF(rnn_row_forward)(int64_t H, const REAL *restrict a,
                                              const REAL *restrict pre, int64_t stride,
                                              REAL *restrict h, int relu) {
    if (stride == 1)
        SUF(rnn_row_forward_at)(H, a, pre, 1, h, relu);
    else
        SUF(rnn_row_forward_at)(H, a, pre, stride, h, relu);
}

VECTOR_LOOPS static void SUF(rnn_dact)(REAL *restrict da, const REAL *restrict dh, const REAL *restrict h,
                          int64_t len, int relu) {
    if (relu) {
        for (int64_t i = 0; i < len; i++) da[i] = dh[i] * (h[i] > 0 ? (REAL)1 : (REAL)0);
    } else {
        for (int64_t i = 0; i < len; i++) da[i] = dh[i] * (1 - h[i] * h[i]);
    }
}

static void SUF(rnn_forward)(const step_args *s, int relu) {
    int64_t n = s->n, H = s->hidden;
    const REAL *a = s->a;
    REAL *pre = s->scratch, *h = s->h;
    int64_t rs, cs;
    SUF(recurrent_product)(s, H, pre, &rs, &cs);
    for (int64_t b = 0; b < n; b++) {
        SUF(add_bias_row)(s, b, H);
        SUF(rnn_row_forward)(H, a + b * H, pre + b * rs, cs, h + b * H, relu);
    }
}

static void SUF(rnn_backward)(const step_args *s, int relu) {
    int64_t n = s->n, H = s->hidden;
    if (s->d_out) SUF(add_into)(s->dh, s->d_out, n * H);
    SUF(rnn_dact)(s->da, s->dh, s->h, n * H, relu);
    SUF(back_product)(s, H, s->da, s->dh, 0);
}

static void SUF(rnn_tanh_forward)(const step_args *s) { SUF(rnn_forward)(s, 0); }
static void SUF(rnn_tanh_backward)(const step_args *s) { SUF(rnn_backward)(s, 0); }
static void SUF(rnn_relu_forward)(const step_args *s) { SUF(rnn_forward)(s, 1); }
static void SUF(rnn_relu_backward)(const step_args *s) { SUF(rnn_backward)(s, 1); }

/* ---- LSTM (cells/lstm.py), one row ---------------------------------------------------------
 * forward:  [i f o] = sigmoid, g = tanh of a + h_prev W_hh^T;  c = f c_prev + i g;  h = o tanh(c)
 * backward: tanh(c) again from c;  dc = dh o (1 - tanh(c)^2) + dc_next;  da_o = dh tanh(c) o'; da_i = dc g i';
 *           da_f = dc c_prev f';  da_g = dc i g';  dc_prev = dc f;  dh_prev = da W_hh
 * In place (cell_steps.in_place): the row g holds a on entry to the forward step and the gates
 * after it; the backward step reads the gates from da's row and writes da over them. */

INLINE void SUF(lstm_row_forward_at)(int64_t H, REAL *restrict g,
                                     const REAL *restrict pre, int64_t stride,
                                     const REAL *restrict c_prev, REAL *restrict c,
                                     REAL *restrict h) {
    for (int64_t k = 0; k < 3 * H; k++)
        g[k] = SIGMOID(pre[k * stride] + g[k]);
    for (int64_t k = 3 * H; k < 4 * H; k++) g[k] = TANH(pre[k * stride] + g[k]);
    const REAL *i = g, *f = g + H, *o = g + 2 * H, *gg = g + 3 * H;
    for (int64_t j = 0; j < H; j++) {
        REAL cj = f[j] * c_prev[j] + i[j] * gg[j];
        c[j] = cj;
        h[j] = o[j] * TANH(cj);
    }
}

/* pre's stride as a constant where it is 1 (the packed product): contiguous vector loads */
VECTOR_LOOPS static void SUF(lstm_row_forward)(int64_t H, REAL *restrict g,
                                               const REAL *restrict pre, int64_t stride,
                                               const REAL *restrict c_prev, REAL *restrict c,
                                               REAL *restrict h) {
    if (stride == 1)
        SUF(lstm_row_forward_at)(H, g, pre, 1, c_prev, c, h);
    else
        SUF(lstm_row_forward_at)(H, g, pre, stride, c_prev, c, h);
}

VECTOR_LOOPS static void SUF(lstm_row_backward)(int64_t H, REAL *restrict da,
                                   const REAL *restrict c, const REAL *restrict c_prev,
                                   const REAL *restrict dh, REAL *restrict dc) {
    for (int64_t j = 0; j < H; j++) { /* column j of each block: read the gates, write da */
        REAL i = da[j], f = da[H + j], o = da[2 * H + j], gg = da[3 * H + j];
        REAL t = TANH(c[j]), d = dh[j]; /* tanh(c) recomputed: the tape keeps only c */
        REAL dct = d * o * (1 - t * t) + dc[j];
        da[j] = dct * gg * (i - i * i);
        da[H + j] = dct * c_prev[j] * (f - f * f);
        da[2 * H + j] = d * t * (o - o * o);
        da[3 * H + j] = dct * i * (1 - gg * gg);
        dc[j] = dct * f;
    }
}

static void SUF(lstm_forward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 4 * H;
    REAL *gates = s->ex0, *c = s->c, *h = s->h; /* gates: a on entry (in place) */
    const REAL *c_prev = s->c_prev;
    REAL *pre = s->scratch;
    int64_t rs, cs;
    SUF(recurrent_product)(s, G, pre, &rs, &cs);
    for (int64_t b = 0; b < n; b++) {
        SUF(add_bias_row)(s, b, G);
        SUF(lstm_row_forward)(H, gates + b * G, pre + b * rs, cs, c_prev + b * H, c + b * H,
                              h + b * H);
    }
}

static void SUF(lstm_backward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 4 * H;
    const REAL *c = s->c, *c_prev = s->c_prev;
    REAL *dh = s->dh, *dc = s->dc, *da = s->da; /* da: the gates on entry (in place) */
    if (s->d_out) SUF(add_into)(dh, s->d_out, n * H);
    for (int64_t b = 0; b < n; b++)
        SUF(lstm_row_backward)(H, da + b * G, c + b * H, c_prev + b * H, dh + b * H, dc + b * H);
    SUF(back_product)(s, G, da, dh, 0);
}

/* ---- GRU, reset after the product (PyTorch; cells/gru.py) ----------------------------------
 * forward:  hh = h_prev W_hh^T + [0, 0, b_hn];  [r z] = sigmoid(a + hh);
 *           n = tanh(a_n + r hh_n);  h = (h_prev - n) z + n   (the tape keeps hh_n only)
 * backward: da_z = dh (h_prev - n) z';  da_n = dh (1 - z) n';  da_r = da_n hh_n r';
 *           dhh = [da_r, da_z, da_n r];  dh_prev = dh z + dhh W_hh
 * In place, as the LSTM: g holds a on entry to the forward step, the gates after it; the
 * backward step reads the gates from da's row and hh_n from dhh_n's, and overwrites both. */

INLINE void SUF(gru_row_forward_at)(int64_t H, REAL *restrict g,
                                    const REAL *restrict pre, int64_t stride,
                                    const REAL *restrict b_hn, REAL *restrict hh_n,
                                    const REAL *restrict h_prev, REAL *restrict h) {
    for (int64_t k = 0; k < 2 * H; k++)
        g[k] = SIGMOID(g[k] + pre[k * stride]);
    for (int64_t j = 0; j < H; j++) hh_n[j] = pre[(2 * H + j) * stride] + b_hn[j];
    for (int64_t j = 0; j < H; j++) {
        REAL r = g[j], z = g[H + j];
        REAL nn = TANH(r * hh_n[j] + g[2 * H + j]);
        g[2 * H + j] = nn;
        h[j] = (h_prev[j] - nn) * z + nn;
    }
}

/* pre's stride as a constant where it is 1 (the packed product): contiguous vector loads */
VECTOR_LOOPS static void SUF(gru_row_forward)(int64_t H, REAL *restrict g,
                                              const REAL *restrict pre, int64_t stride,
                                              const REAL *restrict b_hn, REAL *restrict hh_n,
                                              const REAL *restrict h_prev, REAL *restrict h) {
    if (stride == 1)
        SUF(gru_row_forward_at)(H, g, pre, 1, b_hn, hh_n, h_prev, h);
    else
        SUF(gru_row_forward_at)(H, g, pre, stride, b_hn, hh_n, h_prev, h);
}

VECTOR_LOOPS static void SUF(gru_row_backward)(int64_t H, const REAL *restrict h_prev,
                                  REAL *restrict dh, REAL *restrict da, REAL *restrict dhh,
                                  REAL *restrict dhh_n) {
    for (int64_t j = 0; j < H; j++) { /* column j of each block: read the gates and hh_n */
        REAL r = da[j], z = da[H + j], nn = da[2 * H + j], hh_n = dhh_n[j], d = dh[j];
        REAL dz = (h_prev[j] - nn) * d;
        REAL direct = d * z; /* the path h_prev -> h; the GEMM adds the rest */
        REAL dn = (d - direct) * (1 - nn * nn);
        REAL dr = dn * hh_n * (r - r * r);
        dz = dz * (z - z * z);
        da[j] = dr;
        da[H + j] = dz;
        da[2 * H + j] = dn;
        dhh[j] = dr;
        dhh[H + j] = dz;
        dhh[2 * H + j] = dhh_n[j] = dn * r;
        dh[j] = direct;
    }
}

static void SUF(gru_forward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 3 * H;
    REAL *gates = s->ex0, *hh_n = s->ex1, *h = s->h; /* gates: a on entry (in place) */
    const REAL *h_prev = s->h_prev, *b_hn = s->b_hn;
    REAL *pre = s->scratch;
    int64_t rs, cs;
    SUF(recurrent_product)(s, G, pre, &rs, &cs);
    for (int64_t b = 0; b < n; b++) {
        SUF(add_bias_row)(s, b, G);
        SUF(gru_row_forward)(H, gates + b * G, pre + b * rs, cs, b_hn, hh_n + b * H,
                             h_prev + b * H, h + b * H);
    }
}

static void SUF(gru_backward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 3 * H;
    const REAL *h_prev = s->h_prev;
    /* da, dhh_n: the gates and hh_n on entry (in place); dhh: this step's, whole */
    REAL *dh = s->dh, *da = s->da, *dhh_n = s->dhh, *dhh = s->scratch;
    if (s->d_out) SUF(add_into)(dh, s->d_out, n * H);
    for (int64_t b = 0; b < n; b++)
        SUF(gru_row_backward)(H, h_prev + b * H, dh + b * H, da + b * G, dhh + b * G,
                              dhh_n + b * H);
    SUF(back_product)(s, G, dhh, dh, 1); /* dh_prev = dh z + dhh W_hh */
}

/* ---- GRU, reset before the product (Cho et al. 2014; cells/gru_original.py) ----------------
 * forward:  [r z] = sigmoid(a + h_prev W_hrz^T);  rh = r h_prev;  n = tanh(a_n + rh W_hn^T)
 * backward: da_z, da_n as above;  d_rh = da_n W_hn;  da_r = d_rh h_prev r';
 *           dh_prev = dh z + d_rh r + [da_r, da_z] W_hrz */

VECTOR_LOOPS static void SUF(gru_before_row_gates)(int64_t H, const REAL *restrict a, REAL *restrict g,
                                      const REAL *restrict h_prev, REAL *restrict rh) {
    for (int64_t k = 0; k < 2 * H; k++)
        g[k] = SIGMOID(g[k] + a[k]);
    for (int64_t j = 0; j < H; j++) rh[j] = g[j] * h_prev[j];
}

VECTOR_LOOPS static void SUF(gru_before_row_state)(int64_t H, const REAL *restrict a, REAL *restrict g,
                                      const REAL *restrict h_prev, REAL *restrict h) {
    for (int64_t j = 0; j < H; j++) {
        REAL nn = TANH(g[2 * H + j] + a[2 * H + j]);
        g[2 * H + j] = nn;
        h[j] = (h_prev[j] - nn) * g[H + j] + nn;
    }
}

VECTOR_LOOPS static void SUF(gru_before_row_back_state)(int64_t H, const REAL *restrict g,
                                           const REAL *restrict h_prev, REAL *restrict dh,
                                           REAL *restrict da) {
    for (int64_t j = 0; j < H; j++) {
        REAL z = g[H + j], nn = g[2 * H + j], d = dh[j];
        REAL direct = d * z;
        da[H + j] = (h_prev[j] - nn) * d; /* times z' in the second pass */
        da[2 * H + j] = (d - direct) * (1 - nn * nn);
        dh[j] = direct;
    }
}

VECTOR_LOOPS static void SUF(gru_before_row_back_gates)(int64_t H, const REAL *restrict g,
                                           const REAL *restrict h_prev,
                                           const REAL *restrict d_rh, REAL *restrict dh,
                                           REAL *restrict da) {
    for (int64_t j = 0; j < H; j++) {
        REAL r = g[j], z = g[H + j];
        da[j] = d_rh[j] * h_prev[j] * (r - r * r);
        da[H + j] = da[H + j] * (z - z * z);
        dh[j] = dh[j] + d_rh[j] * r;
    }
}

static void SUF(gru_before_forward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 3 * H;
    REAL *gates = s->ex0, *rh = s->ex1, *h = s->h;
    const REAL *a = s->a, *h_prev = s->h_prev, *w = s->w;
    GEMM(0, 1, n, 2 * H, H, h_prev, H, w, H, 0, gates, G);
    for (int64_t b = 0; b < n; b++) {
        SUF(add_bias_row)(s, b, G);
        SUF(gru_before_row_gates)(H, a + b * G, gates + b * G, h_prev + b * H, rh + b * H);
    }
    GEMM(0, 1, n, H, H, rh, H, w + 2 * H * H, H, 0, gates + 2 * H, G);
    for (int64_t b = 0; b < n; b++)
        SUF(gru_before_row_state)(H, a + b * G, gates + b * G, h_prev + b * H, h + b * H);
}

static void SUF(gru_before_backward)(const step_args *s) {
    int64_t n = s->n, H = s->hidden, G = 3 * H;
    const REAL *gates = s->ex0, *h_prev = s->h_prev, *w = s->w;
    REAL *dh = s->dh, *da = s->da, *d_rh = s->scratch;
    if (s->d_out) SUF(add_into)(dh, s->d_out, n * H);
    for (int64_t b = 0; b < n; b++)
        SUF(gru_before_row_back_state)(H, gates + b * G, h_prev + b * H, dh + b * H, da + b * G);
    GEMM(0, 0, n, H, H, da + 2 * H, G, w + 2 * H * H, H, 0, d_rh, H);
    for (int64_t b = 0; b < n; b++)
        SUF(gru_before_row_back_gates)(H, gates + b * G, h_prev + b * H, d_rh + b * H,
                                       dh + b * H, da + b * G);
    GEMM(0, 0, n, H, 2 * H, da, G, w, H, 1, dh, H);
}

/* Each cell's steps under its Python class's ``native_step`` name (birnn/cells). The slots
 * ex0/ex1 and da/dhh are the cell's extra_widths() and grad_widths(), in that order. */
static const cell_steps SUF(steps)[] = {
    {"rnn_tanh", SUF(rnn_tanh_forward), SUF(rnn_tanh_backward), 1, 0},
    {"rnn_relu", SUF(rnn_relu_forward), SUF(rnn_relu_backward), 1, 0},
    {"gru", SUF(gru_forward), SUF(gru_backward), 1, 3},
    {"gru_before", SUF(gru_before_forward), SUF(gru_before_backward), 0, 0},
    {"lstm", SUF(lstm_forward), SUF(lstm_backward), 1, 1},
};
