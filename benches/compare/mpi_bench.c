/*
 * mpi_bench: the Open MPI side of benches/compare/compare_mpi.sh.
 *
 * Measures one collective over a list of sizes the way `fccl bench` does, and prints one
 * JSON object per size with the field names of `fccl bench --json`, so that both land in
 * one results file:
 *
 *   mpirun ... -n N mpi_bench allreduce|alltoall|broadcast SIZES ITERS WARMUP
 *
 * SIZES is a comma-separated list of bytes with optional K, M or G suffixes (binary, as
 * nccl-tests and fccl read them). As in fccl: `bytes` is each rank's buffer (for alltoall
 * the whole per-rank send buffer), counted in f32 elements, and for alltoall rounded down
 * to a multiple of the rank count; sizes that round to the same count run once.
 *
 * Each size runs one checked iteration (result buffers poisoned first, results compared
 * with the closed form), WARMUP untimed ones, then ITERS timed ones, each after an
 * MPI_Barrier. An iteration's time is the slowest rank's (MPI_Reduce with MPI_MAX);
 * time_us is the median, and busbw follows nccl-tests: algbw = bytes / time, times
 * 2(n-1)/n for allreduce, (n-1)/n for alltoall, 1 for broadcast.
 */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum collective { ALLREDUCE, ALLTOALL, BROADCAST };

static const char *const NAMES[] = {"allreduce", "alltoall", "broadcast"};

static int rank, ranks;

static void die(const char *msg) {
    if (rank == 0) fprintf(stderr, "mpi_bench: %s\n", msg);
    MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

/* One size: digits with an optional K/M/G suffix and an optional B or iB after it. */
static size_t parse_size(const char *s) {
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (end == s) die("bad size (expected bytes like 8, 1K, 64M)");
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end != '\0') die("bad size (expected bytes like 8, 1K, 64M)");
    return (size_t)(n << shift);
}

/* The value rank `r` contributes at index `i` of an allreduce: small integers, so every
 * sum is exact in f32 whatever order Open MPI adds in. */
static float allreduce_input(int r, size_t i) { return (float)(r + 1) + (float)(i % 7); }

static float allreduce_expected(size_t i) {
    return (float)ranks * (float)(ranks + 1) / 2.0f + (float)ranks * (float)(i % 7);
}

/* The value rank `src` sends to rank `dst` at index `k` of that block (exact in f32). */
static float alltoall_value(int src, int dst, size_t k) {
    return (float)(src * ranks + dst) + (float)(k % 16) * (float)(ranks * ranks);
}

static float broadcast_value(size_t i) { return (float)(i % 251) + 1.0f; }

/* Prepares the buffers of one checked iteration: inputs set, outputs poisoned. */
static void fill(enum collective c, float *send, float *recv, size_t count) {
    size_t block = count / (size_t)ranks;
    for (size_t i = 0; i < count; i++) {
        switch (c) {
        case ALLREDUCE:
            send[i] = allreduce_input(rank, i);
            recv[i] = NAN;
            break;
        case ALLTOALL:
            send[i] = alltoall_value(rank, (int)(i / block), i % block);
            recv[i] = NAN;
            break;
        case BROADCAST:
            send[i] = rank == 0 ? broadcast_value(i) : NAN;
            break;
        }
    }
}

/* Whether this rank's output after a checked iteration is what the collective promises. */
static int check(enum collective c, const float *send, const float *recv, size_t count) {
    size_t block = count / (size_t)ranks;
    for (size_t i = 0; i < count; i++) {
        float want, got;
        switch (c) {
        case ALLREDUCE:
            want = allreduce_expected(i);
            got = recv[i];
            break;
        case ALLTOALL:
            want = alltoall_value((int)(i / block), rank, i % block);
            got = recv[i];
            break;
        default:
            want = broadcast_value(i);
            got = send[i];
            break;
        }
        if (got != want) return 0;
    }
    return 1;
}

static void run(enum collective c, float *send, float *recv, size_t count) {
    int block = (int)(count / (size_t)ranks);
    switch (c) {
    case ALLREDUCE:
        MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case ALLTOALL:
        MPI_Alltoall(send, block, MPI_FLOAT, recv, block, MPI_FLOAT, MPI_COMM_WORLD);
        break;
    case BROADCAST:
        MPI_Bcast(send, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        break;
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bus_factor(enum collective c) {
    double n = (double)ranks;
    switch (c) {
    case ALLREDUCE: return 2.0 * (n - 1.0) / n;
    case ALLTOALL: return (n - 1.0) / n;
    default: return 1.0;
    }
}

static void bench(enum collective c, size_t count, int iters, int warmup) {
    size_t n = count ? count : 1;
    float *send = malloc(n * sizeof(float)), *recv = malloc(n * sizeof(float));
    double *times = malloc((size_t)iters * sizeof(double));
    if (!send || !recv || !times) die("out of memory");

    fill(c, send, recv, count);
    run(c, send, recv, count);
    int ok = check(c, send, recv, count), all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);

    for (int i = 0; i < warmup; i++) run(c, send, recv, count);
    for (int i = 0; i < iters; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        run(c, send, recv, count);
        double dt = MPI_Wtime() - t0, slowest = 0.0;
        MPI_Reduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        times[i] = slowest * 1e6;
    }

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double rss_mb = (double)usage.ru_maxrss / 1024.0, peak_rss_mb = 0.0;
    MPI_Reduce(&rss_mb, &peak_rss_mb, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        qsort(times, (size_t)iters, sizeof(double), by_value);
        int mid = iters / 2;
        double median = iters % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2.0;
        size_t bytes = count * sizeof(float);
        double algbw = median > 0.0 ? (double)bytes / median / 1e3 : 0.0;
        printf("{\"collective\":\"%s\",\"transport\":\"openmpi-tcp\",\"ranks\":%d,"
               "\"dtype\":\"f32\",\"op\":\"%s\",\"bytes\":%zu,\"count\":%zu,"
               "\"algorithm\":\"openmpi\",\"iters\":%d,\"time_us\":%.3f,"
               "\"time_us_min\":%.3f,\"time_us_max\":%.3f,\"algbw_gbps\":%.6g,"
               "\"busbw_gbps\":%.6g,\"correct\":%s,\"peak_rss_mb\":%.3f}\n",
               NAMES[c], ranks, c == ALLREDUCE ? "sum" : "none", bytes, count, iters,
               median, times[0], times[iters - 1], algbw, algbw * bus_factor(c),
               all_ok ? "true" : "false", peak_rss_mb);
        fflush(stdout);
    }
    free(send);
    free(recv);
    free(times);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (argc != 5) die("usage: mpi_bench allreduce|alltoall|broadcast SIZES ITERS WARMUP");

    int c = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(argv[1], NAMES[i]) == 0) c = i;
    if (c < 0) die("unknown collective (allreduce, alltoall or broadcast)");
    int iters = atoi(argv[3]), warmup = atoi(argv[4]);
    if (iters < 1 || warmup < 0) die("ITERS must be at least 1 and WARMUP at least 0");

    char *sizes = strdup(argv[2]);
    size_t *done = calloc(strlen(argv[2]) + 1, sizeof(size_t)), ndone = 0;
    if (!sizes || !done) die("out of memory");
    for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
        size_t count = parse_size(tok) / sizeof(float), seen = 0;
        if (c == ALLTOALL) count -= count % (size_t)ranks;
        if (count > INT32_MAX) die("size too large for an int count");
        /* Sizes that round to the same count run once, as in fccl. */
        for (size_t i = 0; i < ndone; i++) seen |= done[i] == count;
        if (seen) continue;
        done[ndone++] = count;
        bench((enum collective)c, count, iters, warmup);
    }
    free(done);
    free(sizes);
    MPI_Finalize();
    return 0;
}
