//! Frame headers: encoding a header with its payload into one frame (a copy of the
//! payload) and decoding it (a check and a zero-copy slice), for 1 KiB and 1 MiB payloads.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fccl_collectives::frame::Header;
use fccl_collectives::{Collective, CommId, DataType, Tag};

fn header(count: usize) -> Header {
    Header {
        collective: Collective::AllReduce,
        dtype: DataType::Float32,
        op: 0,
        tag: Tag {
            comm: CommId::WORLD,
            p2p: false,
            seq: 42,
            step: 3,
            chunk: 0,
        },
        chunks: 1,
        root: 0,
        count: count as u64,
    }
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    for (name, bytes) in [("1KiB", 1usize << 10), ("1MiB", 1 << 20)] {
        let h = header(bytes / 4);
        let payload = vec![7u8; bytes];
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), &payload, |b, p| {
            b.iter(|| black_box(&h).encode(black_box(p)));
        });
        let frame = h.encode(&payload);
        g.bench_with_input(BenchmarkId::new("decode", name), &frame, |b, f| {
            b.iter(|| Header::decode(black_box(f)).expect("a valid frame"));
        });
    }
    g.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
