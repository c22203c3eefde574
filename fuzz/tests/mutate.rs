//! A bounded fuzz run on stable Rust, part of every test run: each target's check on
//! mutations of its committed corpus (bits flipped, bytes set, cut, inserted, spliced from
//! another input), from a fixed seed so that a failure repeats. It finds less than
//! libFuzzer (no coverage guidance) but runs everywhere; `FCCL_FUZZ_MUTATIONS` raises the
//! number of mutations per target for a longer run (default 20 000), `FCCL_FUZZ_SEED`
//! picks another seed.

use std::path::Path;

const DEFAULT_MUTATIONS: u64 = 20_000;

#[test]
fn every_target_survives_mutations_of_its_corpus() {
    let mutations = env_u64("FCCL_FUZZ_MUTATIONS").unwrap_or(DEFAULT_MUTATIONS);
    let seed = env_u64("FCCL_FUZZ_SEED").unwrap_or(0x5eed_f00d);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for &(target, check) in fccl_fuzz::TARGETS {
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(corpus.join(target))
            .unwrap_or_else(|e| panic!("the corpus of {target}: {e}"))
            .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("an input"))
            .collect();
        // Directory order varies between file systems; the seed must mean the same run.
        inputs.sort();
        assert!(!inputs.is_empty(), "{target} has no corpus");
        let mut rng = (seed ^ fnv(target.as_bytes())) | 1;
        for _ in 0..mutations {
            let data = mutate(&inputs, &mut rng);
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target} fails on {} bytes: {}",
                data.len(),
                hex(&data)
            );
        }
        eprintln!("{target}: {mutations} mutations checked");
    }
}

/// A mutation of a random corpus input: one to four edits.
fn mutate(inputs: &[Vec<u8>], rng: &mut u64) -> Vec<u8> {
    let mut data = inputs[below(rng, inputs.len())].clone();
    for _ in 0..=below(rng, 4) {
        let at = below(rng, data.len() + 1);
        match below(rng, 6) {
            0 if at < data.len() => data[at] ^= 1 << below(rng, 8),
            1 if at < data.len() => data[at] = [0, 1, 0x7f, 0x80, 0xff][below(rng, 5)],
            2 => data.truncate(at),
            3 => data.insert(at, next(rng) as u8),
            4 if data.len() >= at + 4 => {
                // A length or count field set to an extreme.
                let value = [0u32, 1, 255, 65535, u32::MAX][below(rng, 5)];
                data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            _ => {
                let other = &inputs[below(rng, inputs.len())];
                let from = below(rng, other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn next(state: &mut u64) -> u64 {
    // xorshift64*; never zero from a non-zero seed.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn below(rng: &mut u64, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (next(rng) % n as u64) as usize
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a whole number")),
    )
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
