/*
 * All-to-all from C, blocking and then non-blocking (fccl_ialltoall, polled with
 * fccl_test while the rank could compute): rank r sends block j to rank j.
 *
 *   fccl run -n 4 -- ./alltoall
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

enum { BLOCK = 5 };

/* The value rank `from` puts at element k of the block it sends to rank `to`. */
static int32_t value(int from, int to, int k) { return from * 10000 + to * 100 + k; }

int main(void) {
    fccl_comm *comm = NULL;
    CHECK(fccl_comm_init_from_env(&comm));
    int rank, size;
    CHECK(fccl_comm_rank(comm, &rank));
    CHECK(fccl_comm_size(comm, &size));

    size_t n = (size_t)size * BLOCK;
    int32_t *send = malloc(n * sizeof *send), *recv = malloc(n * sizeof *recv);
    for (int j = 0; j < size; j++)
        for (int k = 0; k < BLOCK; k++) send[j * BLOCK + k] = value(rank, j, k);

    int wrong = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++) recv[i] = -1;
        if (round == 0) {
            CHECK(fccl_alltoall(send, recv, BLOCK, FCCL_INT32, comm));
        } else {
            fccl_request *req = NULL;
            CHECK(fccl_ialltoall(send, recv, BLOCK, FCCL_INT32, comm, &req));
            int done = 0, polls = 0;
            while (!done) {
                CHECK(fccl_test(&req, &done));
                polls++;
                /* ... compute something here; this rank only naps ... */
                struct timespec nap = {0, 20000};
                if (!done) nanosleep(&nap, NULL);
            }
            if (req != NULL) wrong++;
            printf("rank %d: ialltoall done after %d polls\n", rank, polls);
        }
        for (int i = 0; i < size; i++)
            for (int k = 0; k < BLOCK; k++)
                if (recv[i * BLOCK + k] != value(i, rank, k)) wrong++;
    }
    free(send);
    free(recv);
    CHECK(fccl_comm_destroy(comm));
    if (wrong) {
        fprintf(stderr, "rank %d: %d wrong elements\n", rank, wrong);
        return 1;
    }
    printf("rank %d of %d: alltoall ok\n", rank, size);
    return 0;
}
