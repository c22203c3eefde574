//! Measures the text encodings an SQS message body could carry records in: how many payload
//! bytes a body of the default 256 KiB limit holds, and how fast each encodes and decodes.
//! Standard base64 (what the transport uses) against Z85 (ZeroMQ's base-85, 4 bytes in 5
//! printable characters), on one core.
//!
//! ```sh
//! cargo run --release -p fccl-transports --example sqs_encoding
//! ```

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const BODY: usize = 256 << 10;
const ROUNDS: usize = 200;

/// Median MB/s of `f` over the record `bytes` long, `ROUNDS` times.
fn rate(bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    bytes as f64 / times[ROUNDS / 2] / 1e6
}

fn main() {
    // A record as large as base64 fits in a body, of bytes as varied as f32 gradients.
    let raw: Vec<u8> = (0..BODY / 4 * 3)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = STANDARD.encode(&raw);
    let z = z85::encode(&raw);
    assert_eq!(STANDARD.decode(&b64).unwrap(), raw);
    assert_eq!(z85::decode(&z).unwrap(), raw);
    println!("encoding  payload per 256 KiB body  density  encode MB/s  decode MB/s");
    let rows = [
        (
            "base64",
            b64.len(),
            rate(raw.len(), || {
                drop(std::hint::black_box(STANDARD.encode(&raw)))
            }),
            rate(raw.len(), || {
                drop(std::hint::black_box(STANDARD.decode(&b64).unwrap()))
            }),
        ),
        (
            "z85",
            z.len(),
            rate(raw.len(), || drop(std::hint::black_box(z85::encode(&raw)))),
            rate(raw.len(), || {
                drop(std::hint::black_box(z85::decode(&z).unwrap()))
            }),
        ),
    ];
    for (name, text, encode, decode) in rows {
        let density = raw.len() as f64 / text as f64;
        println!(
            "{name:<8}  {:>22}  {density:>7.3}  {encode:>11.0}  {decode:>11.0}",
            (BODY as f64 * density) as usize
        );
    }
}
