/*
 * Allreduce from C: every rank adds its vector, in place, and checks the sum.
 *
 *   cc -I ffi/include ffi/examples/allreduce.c -L target/debug -lfccl \
 *      -Wl,-rpath,$PWD/target/debug -o allreduce
 *   fccl run -n 4 -- ./allreduce
 */
#include <stdio.h>
#include <stdlib.h>

#include "fccl.h"

#define CHECK(call)                                                                  \
    do {                                                                             \
        fccl_result r_ = (call);                                                     \
        if (r_ != FCCL_SUCCESS) {                                                    \
            fprintf(stderr, "%s failed: %s: %s\n", #call, fccl_get_error_string(r_), \
                    fccl_get_last_error());                                          \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

enum { N = 1000 };

int main(void) {
    fccl_comm *comm = NULL;
    CHECK(fccl_comm_init_from_env(&comm));
    int rank, size;
    CHECK(fccl_comm_rank(comm, &rank));
    CHECK(fccl_comm_size(comm, &size));

    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)(rank + i);
    CHECK(fccl_allreduce(x, x, N, FCCL_FLOAT32, FCCL_SUM, comm));

    /* sum over r of (r + i) = size * (size - 1) / 2 + size * i */
    int wrong = 0;
    for (int i = 0; i < N; i++)
        if (x[i] != (float)(size * (size - 1) / 2 + size * i)) wrong++;
    free(x);
    CHECK(fccl_comm_destroy(comm));
    if (wrong) {
        fprintf(stderr, "rank %d: %d wrong elements\n", rank, wrong);
        return 1;
    }
    printf("rank %d of %d: allreduce ok\n", rank, size);
    return 0;
}
