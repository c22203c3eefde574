#!/usr/bin/env bash
# Runs fccl's allreduce and alltoall over SQS queues (moto's SQS look-alike, on a free
# loopback port) and prints, for each size: the time per operation, the requests per
# operation (all ranks together, their long polls included) against the fewest the
# messages need, the billed requests (each 64 KiB of a request's payload is one), and what
# one operation and a million would cost on AWS at SQS's list price ($0.40 per million
# standard requests; Lambda time not included). JSON lines go to target/compare/sqs.jsonl.
#
#   benches/compare/sqs_requests.sh [--ranks 4] [--sizes 4K,64K,1M,4M] [--iters 5] [--warmup 1] [--fifo]
#
# Needs moto_server (PyPI moto[server]; scripts/test.sh installs it) and python3. Starts
# its own server and stops it at the end; the keys are moto's dummies, and no request
# leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

ranks=4
sizes=4K,64K,1M,4M
iters=5
warmup=1
options=""

while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) ranks=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --iters) iters=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --fifo) options="&fifo=true"; shift ;;
        -h|--help) sed -n '9p' "$0" | sed 's/^#  *//' >&2; exit 0 ;;
        *) echo "sqs_requests.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

command -v moto_server >/dev/null || { echo "sqs_requests.sh: needs moto_server (pip install 'moto[server]')" >&2; exit 2; }
cargo build --release -q -p fccl --bin fccl

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
out=target/compare/sqs.jsonl
mkdir -p target/compare
: > "$out"
for collective in allreduce alltoall; do
    target/release/fccl bench "$collective" -n "$ranks" \
        --transport "sqs://us-east-1/bench?endpoint=http://127.0.0.1:$port$options" \
        --sizes "$sizes" --iters "$iters" --warmup "$warmup" --json - 2>/dev/null >> "$out"
done

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"# {rows[0]['ranks']} ranks over {rows[0]['transport']} (moto); per operation, all ranks together")
print(f"{'collective':>10} {'size':>9} {'algorithm':>20} {'time ms':>9} {'requests':>9} "
      f"{'least':>7} {'ratio':>6} {'billed':>7} {'$/op':>9} {'$/1M ops':>9}")
for r in rows:
    ratio = r["requests"] / r["least_requests"] if r["least_requests"] else float("nan")
    print(f"{r['collective']:>10} {r['bytes']:>9} {r['algorithm']:>20} {r['time_us']/1e3:>9.1f} "
          f"{r['requests']:>9.1f} {r['least_requests']:>7.1f} {ratio:>6.2f} "
          f"{r['billed_requests']:>7.1f} {r['usd_requests']:>9.2e} {r['usd_requests']*1e6:>9.2f}")
PY
