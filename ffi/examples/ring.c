/*
 * A ring of point-to-point messages: a token goes from rank 0 around every rank and back,
 * each adding its rank; then every rank passes its own vector to the right at once.
 *
 *   fccl run -n 4 -- ./ring
 */
#include <stdint.h>
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

enum { TAG_TOKEN = 1, TAG_SHIFT = 2, N = 64 };

int main(void) {
    fccl_comm *comm = NULL;
    CHECK(fccl_comm_init_from_env(&comm));
    int rank, size;
    CHECK(fccl_comm_rank(comm, &rank));
    CHECK(fccl_comm_size(comm, &size));
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    int wrong = 0;

    /* The token: rank 0 starts it and gets it back with every rank added. */
    int64_t token = 0;
    size_t got = 0;
    if (rank == 0) {
        CHECK(fccl_send(&token, 1, FCCL_INT64, right, TAG_TOKEN, comm));
        CHECK(fccl_recv(&token, 1, FCCL_INT64, left, TAG_TOKEN, &got, comm));
        if (got != 1 || token != (int64_t)size * (size - 1) / 2) wrong++;
        printf("rank 0: the token came back as %lld\n", (long long)token);
    } else {
        CHECK(fccl_recv(&token, 1, FCCL_INT64, left, TAG_TOKEN, &got, comm));
        token += rank;
        CHECK(fccl_send(&token, 1, FCCL_INT64, right, TAG_TOKEN, comm));
    }

    /* The shift: everyone sends and receives at once (non-blocking). Operations on one
     * communicator run in issue order, so the send is issued before the receive: a
     * receive issued first would hold the queue until its message came. */
    double mine[N], theirs[N];
    for (int i = 0; i < N; i++) mine[i] = rank * 1000.0 + i;
    fccl_request *rreq = NULL, *sreq = NULL;
    CHECK(fccl_isend(mine, N, FCCL_FLOAT64, right, TAG_SHIFT, comm, &sreq));
    CHECK(fccl_irecv(theirs, N, FCCL_FLOAT64, left, TAG_SHIFT, &got, comm, &rreq));
    CHECK(fccl_wait(&rreq));
    CHECK(fccl_wait(&sreq));
    if (got != N) wrong++;
    for (int i = 0; i < N; i++)
        if (theirs[i] != left * 1000.0 + i) wrong++;

    CHECK(fccl_comm_destroy(comm));
    if (wrong) {
        fprintf(stderr, "rank %d: %d wrong\n", rank, wrong);
        return 1;
    }
    printf("rank %d of %d: ring ok\n", rank, size);
    return 0;
}
