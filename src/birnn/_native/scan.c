/* The time loop, forward and backward, for D chains: birnn/recurrent/scan.py in C.
 *
 * The batch is sorted by decreasing length, so at step t the sequences still running are the
 * first n_t = #{b : len[b] > t} rows and a step touches only those (no padding work).
 *
 * Forward:   s_t = cell(a_t, s_{t-1}),  s_{-1} = init
 * Backward:  ds_t = d_out_t + carry_t;  the cell's backward step turns ds_t into carry_{t-1};
 *            a sequence ending at step t joins there, its final-state gradient seeding the carry.
 *
 * The D chains (a layer's two directions) are independent. With `concurrent`, chain 1 runs on a
 * second thread while chain 0 runs on the caller's, each with `blas_threads` BLAS threads; in
 * the backward pass each chain then runs its GEMMs over all steps (`after`: its parameter
 * gradients and its part of dx) on its thread, no hand-over back to Python in between. */
#include <pthread.h>
#include <string.h>

#include "native.h"

/* Address of element `index` of an array of `size`-byte numbers (NULL stays NULL). */
static void *at(const void *base, int64_t index, size_t size) {
    return base ? (char *)base + (size_t)index * size : NULL;
}

/* Chain d's W packed for the recurrent product (rgemm.c), once for the whole scan: forward W_hh
 * as stored (rows G*H, depth H), backward its transpose (rows H, depth G*H). data NULL: the
 * steps use the BLAS (float64, no buffer, no kernel for this instruction set, or a cell whose
 * steps do not pack). */
static packed_matrix pack_chain(const scan_args *p, const cell_steps *steps, int64_t d,
                                const void *w, int transposed) {
    packed_matrix none = {0, 0, 0, NULL};
    if (!p->packed || !steps->packs || p->real_size != 4) return none;
    int64_t H = p->hidden, G = p->gates;
    float *buffer = (float *)p->packed + d * p->packed_floats;
    const float *wd = (const float *)w + d * G * H;
    return transposed ? rgemm_pack(buffer, wd, H, G, 1, H) : rgemm_pack(buffer, wd, G, H, H, 1);
}

/* Inference: the n running rows of chain d's h at step t into h_out, in time order. */
static void copy_to_output(const scan_args *p, int64_t d, int64_t t, int64_t n, const void *h) {
    size_t z = (size_t)p->real_size, row = (size_t)p->hidden * z;
    int64_t N = p->batch;
    for (int64_t b = 0; b < n; b++) {
        int64_t time = p->h_out_flipped[d] ? p->lengths[b] - 1 - t : t;
        memcpy(at(p->h_out[d], (time * N + b) * p->h_out_ld, z), at(h, b * p->hidden, z), row);
    }
}

/* Chain d's W_in packed for the input projection of each step, after its W_hh in the buffer
 * (data NULL: the projections run as one BLAS GEMM over all steps). */
static packed_matrix pack_input(const scan_args *p, const packed_matrix *w_hh, int64_t d) {
    packed_matrix none = {0, 0, 0, NULL};
    if (!p->project_steps || !p->x[0] || !w_hh->data) return none;
    int64_t G = p->gates, ld = p->w_in_stride;
    float *buffer = (float *)p->packed + d * p->packed_floats + rgemm_packed_floats(G, p->hidden);
    return rgemm_pack(buffer, (const float *)p->w_in + d * G * ld, G, p->x_width, ld, 1);
}

static void forward_chain(const scan_args *p, int64_t d) {
    const cell_steps *steps = cell_steps_for(p->cell, p->real_size);
    size_t z = (size_t)p->real_size;
    int64_t T = p->steps, N = p->batch, H = p->hidden, G = p->gates, F1 = p->x_width;
    int64_t n = N;
    packed_matrix packed = pack_chain(p, steps, d, p->w, 0);
    packed_matrix packed_in = pack_input(p, &packed, d);
    int64_t a_steps = p->project_steps ? 1 : T; /* every step's projections, or one step's */
    int64_t K = p->states_kept;
    /* x_flipped: each step's rows of x, addresses in the caller's room for them */
    const float **rows = packed_in.data && p->x_flipped[d] ? (const float **)p->x_rows + d * N
                                                           : NULL;
    if (p->x[0] && !packed_in.data) { /* a_d = x_d W_in_d^T: every step's, one GEMM */
        int64_t ld = p->w_in_stride;
        void *a = at(p->a, d * T * N * G, z), *w_in = at(p->w_in, d * G * ld, z);
        if (p->real_size == 4)
            gemm_f32(0, 1, T * N, G, F1, p->x[d], F1, w_in, ld, 0, a, G);
        else
            gemm_f64(0, 1, T * N, G, F1, p->x[d], F1, w_in, ld, 0, a, G);
    }
    for (int64_t t = 0; t < T; t++) {
        while (n > 0 && p->lengths[n - 1] <= t) n--;
        if (n == 0) break; /* no sequence runs this long: nothing is left to do */
        int64_t k = p->kept == T ? t : 0;
        step_args s = {.n = n, .hidden = H};
        s.a = at(p->a, (d * a_steps + (p->project_steps ? 0 : t)) * N * G, z);
        /* a_t = x_t W_in^T for the n running rows alone, while x_t and W_in are in cache (the
         * padding rows of a are left unwritten: the steps never read them) */
        if (packed_in.data && rows) { /* x read backwards in time: row b at len[b]-1-t */
            for (int64_t b = 0; b < n; b++)
                rows[b] = (const float *)p->x[d] + ((p->lengths[b] - 1 - t) * N + b) * F1;
            rgemm_rows(&packed_in, rows, n, (float *)s.a, G, 0);
        } else if (packed_in.data) {
            rgemm(&packed_in, (const float *)p->x[d] + t * N * F1, F1, n, (float *)s.a, G, 0);
        }
        s.bias = at(p->bias, d * G, z);
        const void *prev[2] = {NULL, NULL};
        void *cur[2] = {NULL, NULL};
        for (int i = 0; i < p->states; i++) { /* slot t % K: a sequence's last slot stays */
            prev[i] = t ? at(p->states_out[i], (d * K + (t - 1) % K) * N * H, z)
                        : at(p->init[i], d * N * H, z);
            cur[i] = at(p->states_out[i], (d * K + t % K) * N * H, z);
        }
        s.h_prev = prev[0], s.c_prev = prev[1], s.h = cur[0], s.c = cur[1];
        s.ex0 = steps->in_place & 1 ? (void *)s.a /* the gates are written over a */
                                    : at(p->extras[0], (d * p->kept + k) * N * p->extra_width[0], z);
        s.ex1 = at(p->extras[1], (d * p->kept + k) * N * p->extra_width[1], z);
        s.w = at(p->w, d * G * H, z);
        s.b_hn = at(p->b_hn, d * H, z);
        s.scratch = at(p->scratch, d * N * G, z);
        s.packed = &packed;
        steps->forward(&s);
        if (p->h_out[d]) copy_to_output(p, d, t, n, s.h);
    }
}

/* Chain d's GEMMs after its loop (scan_args.after), in order. The adds are plain loops: the
 * same additions, in the same order, as NumPy's `out += a @ b`. */
static void run_after(const scan_args *p, int64_t d) {
    for (int64_t i = 0; i < p->after_count[d]; i++) {
        const product *g = &p->after[d][i];
        void *c = g->add ? g->temp : g->out;
        int64_t ldc = g->add ? g->n : g->ldo;
        if (p->real_size == 4)
            gemm_f32(g->trans_a, g->trans_b, g->m, g->n, g->k, g->a, g->lda, g->b, g->ldb, 0,
                     c, ldc);
        else
            gemm_f64(g->trans_a, g->trans_b, g->m, g->n, g->k, g->a, g->lda, g->b, g->ldb, 0,
                     c, ldc);
        if (!g->add) continue;
        for (int64_t r = 0; r < g->m; r++) {
            if (p->real_size == 4) {
                float *o = (float *)g->out + r * g->ldo;
                const float *v = (const float *)g->temp + r * g->n;
                for (int64_t j = 0; j < g->n; j++) o[j] += v[j];
            } else {
                double *o = (double *)g->out + r * g->ldo;
                const double *v = (const double *)g->temp + r * g->n;
                for (int64_t j = 0; j < g->n; j++) o[j] += v[j];
            }
        }
    }
}

static void backward_chain(const scan_args *p, int64_t d) {
    const cell_steps *steps = cell_steps_for(p->cell, p->real_size);
    size_t z = (size_t)p->real_size;
    int64_t T = p->steps, N = p->batch, H = p->hidden, G = p->gates;
    void *carry[2] = {at(p->carry[0], d * N * H, z), at(p->carry[1], d * N * H, z)};
    int64_t n = 0; /* rows running at step t + 1 */
    packed_matrix packed = pack_chain(p, steps, d, p->w, 1);
    for (int64_t t = T - 1; t >= 0; t--) {
        int64_t n_t = n;
        while (n_t < N && p->lengths[n_t] > t) n_t++;
        for (int i = 0; i < p->states && n_t > n; i++) /* rows n..n_t take their last step */
            if (p->d_final[i])
                memcpy(at(carry[i], n * H, z), at(p->d_final[i], (d * N + n) * H, z),
                       (size_t)((n_t - n) * H) * z);
        n = n_t;
        if (n == 0) continue;
        step_args s = {.n = n, .hidden = H};
        const void *prev[2] = {NULL, NULL};
        for (int i = 0; i < p->states; i++)
            prev[i] = t ? at(p->states_out[i], (d * T + t - 1) * N * H, z)
                        : at(p->init[i], d * N * H, z);
        s.h_prev = prev[0], s.c_prev = prev[1];
        s.h = at(p->states_out[0], (d * T + t) * N * H, z);
        s.c = p->states > 1 ? at(p->states_out[1], (d * T + t) * N * H, z) : NULL;
        s.ex0 = at(p->extras[0], (d * T + t) * N * p->extra_width[0], z);
        s.ex1 = at(p->extras[1], (d * T + t) * N * p->extra_width[1], z);
        s.w = at(p->w, d * G * H, z);
        s.d_out = at(p->d_out, (d * T + t) * N * H, z);
        s.dh = carry[0], s.dc = carry[1];
        s.da = at(p->grads[0], (d * T + t) * N * p->grad_width[0], z);
        s.dhh = at(p->grads[1], (d * T + t) * N * p->grad_width[1], z);
        s.scratch = at(p->scratch, d * N * G, z);
        s.packed = &packed;
        steps->backward(&s);
    }
    run_after(p, d);
}

typedef void (*chain_fn)(const scan_args *p, int64_t d);

typedef struct {
    const scan_args *p;
    chain_fn fn;
} chain_job;

static void run_chain_one(void *arg) {
    chain_job *job = arg;
    job->fn(job->p, 1);
}

/* Run every chain: chain 1 on the helper thread when asked (and when it is free). */
static int run_chains(const scan_args *p, chain_fn fn) {
    if (!cell_steps_for(p->cell, p->real_size) || p->states < 1 || p->states > 2) return 1;
    blas_threads_enter(p->blas_threads);
    chain_job job = {p, fn};
    if (p->concurrent && p->chains == 2 && worker_submit(run_chain_one, &job) == 0) {
        fn(p, 0);
        worker_wait();
    } else {
        for (int64_t d = 0; d < p->chains; d++) fn(p, d);
    }
    blas_threads_leave();
    return 0;
}

BIRNN_EXPORT int birnn_scan_forward(const scan_args *p) {
    const cell_steps *steps = cell_steps_for(p->cell, p->real_size);
    /* a holds one step per chain only where every step can project its own rows */
    if (p->project_steps && !(steps && steps->packs && p->packed && p->real_size == 4 && p->x[0] &&
                              rgemm_panel()))
        return 1;
    /* the states of every step, or of two (each row's last one is then never overwritten: a
     * row stops running after its last step), the outputs being copied out */
    if (p->states_kept != p->steps && !(p->states_kept == 2 && p->h_out[0])) return 1;
    return run_chains(p, forward_chain);
}

BIRNN_EXPORT int birnn_scan_backward(const scan_args *p) {
    if (p->states_kept != p->steps) return 1; /* the backward pass reads every step's states */
    return run_chains(p, backward_chain);
}
