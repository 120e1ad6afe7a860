/* The cells' step functions for float32 and float64: cells.h instantiated twice. */
#include <string.h>

#include "native.h"
#include "vmath.h"

#define REAL float
#define SUF(name) name##_f32
#define TANH tanh_f32
#define SIGMOID sigmoid_f32
#define GEMM gemm_f32
#define PACKED_PRODUCT 1 /* the packed kernel of rgemm.c is float32 only */
#include "cells.h"
#undef REAL
#undef SUF
#undef TANH
#undef SIGMOID
#undef GEMM
#undef PACKED_PRODUCT

#define REAL double
#define SUF(name) name##_f64
#define TANH tanh_f64
#define SIGMOID sigmoid_f64
#define GEMM gemm_f64
#define PACKED_PRODUCT 0
#include "cells.h"
#undef REAL
#undef SUF
#undef TANH
#undef SIGMOID
#undef GEMM

#define CELL_KINDS ((int)(sizeof(steps_f32) / sizeof(steps_f32[0])))

const cell_steps *cell_steps_for(int kind, int real_size) {
    if (kind < 0 || kind >= CELL_KINDS) return NULL;
    if (real_size == 4) return &steps_f32[kind];
    if (real_size == 8) return &steps_f64[kind];
    return NULL;
}

/* The index of the steps named `name` (a cell's native_step), or -1 if there are none. */
BIRNN_EXPORT int birnn_cell_kind(const char *name) {
    for (int k = 0; k < CELL_KINDS; k++)
        if (strcmp(steps_f32[k].name, name) == 0) return k;
    return -1;
}

/* The cell's `in_place` bits (cell_steps), or -1 for an unknown kind. */
BIRNN_EXPORT int birnn_cell_in_place(int kind) {
    return kind >= 0 && kind < CELL_KINDS ? steps_f32[kind].in_place : -1;
}

/* Whether the cell's steps use the packed recurrent product (cell_steps.packs); 0 if unknown. */
BIRNN_EXPORT int birnn_cell_packs(int kind) {
    return kind >= 0 && kind < CELL_KINDS ? steps_f32[kind].packs : 0;
}

/* For the tests: tanh_f32 and sigmoid_f32 over an array (their accuracy is checked against
 * float64). */
VECTOR_LOOPS static void tanh_loop(const float *restrict x, float *restrict y, int64_t len) {
    for (int64_t i = 0; i < len; i++) y[i] = tanh_f32(x[i]);
}

VECTOR_LOOPS static void sigmoid_loop(const float *restrict x, float *restrict y, int64_t len) {
    for (int64_t i = 0; i < len; i++) y[i] = sigmoid_f32(x[i]);
}

BIRNN_EXPORT void birnn_tanh_f32(const float *x, float *y, int64_t len) { tanh_loop(x, y, len); }

BIRNN_EXPORT void birnn_sigmoid_f32(const float *x, float *y, int64_t len) {
    sigmoid_loop(x, y, len);
}
