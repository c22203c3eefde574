//! Encoding and decoding a frame header with its payload.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fccl_collectives::frame::Header;
use fccl_collectives::{Collective, CommId, DataType, Tag};

fn header(count: u64) -> Header {
    Header {
        collective: Collective::AllReduce,
        dtype: DataType::Float32,
        op: 0,
        tag: Tag {
            comm: CommId::WORLD,
            p2p: false,
            seq: 42,
            step: 3,
            chunk: 1,
        },
        chunks: 4,
        root: 0,
        count,
    }
}

fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    for (name, len) in [("1 KiB", 1usize << 10), ("1 MiB", 1 << 20)] {
        let payload = vec![7u8; len];
        let h = header(len as u64 / 4);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("encode {name}"), |b| {
            b.iter(|| black_box(&h).encode(black_box(&payload)));
        });
        let encoded = h.encode(&payload);
        g.bench_function(format!("decode {name}"), |b| {
            b.iter(|| Header::decode(black_box(&encoded)).expect("a valid frame"));
        });
    }
    g.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
