#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, tests and doctests. Installs what the
# suite needs first (see ensure_tools).
set -euo pipefail
cd "$(dirname "$0")/.."

# The one place that installs the tools and packages the tests use. The tests start the
# servers they need themselves (redis-server, memcached, moto_server and a `cargo lambda watch` Lambda
# emulator on free loopback ports, network namespaces for the NAT lab) and stop them afterwards.
ensure_tools() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "scripts/test.sh: needs the Rust toolchain (https://rustup.rs)" >&2
        exit 1
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy
    fi
    if ! cargo nextest --version >/dev/null 2>&1; then
        cargo install cargo-nextest --locked
    fi
    # Debian packages: the NAT tests (tests/tests/nat.rs) build network namespaces with `ip`
    # and NAT routers with `iptables`; the Redis transport's tests run `redis-server`, the
    # memcached transport's tests `memcached` (1.6 or later, as Debian's is). One
    # `apt-get update`, and only when something is missing. (Open MPI is not installed
    # here: only benches/compare/compare_mpi.sh uses it, and it says how to install it.)
    local apt=()
    command -v ip >/dev/null 2>&1 || apt+=(iproute2)
    command -v iptables >/dev/null 2>&1 || apt+=(iptables)
    command -v redis-server >/dev/null 2>&1 || apt+=(redis-server)
    command -v memcached >/dev/null 2>&1 || apt+=(memcached)
    # The C API's tests (ffi/tests/c.rs) compile C with `cc` and run one under valgrind.
    command -v cc >/dev/null 2>&1 || apt+=(gcc libc6-dev)
    command -v valgrind >/dev/null 2>&1 || apt+=(valgrind)
    # The ML module's tests read heart_scale from Debian's liblinear-tools (MovieLens-100k
    # they download themselves, with pip, into a cache).
    [ -e /usr/share/doc/liblinear-tools/examples/heart_scale ] ||
        [ -e /usr/share/doc/liblinear-tools/examples/heart_scale.gz ] || apt+=(liblinear-tools)
    if [ "${#apt[@]}" -gt 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt[@]}"
    fi
    # The SQS transport's tests run moto in server mode, an SQS look-alike, from PyPI.
    if ! command -v moto_server >/dev/null 2>&1; then
        python3 -m pip install 'moto[server]' ||
            python3 -m pip install --break-system-packages 'moto[server]'
    fi
    # The Lambda launcher's tests (tests/lambda/) run `cargo lambda watch`, a local Lambda
    # emulator; PyPI has it as a prebuilt binary, much faster than `cargo install`.
    if ! command -v cargo-lambda >/dev/null 2>&1; then
        python3 -m pip install cargo-lambda ||
            python3 -m pip install --break-system-packages cargo-lambda
    fi
    # The C API's Python example (ffi/examples/allreduce.py) reduces numpy arrays.
    if ! python3 -c 'import numpy' >/dev/null 2>&1; then
        python3 -m pip install numpy ||
            python3 -m pip install --break-system-packages numpy
    fi
}

ensure_tools
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The programs and libraries the tests run or link that no Rust test depends on, so that
# nextest alone would not build them: the C library (libfccl.so and libfccl.a, for the C
# API's tests) and the fccl program. The same targets as nextest's build, so the same
# features: nextest then finds everything built.
cargo build --workspace --lib --bins --tests --examples
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
