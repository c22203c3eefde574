//! Reduction kernels against memory bandwidth: summing two 64 MiB buffers of f32, f16 and
//! bf16 next to a plain copy of 64 MiB, and half's f16/bf16-to-f32 slice conversion.
//!
//! Every benchmark counts the bytes of one 64 MiB buffer, so criterion's GB/s compare
//! directly: a sum reads two buffers and writes one, a copy reads one and writes one.
//! Run with `cargo bench -p fccl-benches --bench kernels` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fccl_collectives::ReduceOp;
use fccl_collectives::kernels::{self, Kernels};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// The size of every buffer.
const BYTES: usize = 64 << 20;

fn kernels_64mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("64MiB");
    g.throughput(Throughput::Bytes(BYTES as u64));
    g.sample_size(20);

    let n32 = BYTES / size_of::<f32>();
    let src = vec![1.0f32; n32];
    let mut dst = vec![0.0f32; n32];
    g.bench_function("memcpy", |b| {
        b.iter(|| dst.copy_from_slice(black_box(&src)));
    });
    // Adding zeros keeps the values (and their timing) the same however many iterations run.
    let zeros = vec![0.0f32; n32];
    g.bench_function("sum_f32", |b| {
        b.iter(|| kernels::reduce(ReduceOp::Sum, black_box(&mut dst), black_box(&zeros)));
    });
    g.bench_function("sum_f32_one_thread", |b| {
        b.iter(|| f32::combine_serial(ReduceOp::Sum, black_box(&mut dst), black_box(&zeros)));
    });

    let n16 = BYTES / size_of::<f16>();
    let mut a16 = vec![f16::ONE; n16];
    let z16 = vec![f16::ZERO; n16];
    g.bench_function("sum_f16", |b| {
        b.iter(|| kernels::reduce(ReduceOp::Sum, black_box(&mut a16), black_box(&z16)));
    });
    let mut abf = vec![bf16::ONE; n16];
    let zbf = vec![bf16::ZERO; n16];
    g.bench_function("sum_bf16", |b| {
        b.iter(|| kernels::reduce(ReduceOp::Sum, black_box(&mut abf), black_box(&zbf)));
    });

    // The widening alone: 64 MiB of halves into 128 MiB of f32.
    let mut wide = vec![0.0f32; n16];
    g.bench_function("f16_to_f32", |b| {
        b.iter(|| black_box(&a16).convert_to_f32_slice(&mut wide));
    });
    g.bench_function("bf16_to_f32", |b| {
        b.iter(|| black_box(&abf).convert_to_f32_slice(&mut wide));
    });
    g.finish();
}

criterion_group!(benches, kernels_64mib);
criterion_main!(benches);
