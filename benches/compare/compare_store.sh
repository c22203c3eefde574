#!/usr/bin/env bash
# Runs fccl's allreduce over memcached and over tcp in one run, and memcached's own set/get
# throughput with a raw loop, and prints: the tcp/store time ratio per size, and for each
# size the store allreduce's time against the bound (bytes its algorithm moves through the
# server / the raw throughput). JSON lines go to target/compare/store.jsonl.
#
#   benches/compare/compare_store.sh [--ranks 4] [--sizes 4K,1M,64M] [--iters 10] [--warmup 2]
#
# Needs memcached (Debian: apt-get install memcached; scripts/test.sh installs it) and
# python3. Starts its own memcached on a free loopback port and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

ranks=4
sizes=4K,1M,64M
iters=10
warmup=2

while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) ranks=${2:?}; shift 2 ;;
        --sizes) sizes=${2:?}; shift 2 ;;
        --iters) iters=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        -h|--help) sed -n '7p' "$0" | sed 's/^#  *//' >&2; exit 0 ;;
        *) echo "compare_store.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

command -v memcached >/dev/null || { echo "compare_store.sh: needs memcached" >&2; exit 2; }
cargo build --release -q -p fccl -p fccl-transports --bin fccl --example store_throughput

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
memcached -u "$(id -un)" -l 127.0.0.1 -p "$port" -m 4096 -U 0 -t 4 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

out=target/compare/store.jsonl
mkdir -p target/compare
: > "$out"
bench() {
    target/release/fccl bench allreduce -n "$ranks" --transport "$1" --sizes "$sizes" \
        --iters "$iters" --warmup "$warmup" --json - 2>/dev/null >> "$out"
}
bench "memcached://127.0.0.1:$port"
bench tcp
# The raw loop: as many clients as ranks, items of about the size the transport stores.
target/release/examples/store_throughput --server "127.0.0.1:$port" --clients "$ranks" \
    --value 1048000 --seconds 3 | sed 's/^{/{"raw":true,/' >> "$out"

python3 - "$out" "$ranks" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
p = int(sys.argv[2])
raw = next(r for r in rows if r.get("raw"))
mbps = raw["set_get_mb_per_s"]
store = {r["bytes"]: r for r in rows if r.get("transport") == "memcached"}
tcp = {r["bytes"]: r for r in rows if r.get("transport") == "tcp"}

def moved(alg, n):
    """Bytes an allreduce of n bytes moves through the server (stored plus read back)."""
    if alg == "scatter_reduce":
        return (3 * p - 2) * n            # its traffic(): puts and gets of blocks
    if alg == "recursive_doubling":       # p messages of n per round, each set and got
        return 2 * p * math.ceil(math.log2(p)) * n
    if alg in ("ring", "rabenseifner"):   # 2(p-1)n of messages in all, each set and got
        return 2 * 2 * (p - 1) * n
    return float("nan")

print(f"# memcached raw set+get: {mbps:.0f} MB/s with {raw['clients']} clients, "
      f"{raw['value_bytes']} B items (set {raw['set_us_median']:.0f} us, get {raw['get_us_median']:.0f} us)")
print(f"# {'bytes':>10} {'store alg':>18} {'store us':>12} {'tcp us':>10} {'tcp/store':>10}"
      f" {'moved MB':>9} {'bound us':>10} {'store/bound':>11}")
for n in sorted(store):
    s, t = store[n], tcp.get(n)
    m = moved(s["algorithm"], n)
    bound = m / (mbps * 1e6) * 1e6
    speed = s["time_us"] / t["time_us"] if t else float("nan")
    ok = "yes" if s["correct"] and (t is None or t["correct"]) else "NO"
    print(f"  {n:>10} {s['algorithm']:>18} {s['time_us']:>12.0f} {t['time_us'] if t else float('nan'):>10.0f}"
          f" {speed:>9.1f}x {m/1e6:>9.1f} {bound:>10.0f} {s['time_us']/bound:>10.2f}x  {ok}")
PY
