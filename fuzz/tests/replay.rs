//! Runs every input of the committed fuzz corpus (`fuzz/corpus/TARGET/`) through its
//! target's check, so what the fuzzer once found interesting keeps being decoded without a
//! panic and round-trips, on stable Rust and without libFuzzer.

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_check() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for &(target, check) in fccl_fuzz::TARGETS {
        let dir = corpus.join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus of {target} ({}): {e}", dir.display()));
        let mut inputs = 0;
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).expect("a corpus input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            inputs += 1;
        }
        // A corpus that went missing would otherwise pass in silence.
        assert!(inputs >= 3, "{target}: only {inputs} inputs in its corpus");
        eprintln!("{target}: {inputs} inputs replayed");
    }
}
