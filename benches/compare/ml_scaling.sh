#!/usr/bin/env bash
# fccl train on synthetic Criteo at N = 1, 2 and 4 ranks in one run: synchronous samples/s
# and time to a target test loss, parameter-server updates/s (N workers and one server),
# each against the single-process run of the same code. JSON lines: target/compare/ml.jsonl.
#
#   benches/compare/ml_scaling.sh [--rows 1000000] [--bits 20] [--ranks 1,2,4] [--epochs 1] [--target 0.52]
#
# Needs python3. Each rank generates the same seeded data set (1M rows take about 2 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

rows=1000000
bits=20
ranks=1,2,4
epochs=1
target=0.52
batch=1000
ps_batch=100

while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=${2:?}; shift 2 ;;
        --bits) bits=${2:?}; shift 2 ;;
        --ranks) ranks=${2:?}; shift 2 ;;
        --epochs) epochs=${2:?}; shift 2 ;;
        --target) target=${2:?}; shift 2 ;;
        -h|--help) sed -n '6p' "$0" | sed 's/^#  *//' >&2; exit 0 ;;
        *) echo "ml_scaling.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

cargo build --release -q -p fccl --bin fccl
data="synthetic:criteo?rows=$rows&bits=$bits&seed=1"
out=target/compare/ml.jsonl
mkdir -p target/compare
: > "$out"
# run LABEL N ARGS...: one training run, its JSON lines tagged with the label.
run() {
    local label=$1 n=$2
    shift 2
    target/release/fccl train --model lr --data "$data" -n "$n" --json - "$@" 2>/dev/null |
        sed "s/^{/{\"run\":\"$label\",/" >> "$out"
}
for n in ${ranks//,/ }; do
    run sync "$n" --mode sync --batch "$batch" --epochs "$epochs" \
        --optimizer adam:lr=0.01 --eval-every 50
done
for n in ${ranks//,/ }; do
    run ps "$((n + 1))" --mode ps --servers 1 --batch "$ps_batch" --epochs 1 \
        --optimizer adam:lr=0.01
done

python3 - "$out" "$target" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
target = float(sys.argv[2])

def runs(kind):
    by_n = {}
    for r in rows:
        if r["run"] == kind:
            by_n.setdefault(r["ranks"], []).append(r)
    return by_n

def reached(records):
    for r in records:
        if r["test_loss"] is not None and r["test_loss"] <= target:
            return r["elapsed_s"] - r["eval_s"]
    return None

print(f"synchronous SGD (global batch, adam): samples/s and seconds of training to test loss <= {target}")
print(f"{'N':>3} {'samples/s':>11} {'x N=1':>6} {'to target s':>12} {'x N=1':>6} {'final loss':>11} {'compute s':>10} {'comm s':>8}")
sync = runs("sync")
base = None
for n in sorted(sync):
    final = sync[n][-1]
    t = reached(sync[n])
    if base is None:
        base = (final["samples_per_s"], t)
    speed = final["samples_per_s"] / base[0]
    ratio = f"{base[1] / t:6.2f}" if t and base[1] else "     -"
    shown = f"{t:12.2f}" if t else f"{'not reached':>12}"
    print(f"{n:>3} {final['samples_per_s']:>11.0f} {speed:>6.2f} {shown} {ratio} "
          f"{final['test_loss']:>11.4f} {final['compute_s']:>10.2f} {final['communicate_s']:>8.2f}")

print()
print("parameter server (N workers + 1 server): gradients applied per second")
print(f"{'N':>3} {'updates/s':>10} {'x N=1':>6} {'samples/s':>11} {'final loss':>11}")
ps = runs("ps")
base = None
for ranks in sorted(ps):
    final = ps[ranks][-1]
    base = base or final["updates_per_s"]
    print(f"{ranks - 1:>3} {final['updates_per_s']:>10.0f} {final['updates_per_s'] / base:>6.2f} "
          f"{final['samples_per_s']:>11.0f} {final['test_loss']:>11.4f}")
PY
