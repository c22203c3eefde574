/*
 * Every collective x every data type x every reduction op, against references computed
 * here in C. Run as N ranks (`fccl run -n 4 -- ./conformance [small]`). Calls alternate
 * between the blocking form, the non-blocking form with fccl_wait, and the non-blocking
 * form polled with fccl_test; in-place and out-of-place forms are both checked.
 *
 * Values are small integers (-2..2, or 0..4 for unsigned types), so that sums and products
 * of four ranks are exact in every type, f16 and bf16 included (held as 16-bit storage and
 * converted here); only FCCL_AVG's division rounds, and floats are compared within a
 * tolerance for it.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fccl.h"

static fccl_comm *comm;
static int rank, size, iter, checks, failures;

#define CHECK(call)                                                                      \
    do {                                                                                 \
        fccl_result r_ = (call);                                                         \
        if (r_ != FCCL_SUCCESS) {                                                        \
            fprintf(stderr, "rank %d: %s:%d: %s failed: %s: %s\n", rank, __FILE__, __LINE__, \
                    #call, fccl_get_error_string(r_), fccl_get_last_error());            \
            exit(2);                                                                     \
        }                                                                                \
    } while (0)

/* Runs collective `name` blocking, non-blocking + wait, or non-blocking + test, in turn. */
#define COLL(name, ...)                                                              \
    do {                                                                             \
        int mode_ = iter++ % 3;                                                      \
        if (mode_ == 0) {                                                            \
            CHECK(fccl_##name(__VA_ARGS__, comm));                                   \
        } else {                                                                     \
            fccl_request *req_ = NULL;                                               \
            CHECK(fccl_i##name(__VA_ARGS__, comm, &req_));                           \
            if (mode_ == 1) {                                                        \
                CHECK(fccl_wait(&req_));                                             \
            } else {                                                                 \
                int done_ = 0;                                                       \
                for (;;) {                                                           \
                    CHECK(fccl_test(&req_, &done_));                                 \
                    if (done_) break;                                                \
                    nap();                                                           \
                }                                                                    \
            }                                                                        \
            if (req_ != NULL) fail_at(#name, -1, -1, 0, 0, 0, "request not cleared"); \
        }                                                                            \
    } while (0)

/* A pause between polls, so a polling rank leaves the cores to the others. */
static void nap(void) {
    struct timespec t = {0, 20000};
    nanosleep(&t, NULL);
}

static const char *TYPE_NAMES[] = {"i8", "u8", "i32", "u32", "i64", "u64", "f16", "f32", "f64", "bf16"};
static const char *OP_NAMES[] = {"sum", "prod", "max", "min", "avg"};

static void fail_at(const char *what, int dt, int op, size_t i, double got, double want,
                    const char *note) {
    failures++;
    if (failures <= 20)
        fprintf(stderr, "rank %d: %s %s %s [%zu]: got %g, want %g %s\n", rank, what,
                dt >= 0 ? TYPE_NAMES[dt] : "", op >= 0 ? OP_NAMES[op] : "", i, got, want,
                note);
}

/* ---- 16-bit floats, converted here, independently of the library ---- */

static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static float from_f16(uint16_t h) {
    int exp = (h >> 10) & 0x1f;
    float v;
    if (exp == 0) v = ldexpf((float)(h & 0x3ff), -24);
    else if (exp == 31) v = (h & 0x3ff) ? NAN : INFINITY;
    else v = ldexpf((float)((h & 0x3ff) | 0x400), exp - 25);
    return (h & 0x8000) ? -v : v;
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float from_bf16(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- elements ---- */

static size_t esize(int dt) {
    static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
    return sizes[dt];
}
static int is_float(int dt) {
    return dt == FCCL_FLOAT16 || dt == FCCL_FLOAT32 || dt == FCCL_FLOAT64 || dt == FCCL_BFLOAT16;
}
static int is_unsigned(int dt) {
    return dt == FCCL_UINT8 || dt == FCCL_UINT32 || dt == FCCL_UINT64;
}

static double get(int dt, const void *b, size_t i) {
    switch (dt) {
    case FCCL_INT8: return ((const int8_t *)b)[i];
    case FCCL_UINT8: return ((const uint8_t *)b)[i];
    case FCCL_INT32: return ((const int32_t *)b)[i];
    case FCCL_UINT32: return ((const uint32_t *)b)[i];
    case FCCL_INT64: return (double)((const int64_t *)b)[i];
    case FCCL_UINT64: return (double)((const uint64_t *)b)[i];
    case FCCL_FLOAT16: return from_f16(((const uint16_t *)b)[i]);
    case FCCL_FLOAT32: return ((const float *)b)[i];
    case FCCL_FLOAT64: return ((const double *)b)[i];
    default: return from_bf16(((const uint16_t *)b)[i]);
    }
}

/* Stores v; integers wrap as the library's integers do (through int64_t). */
static void put(int dt, void *b, size_t i, double v) {
    int64_t n = (int64_t)v;
    switch (dt) {
    case FCCL_INT8: ((int8_t *)b)[i] = (int8_t)n; break;
    case FCCL_UINT8: ((uint8_t *)b)[i] = (uint8_t)n; break;
    case FCCL_INT32: ((int32_t *)b)[i] = (int32_t)n; break;
    case FCCL_UINT32: ((uint32_t *)b)[i] = (uint32_t)n; break;
    case FCCL_INT64: ((int64_t *)b)[i] = n; break;
    case FCCL_UINT64: ((uint64_t *)b)[i] = (uint64_t)n; break;
    case FCCL_FLOAT16: ((uint16_t *)b)[i] = to_f16((float)v); break;
    case FCCL_FLOAT32: ((float *)b)[i] = (float)v; break;
    case FCCL_FLOAT64: ((double *)b)[i] = v; break;
    default: ((uint16_t *)b)[i] = to_bf16((float)v); break;
    }
}

/* What rank r contributes at index i. */
static double value(int dt, int r, size_t i) {
    int base = (int)((r * 7 + i * 3 + (size_t)dt) % 5);
    return is_unsigned(dt) ? base : base - 2;
}

/* The reference reduction of `value(dt, r, i)` over ranks first..last (inclusive). */
static double reference(int dt, int op, int first, int last, size_t i) {
    double acc = value(dt, first, i);
    for (int r = first + 1; r <= last; r++) {
        double x = value(dt, r, i);
        switch (op) {
        case FCCL_SUM: case FCCL_AVG: acc += x; break;
        case FCCL_PROD: acc *= x; break;
        case FCCL_MAX: acc = x > acc ? x : acc; break;
        default: acc = x < acc ? x : acc; break;
        }
    }
    if (op == FCCL_AVG) {
        int terms = last - first + 1;
        acc = is_float(dt) ? acc / terms : (double)((int64_t)acc / terms);
    }
    /* Wrap as the element type does (u8 products of four ranks reach 256). */
    unsigned char tmp[8];
    put(dt, tmp, 0, acc);
    return is_float(dt) ? acc : get(dt, tmp, 0);
}

static void expect(const char *what, int dt, int op, const void *b, size_t i, double want) {
    double got = get(dt, b, i);
    double tol = dt == FCCL_FLOAT16 || dt == FCCL_BFLOAT16 ? 1e-2
                 : dt == FCCL_FLOAT32                      ? 1e-6
                 : dt == FCCL_FLOAT64                      ? 1e-12
                                                           : 0;
    checks++;
    if (fabs(got - want) > tol * fmax(1.0, fabs(want))) fail_at(what, dt, op, i, got, want, "");
}

static void *alloc(size_t n, int dt) { return calloc(n ? n : 1, esize(dt)); }

/* ---- the collectives ---- */

static void reductions(int dt, int op, size_t count) {
    size_t es = esize(dt);
    void *send = alloc(count, dt), *recv = alloc(count, dt);
    for (size_t i = 0; i < count; i++) put(dt, send, i, value(dt, rank, i));

    for (int in_place = 0; in_place < 2; in_place++) {
        /* allreduce */
        if (in_place) memcpy(recv, send, count * es);
        COLL(allreduce, in_place ? recv : send, recv, count, dt, op);
        for (size_t i = 0; i < count; i++)
            expect("allreduce", dt, op, recv, i, reference(dt, op, 0, size - 1, i));

        /* reduce, at a root that moves */
        int root = (iter / 2) % size;
        memset(recv, 0, count * es);
        if (in_place && rank == root) memcpy(recv, send, count * es);
        const void *sb = (in_place && rank == root) ? recv : send;
        COLL(reduce, sb, rank == root ? recv : NULL, count, dt, op, root);
        if (rank == root)
            for (size_t i = 0; i < count; i++)
                expect("reduce", dt, op, recv, i, reference(dt, op, 0, size - 1, i));

        /* scan and exscan */
        memset(recv, 0x7f, count * es);
        if (in_place) memcpy(recv, send, count * es);
        COLL(scan, in_place ? recv : send, recv, count, dt, op);
        for (size_t i = 0; i < count; i++)
            expect("scan", dt, op, recv, i, reference(dt, op, 0, rank, i));
        for (size_t i = 0; i < count; i++) put(dt, recv, i, 1);
        if (in_place && rank > 0) memcpy(recv, send, count * es);
        if (in_place && rank == 0) for (size_t i = 0; i < count; i++) put(dt, recv, i, value(dt, 0, i));
        COLL(exscan, in_place ? recv : send, recv, count, dt, op);
        for (size_t i = 0; i < count; i++) {
            double want = rank == 0 ? (in_place ? value(dt, 0, i) : 1)
                                    : reference(dt, op, 0, rank - 1, i);
            expect("exscan", dt, op, recv, i, want);
        }
    }

    /* reduce_scatter: every rank gives size * count, gets its block */
    size_t total = count * (size_t)size;
    void *all = alloc(total, dt);
    for (int in_place = 0; in_place < 2; in_place++) {
        for (size_t j = 0; j < total; j++) put(dt, all, j, value(dt, rank, j));
        char *mine = in_place ? (char *)all + (size_t)rank * count * es : recv;
        COLL(reduce_scatter, all, mine, count, dt, op);
        for (size_t i = 0; i < count; i++)
            expect("reduce_scatter", dt, op, mine, i,
                   reference(dt, op, 0, size - 1, (size_t)rank * count + i));
    }
    free(all);
    free(send);
    free(recv);
}

static void movements(int dt, size_t count) {
    size_t es = esize(dt), total = count * (size_t)size;
    void *send = alloc(total, dt), *recv = alloc(total, dt);
    int root = (iter / 3) % size;

    for (int in_place = 0; in_place < 2; in_place++) {
        /* broadcast */
        memset(recv, 0, total * es);
        for (size_t i = 0; i < count; i++) put(dt, in_place ? recv : send, i, value(dt, rank, i));
        COLL(broadcast, in_place ? recv : send, recv, count, dt, root);
        for (size_t i = 0; i < count; i++) expect("broadcast", dt, -1, recv, i, value(dt, root, i));

        /* allgather: in place means my block of recvbuf already holds my data */
        memset(recv, 0, total * es);
        for (size_t i = 0; i < count; i++) put(dt, send, i, value(dt, rank, i));
        char *sb = in_place ? (char *)recv + (size_t)rank * count * es : send;
        if (in_place) memcpy(sb, send, count * es);
        COLL(allgather, sb, recv, count, dt);
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < count; i++)
                expect("allgather", dt, -1, recv, (size_t)r * count + i, value(dt, r, i));

        /* alltoall: block j of rank r's send holds value(r, j * count + i) */
        for (size_t j = 0; j < total; j++) put(dt, send, j, value(dt, rank, j));
        memset(recv, 0, total * es);
        if (in_place) memcpy(recv, send, total * es);
        COLL(alltoall, in_place ? recv : send, recv, count, dt);
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < count; i++)
                expect("alltoall", dt, -1, recv, (size_t)r * count + i,
                       value(dt, r, (size_t)rank * count + i));

        /* gather at the root: in place means the root's block already holds its data */
        memset(recv, 0, total * es);
        for (size_t i = 0; i < count; i++) put(dt, send, i, value(dt, rank, i));
        sb = send;
        if (in_place && rank == root) {
            sb = (char *)recv + (size_t)root * count * es;
            memcpy(sb, send, count * es);
        }
        COLL(gather, sb, rank == root ? recv : NULL, count, dt, root);
        if (rank == root)
            for (int r = 0; r < size; r++)
                for (size_t i = 0; i < count; i++)
                    expect("gather", dt, -1, recv, (size_t)r * count + i, value(dt, r, i));

        /* scatter from the root: block j of its send holds value(root, j * count + i) */
        for (size_t j = 0; j < total; j++) put(dt, send, j, value(dt, rank, j));
        memset(recv, 0, total * es);
        char *rb = (in_place && rank == root) ? (char *)send + (size_t)root * count * es : recv;
        COLL(scatter, rank == root ? send : NULL, rb, count, dt, root);
        for (size_t i = 0; i < count; i++)
            expect("scatter", dt, -1, rb, i, value(dt, root, (size_t)rank * count + i));
    }

    /* alltoallv: rank r sends n(r, j) = (r + 2j + count) % 4 elements to rank j */
    size_t scounts[64], rcounts[64], stotal = 0, rtotal = 0;
    for (int j = 0; j < size; j++) {
        scounts[j] = (size_t)(rank + 2 * j + (int)count) % 4;
        rcounts[j] = (size_t)(j + 2 * rank + (int)count) % 4;
        stotal += scounts[j];
        rtotal += rcounts[j];
    }
    void *vs = alloc(stotal, dt), *vr = alloc(rtotal, dt);
    for (int j = 0, k = 0; j < size; j++)
        for (size_t i = 0; i < scounts[j]; i++) put(dt, vs, (size_t)k++, value(dt, rank, 100 * (size_t)j + i));
    COLL(alltoallv, vs, scounts, NULL, vr, rcounts, NULL, dt);
    for (int r = 0, k = 0; r < size; r++)
        for (size_t i = 0; i < rcounts[r]; i++, k++)
            expect("alltoallv", dt, -1, vr, (size_t)k, value(dt, r, 100 * (size_t)rank + i));
    free(vs);
    free(vr);

    /* alltoallv with displacements: the blocks in reverse rank order, one element apart on
       the send side and two on the receive side; the gaps must keep their sentinel */
    size_t sdispls[64], rdispls[64], sext = 0, rext = 0;
    for (int j = size - 1; j >= 0; j--) {
        sdispls[j] = sext;
        sext += scounts[j] + 1;
        rdispls[j] = rext;
        rext += rcounts[j] + 2;
    }
    vs = alloc(sext, dt);
    vr = alloc(rext, dt);
    for (size_t k = 0; k < rext; k++) put(dt, vr, k, 77);
    for (int j = 0; j < size; j++)
        for (size_t i = 0; i < scounts[j]; i++)
            put(dt, vs, sdispls[j] + i, value(dt, rank, 100 * (size_t)j + i));
    COLL(alltoallv, vs, scounts, sdispls, vr, rcounts, rdispls, dt);
    for (int r = 0; r < size; r++) {
        for (size_t i = 0; i < rcounts[r]; i++)
            expect("alltoallv displs", dt, -1, vr, rdispls[r] + i, value(dt, r, 100 * (size_t)rank + i));
        expect("alltoallv gap", dt, -1, vr, rdispls[r] + rcounts[r], 77);
        expect("alltoallv gap", dt, -1, vr, rdispls[r] + rcounts[r] + 1, 77);
    }
    free(vs);
    free(vr);

    /* a ring of send and recv */
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    size_t got = 12345;
    for (size_t i = 0; i < count; i++) put(dt, send, i, value(dt, rank, i));
    memset(recv, 0, total * es);
    COLL(send, send, count, dt, right, dt);
    COLL(recv, recv, total, dt, left, dt, &got);
    checks++;
    if (got != count) fail_at("recv count", dt, -1, 0, (double)got, (double)count, "");
    for (size_t i = 0; i < count; i++) expect("send/recv", dt, -1, recv, i, value(dt, left, i));

    free(send);
    free(recv);
}

int main(int argc, char **argv) {
    int small = argc > 1 && strcmp(argv[1], "small") == 0;
    CHECK(fccl_comm_init_from_env(&comm));
    CHECK(fccl_comm_rank(comm, &rank));
    CHECK(fccl_comm_size(comm, &size));
    if (size > 64) return 3;
    const size_t big[] = {0, 1, 7, 1000}, little[] = {0, 3};
    const size_t *counts = small ? little : big;
    int ncounts = small ? 2 : 4;

    for (int c = 0; c < ncounts; c++)
        for (int dt = 0; dt < FCCL_NUM_TYPES; dt++) {
            for (int op = 0; op < FCCL_NUM_OPS; op++) reductions(dt, op, counts[c]);
            movements(dt, counts[c]);
        }
    fccl_request *req = NULL;
    CHECK(fccl_ibarrier(comm, &req));
    CHECK(fccl_wait(&req));
    CHECK(fccl_barrier(comm));
    CHECK(fccl_comm_finalize(comm));
    CHECK(fccl_comm_destroy(comm));
    printf("rank %d: conformance: %d checks, %d failures\n", rank, checks, failures);
    return failures ? 1 : 0;
}
