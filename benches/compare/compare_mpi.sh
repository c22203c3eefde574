#!/usr/bin/env bash
# Runs fccl and Open MPI (TCP over loopback only) on the same collectives, rank counts and
# sizes, back to back, and prints one table; all JSON lines go to target/compare/results.jsonl.
#
#   benches/compare/compare_mpi.sh [--ranks 2,4,8] [--collectives allreduce,alltoall,broadcast]
#       [--sizes 8,1K,64K,1M,16M,64M] [--iters N] [--warmup W]
#
# Needs mpicc and mpirun (Debian: apt-get install openmpi-bin libopenmpi-dev) and python3.
# With iperf3 (apt-get install iperf3) it first measures the single-stream TCP bandwidth of
# loopback, and the table gives each fccl busbw as a fraction of it. Installs nothing itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

ranks_list=2,4,8
collectives=allreduce,alltoall,broadcast
sizes=8,1K,64K,1M,16M,64M
iters=20
warmup=5

usage() {
    sed -n '5,6p' "$0" | sed 's/^#  *//' >&2
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) ranks_list=${2:?}; shift 2 ;;
        --collectives) collectives=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --iters) iters=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "compare_mpi.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

for c in ${collectives//,/ }; do
    case "$c" in
        allreduce|alltoall|broadcast) ;;
        *) echo "compare_mpi.sh: collective '$c' is not compared (allreduce, alltoall, broadcast)" >&2; exit 2 ;;
    esac
done

missing=()
for tool in mpicc mpirun; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "compare_mpi.sh: ${missing[*]} not found; install Open MPI first:" >&2
    echo "    apt-get install openmpi-bin libopenmpi-dev" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "compare_mpi.sh: python3 not found (it prints the table); apt-get install python3" >&2
    exit 1
fi

out=target/compare
mkdir -p "$out"
mpicc -O2 -o "$out/mpi_bench" benches/compare/mpi_bench.c -lm
cargo build --release --bin fccl
fccl=target/release/fccl

# Open MPI over TCP on loopback only: the ob1 messaging layer (not UCX, which would use shared
# memory) with the tcp and self transports (no vader shared memory), and its own out-of-band
# wiring on lo too. Collectives come from the default `tuned` component; processes float, as
# fccl's do. --allow-run-as-root because CI runs as root; --oversubscribe for more ranks than
# cores.
mpirun_flags=(
    --allow-run-as-root --oversubscribe --bind-to none
    --mca pml ob1 --mca btl tcp,self
    --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo
)

results=$out/results.jsonl
: >"$results"

# Loopback's single-stream TCP bandwidth in this run: an iperf3 server on a free loopback
# port for one test, a 5-second client against it; once with the host's congestion control
# (what Open MPI's sockets use) and once with cubic (what fccl's data connections use).
iperf_stream() {
    local name=$1 port server gbps=""
    shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    iperf3 --server --one-off --bind 127.0.0.1 --port "$port" >/dev/null 2>&1 &
    server=$!
    sleep 0.5
    if iperf3 --client 127.0.0.1 --port "$port" --time 5 --json "$@" >"$out/iperf3-$name.json" 2>/dev/null; then
        gbps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8e9)' "$out/iperf3-$name.json")
        echo "== loopback TCP, one stream (iperf3, $name): $gbps GB/s" >&2
    else
        echo "compare_mpi.sh: iperf3 ($name) failed; the table leaves out that fraction" >&2
    fi
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    echo "$gbps"
}
iperf_gbps=""
iperf_cubic_gbps=""
if command -v iperf3 >/dev/null 2>&1; then
    host_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo "?")
    iperf_gbps=$(iperf_stream "$host_cc")
    iperf_cubic_gbps=$(iperf_stream cubic --congestion cubic)
else
    echo "compare_mpi.sh: iperf3 not found, so no loopback bandwidth (apt-get install iperf3)" >&2
fi
failed=0
for c in ${collectives//,/ }; do
    for n in ${ranks_list//,/ }; do
        echo "== $c, $n ranks: Open MPI" >&2
        if mpirun "${mpirun_flags[@]}" -n "$n" "$out/mpi_bench" "$c" "$sizes" "$iters" "$warmup" \
            >"$out/mpi.out"; then
            grep '^{' "$out/mpi.out" >>"$results" || true
        else
            echo "compare_mpi.sh: Open MPI $c on $n ranks failed" >&2
            failed=1
        fi
        echo "== $c, $n ranks: fccl" >&2
        rm -f "$out/fccl.jsonl"
        if "$fccl" bench "$c" -n "$n" --sizes "$sizes" --iters "$iters" --warmup "$warmup" \
            --json "$out/fccl.jsonl" >"$out/fccl.out"; then
            cat "$out/fccl.jsonl" >>"$results"
        else
            echo "compare_mpi.sh: fccl $c on $n ranks failed (its output: $out/fccl.out)" >&2
            [ -f "$out/fccl.jsonl" ] && cat "$out/fccl.jsonl" >>"$results"
            failed=1
        fi
    done
done

python3 - "$results" "$iperf_gbps" "$iperf_cubic_gbps" "${host_cc:-?}" <<'EOF'
import json, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
iperf = float(sys.argv[2]) if sys.argv[2] else None
cubic = float(sys.argv[3]) if sys.argv[3] else None
host_cc = sys.argv[4]
mpi = {(r["collective"], r["ranks"], r["bytes"]): r for r in rows if r["algorithm"] == "openmpi"}
fccl = {(r["collective"], r["ranks"], r["bytes"]): r for r in rows if r["algorithm"] != "openmpi"}
transports = sorted({r["transport"] for r in fccl.values()})
print(f"# fccl (transport {', '.join(transports) or '?'}) against Open MPI (TCP over loopback)")
print("# ratio = MPI time / fccl time: above 1 means fccl is faster; '!' marks a wrong result")
if iperf:
    print("# loopback TCP, one stream (iperf3, this run, the host's %s): %.3f GB/s; of_iperf = fccl busbw / that" % (host_cc, iperf))
if cubic:
    print("# the same with cubic, as fccl's data connections use: %.3f GB/s; of_cubic = fccl busbw / that" % cubic)
head = ("collective", "ranks", "bytes", "fccl_us", "mpi_us", "fccl_busbw", "mpi_busbw", "ratio", "of_iperf", "of_cubic")
print("%-10s %5s %10s %12s %12s %10s %10s %7s %8s %8s" % head)

def us(r):
    return "-" if r is None else "%.1f%s" % (r["time_us"], "" if r["correct"] else "!")

def bw(r):
    return "-" if r is None or r["busbw_gbps"] is None else "%.3f" % r["busbw_gbps"]

order = {"allreduce": 0, "alltoall": 1, "broadcast": 2}
for key in sorted(set(mpi) | set(fccl), key=lambda k: (order.get(k[0], 9), k[1], k[2])):
    f, m = fccl.get(key), mpi.get(key)
    ratio = "-"
    if f and m and f["time_us"] > 0:
        ratio = "%.2f" % (m["time_us"] / f["time_us"])
    def of(stream):
        if stream and f and f["busbw_gbps"] is not None:
            return "%.2f" % (f["busbw_gbps"] / stream)
        return "-"
    print("%-10s %5d %10d %12s %12s %10s %10s %7s %8s %8s" % (*key, us(f), us(m), bw(f), bw(m), ratio, of(iperf), of(cubic)))
EOF
echo "# all JSON lines: $results" >&2
exit "$failed"
