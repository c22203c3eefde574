//! Reduction kernels against a plain copy of the same 64 MiB: how close `sum` gets to
//! memory bandwidth.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fccl_collectives::ReduceOp;
use fccl_collectives::kernels::reduce;
use half::{bf16, f16};

const BYTES: usize = 64 << 20;

fn kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Bytes(BYTES as u64));
    g.sample_size(10);

    let n = BYTES / 4;
    let x: Vec<f32> = (0..n).map(|i| (i % 64) as f32).collect();
    let mut acc = vec![0.0f32; n];
    g.bench_function("sum f32 64 MiB", |b| {
        b.iter(|| reduce(ReduceOp::Sum, black_box(&mut acc[..]), black_box(&x[..])));
    });
    let mut dst = vec![0.0f32; n];
    g.bench_function("memcpy 64 MiB", |b| {
        b.iter(|| black_box(&mut dst[..]).copy_from_slice(black_box(&x[..])));
    });
    drop((x, acc, dst));

    let n = BYTES / 2;
    let x: Vec<f16> = (0..n).map(|i| f16::from_f32((i % 64) as f32)).collect();
    let mut acc = vec![f16::ZERO; n];
    g.bench_function("sum f16 64 MiB", |b| {
        b.iter(|| reduce(ReduceOp::Sum, black_box(&mut acc[..]), black_box(&x[..])));
    });
    drop((x, acc));

    let x: Vec<bf16> = (0..n).map(|i| bf16::from_f32((i % 64) as f32)).collect();
    let mut acc = vec![bf16::ZERO; n];
    g.bench_function("sum bf16 64 MiB", |b| {
        b.iter(|| reduce(ReduceOp::Sum, black_box(&mut acc[..]), black_box(&x[..])));
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
