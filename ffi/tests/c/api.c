/*
 * The C API's contract beyond the collectives' results: version macros, error strings,
 * the thread-local last error, job strings, NULL and bad arguments (refused, the
 * communicator still usable), in-place offsets, several outstanding requests, receives
 * posted before the sends and a collective beside them, split,
 * finalize and abort.
 *
 *   ./api            checks that need no job
 *   fccl run -n 4 -- ./api job
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fccl.h"

static int rank = -1, failures;

#define EXPECT(cond)                                                                    \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            failures++;                                                                 \
            fprintf(stderr, "rank %d: %s:%d: expected %s (last error: %s)\n", rank,     \
                    __FILE__, __LINE__, #cond, fccl_get_last_error());                  \
        }                                                                               \
    } while (0)
#define OK(call) EXPECT((call) == FCCL_SUCCESS)
#define INVALID(call) EXPECT((call) == FCCL_ERR_INVALID_ARGUMENT)

static void *other_thread(void *arg) {
    /* A failure on the main thread must not show here. */
    *(int *)arg = strcmp(fccl_get_last_error(), "") == 0;
    return NULL;
}

static void without_a_job(void) {
    int version = 0;
    OK(fccl_get_version(&version));
    EXPECT(version == FCCL_VERSION_CODE);
    EXPECT(FCCL_VERSION_CODE == FCCL_VERSION(FCCL_MAJOR, FCCL_MINOR, FCCL_PATCH));
    INVALID(fccl_get_version(NULL));

    EXPECT(strcmp(fccl_get_error_string(FCCL_SUCCESS), "success") == 0);
    EXPECT(strcmp(fccl_get_error_string(FCCL_ERR_TIMEOUT), "timeout") == 0);
    EXPECT(strcmp(fccl_get_error_string(12345), "unknown result code") == 0);
    EXPECT(FCCL_SUCCESS == 0 && FCCL_ERR_INVALID_ARGUMENT == 1 && FCCL_ERR_PANIC == 10);
    EXPECT(FCCL_INT8 == 0 && FCCL_FLOAT16 == 6 && FCCL_FLOAT32 == 7 && FCCL_BFLOAT16 == 9);
    EXPECT(FCCL_SUM == 0 && FCCL_AVG == 4);

    /* Job strings. */
    char *job = NULL;
    OK(fccl_job_create(3, "tcp://127.0.0.1:9", &job));
    EXPECT(job != NULL && strncmp(job, "fccl1:", 6) == 0);
    int n = 0;
    OK(fccl_job_size(job, &n));
    EXPECT(n == 3);
    fccl_string_free(job);
    fccl_string_free(NULL);
    char *untouched = (char *)&n;
    INVALID(fccl_job_create(0, "tcp://127.0.0.1:9", &untouched));
    EXPECT(untouched == (char *)&n); /* outputs are written only on success */
    INVALID(fccl_job_create(2, NULL, &job));
    INVALID(fccl_job_size("not a job", &n));

    /* Joining: bad arguments are refused before anything is sent. */
    fccl_comm *comm = (fccl_comm *)&n;
    INVALID(fccl_comm_init_rank(&comm, "not a job", 0));
    EXPECT(comm == (fccl_comm *)&n);
    EXPECT(strstr(fccl_get_last_error(), "job") != NULL);
    int clean = 0;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &clean);
    pthread_join(t, NULL);
    EXPECT(clean);
    OK(fccl_job_create(2, "tcp://127.0.0.1:9", &job));
    INVALID(fccl_comm_init_rank(&comm, job, 2));
    INVALID(fccl_comm_init_rank(&comm, job, -1));
    INVALID(fccl_comm_init_rank(NULL, job, 0));
    fccl_string_free(job);
    char *env_job = NULL;
    int env_rank = -1;
    INVALID(fccl_job_from_env(&env_job, &env_rank)); /* not started by fccl run */
    INVALID(fccl_comm_init_from_env(&comm));
    EXPECT(comm == (fccl_comm *)&n);

    /* NULL handles. */
    OK(fccl_comm_destroy(NULL));
    OK(fccl_comm_abort(NULL));
    INVALID(fccl_comm_rank(NULL, &n));
    INVALID(fccl_allreduce(&n, &n, 1, FCCL_INT32, FCCL_SUM, NULL));
    fccl_request *none = NULL;
    OK(fccl_wait(&none));
    int done = 0;
    OK(fccl_test(&none, &done));
    EXPECT(done == 1);
    INVALID(fccl_wait(NULL));
}

static void in_a_job(void) {
    char *job = NULL;
    int env_rank = -1;
    OK(fccl_job_from_env(&job, &env_rank));
    if (job == NULL) exit(2);

    /* Joined from the job string and the rank (fccl_comm_init_from_env is what the
     * examples and the other tests use). */
    fccl_comm *comm = NULL;
    OK(fccl_comm_init_rank(&comm, job, env_rank));
    fccl_string_free(job);
    if (comm == NULL) exit(2);
    int size = 0;
    OK(fccl_comm_rank(comm, &rank));
    OK(fccl_comm_size(comm, &size));
    EXPECT(rank == env_rank);
    INVALID(fccl_comm_rank(comm, NULL));

    /* Bad arguments: refused, nothing sent, the communicator usable after. */
    int32_t a[8] = {0}, b[8] = {0};
    INVALID(fccl_allreduce(NULL, a, 4, FCCL_INT32, FCCL_SUM, comm));
    INVALID(fccl_allreduce(a, NULL, 4, FCCL_INT32, FCCL_SUM, comm));
    INVALID(fccl_allreduce(a, b, 4, 99, FCCL_SUM, comm));
    INVALID(fccl_allreduce(a, b, 4, FCCL_INT32, 7, comm));
    INVALID(fccl_allreduce(a, a + 1, 4, FCCL_INT32, FCCL_SUM, comm)); /* overlap */
    INVALID(fccl_allreduce((char *)a + 1, b, 1, FCCL_INT32, FCCL_SUM, comm)); /* misaligned */
    INVALID(fccl_broadcast(a, a, 4, FCCL_INT32, size, comm));
    INVALID(fccl_reduce(a, a, 4, FCCL_INT32, FCCL_SUM, -1, comm));
    INVALID(fccl_send(a, 1, FCCL_INT32, 0, -5, comm));
    INVALID(fccl_alltoallv(a, NULL, NULL, b, NULL, NULL, FCCL_INT32, comm));
    /* receive blocks that overlap: every rank's block starts at element 0 */
    size_t ones[64], zeros[64] = {0};
    for (int j = 0; j < size; j++) ones[j] = 1;
    if (size > 1 && size <= 8) INVALID(fccl_alltoallv(a, ones, NULL, b, ones, zeros, FCCL_INT32, comm));
    /* allgather in place is sendbuf == recvbuf + rank * count; any other overlap is not */
    int32_t *g = calloc((size_t)size * 2, sizeof *g);
    INVALID(fccl_allgather(g + ((rank + 1) % size) * 2 + 1, g, 2, FCCL_INT32, comm));
    fccl_request *req = (fccl_request *)&size;
    INVALID(fccl_iallreduce(NULL, a, 4, FCCL_INT32, FCCL_SUM, comm, &req));
    EXPECT(req == (fccl_request *)&size);
    INVALID(fccl_iallreduce(a, b, 4, FCCL_INT32, FCCL_SUM, comm, NULL));

    /* In place with NCCL's offsets. */
    g[rank * 2] = rank;
    g[rank * 2 + 1] = 10 * rank;
    OK(fccl_allgather(g + rank * 2, g, 2, FCCL_INT32, comm));
    for (int r = 0; r < size; r++) EXPECT(g[r * 2] == r && g[r * 2 + 1] == 10 * r);
    for (int r = 0; r < size * 2; r++) g[r] = r;
    OK(fccl_reduce_scatter(g, g + rank * 2, 2, FCCL_INT32, FCCL_SUM, comm));
    EXPECT(g[rank * 2] == size * rank * 2 && g[rank * 2 + 1] == size * (rank * 2 + 1));
    free(g);

    /* Several outstanding requests, waited for in reverse order. */
    double x[3][100];
    fccl_request *reqs[3];
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 100; i++) x[k][i] = k + rank;
        OK(fccl_iallreduce(x[k], x[k], 100, FCCL_FLOAT64, k == 2 ? FCCL_MAX : FCCL_SUM, comm,
                           &reqs[k]));
    }
    for (int k = 2; k >= 0; k--) {
        OK(fccl_wait(&reqs[k]));
        EXPECT(reqs[k] == NULL);
    }
    double sum_ranks = size * (size - 1) / 2.0;
    EXPECT(x[0][99] == sum_ranks && x[1][0] == size + sum_ranks && x[2][50] == 2 + size - 1);

    /* Receives posted before any send, from both neighbours, stay pending through a
     * barrier (operations after them do not wait for them); then the sends match them. */
    int left = (rank + size - 1) % size, right = (rank + 1) % size;
    int32_t from_left[3] = {-1, -1, -1}, from_right[3] = {-1, -1, -1};
    int32_t to_left[3] = {rank, 10 * rank, 100 * rank}, to_right[3] = {-rank, 7, rank};
    size_t n_left = 0, n_right = 0;
    fccl_request *ring[4] = {NULL, NULL, NULL, NULL};
    OK(fccl_irecv(from_left, 3, FCCL_INT32, left, 5, &n_left, comm, &ring[0]));
    OK(fccl_irecv(from_right, 3, FCCL_INT32, right, 6, &n_right, comm, &ring[1]));
    OK(fccl_barrier(comm));
    OK(fccl_isend(to_right, 3, FCCL_INT32, right, 5, comm, &ring[2]));
    OK(fccl_isend(to_left, 3, FCCL_INT32, left, 6, comm, &ring[3]));
    for (int k = 3; k >= 0; k--) OK(fccl_wait(&ring[k]));
    EXPECT(n_left == 3 && n_right == 3);
    EXPECT(from_left[0] == -left && from_left[1] == 7 && from_left[2] == left);
    EXPECT(from_right[0] == right && from_right[1] == 10 * right && from_right[2] == 100 * right);

    /* Split: even and odd ranks, the last rank out; keys reverse the order. */
    fccl_comm *half = (fccl_comm *)&size;
    int color = rank == size - 1 ? FCCL_SPLIT_NOCOLOR : rank % 2;
    OK(fccl_comm_split(comm, color, -rank, &half));
    if (color == FCCL_SPLIT_NOCOLOR) {
        EXPECT(half == NULL);
    } else if (half != NULL) {
        int hr = -1, hs = -1;
        OK(fccl_comm_rank(half, &hr));
        OK(fccl_comm_size(half, &hs));
        int members = 0;
        for (int r = 0; r < size - 1; r++) members += r % 2 == color;
        EXPECT(hs == members);
        int above = 0; /* ranks of my colour above me come first */
        for (int r = rank + 1; r < size - 1; r++) above += r % 2 == color;
        EXPECT(hr == above);
        int32_t v = rank;
        OK(fccl_allreduce(&v, &v, 1, FCCL_INT32, FCCL_SUM, half));
        int32_t want = 0;
        for (int r = 0; r < size - 1; r++) want += r % 2 == color ? r : 0;
        EXPECT(v == want);
        OK(fccl_comm_destroy(half));
    } else {
        EXPECT(half != NULL);
    }

    /* Abort: a receive that nothing will match, cut short by aborting its communicator. */
    fccl_comm *twin = NULL;
    OK(fccl_comm_split(comm, 0, rank, &twin));
    if (twin != NULL) {
        int32_t never[4];
        size_t got = 77;
        fccl_request *pending = NULL;
        OK(fccl_irecv(never, 4, FCCL_INT32, (rank + 1) % size, 9, &got, twin, &pending));
        int done = 1;
        OK(fccl_test(&pending, &done));
        EXPECT(done == 0);
        /* Every rank has looked before any aborts (an abort fails the peers' receives). */
        OK(fccl_barrier(comm));
        OK(fccl_comm_abort(twin));
        fccl_result r = fccl_wait(&pending);
        EXPECT(r == FCCL_ERR_REMOTE);
        EXPECT(pending == NULL && got == 77);
    }

    /* The world still works; finalize; then operations are refused. */
    OK(fccl_barrier(comm));
    OK(fccl_comm_finalize(comm));
    INVALID(fccl_barrier(comm));
    INVALID(fccl_comm_finalize(comm));
    OK(fccl_comm_destroy(comm));
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "job") == 0) in_a_job();
    else without_a_job();
    printf("rank %d: api: %d failures\n", rank, failures);
    return failures ? 1 : 0;
}
