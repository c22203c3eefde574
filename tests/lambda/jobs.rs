//! Jobs that succeed: allreduce across four functions over tcp, memcached and SQS, and
//! training across two.

use std::time::Duration;

use crate::emulator::Emulator;
use crate::launch;
use crate::support::{memcached_server, moto_server, rendezvous, run};

const LIMIT: Duration = Duration::from_secs(90);

/// The allreduce every job runs: int32 sums, which the harness in every rank checks
/// exactly against the closed form of its inputs (a wrong element fails that rank).
const ALLREDUCE: [&str; 12] = [
    "bench",
    "allreduce",
    "--sizes",
    "8:4K",
    "--dtype",
    "i32",
    "--iters",
    "2",
    "--warmup",
    "1",
    "--json",
    "-",
];

/// The JSON records of `stdout`, every line of which must be rank 0's (`[0] ` first).
fn rank0_records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| {
            let json = l
                .strip_prefix("[0] ")
                .unwrap_or_else(|| panic!("not rank 0's: {l}"));
            serde_json::from_str(json).expect("a JSON record")
        })
        .collect()
}

/// Runs [`ALLREDUCE`] on four functions over `transport` and checks every report.
fn allreduce_on_four_functions(emulator: &Emulator, transport: &str, name: &str) {
    let done = run(
        &mut launch(&emulator.endpoint(), 4, transport, &[], &ALLREDUCE),
        LIMIT,
    );
    assert!(
        done.status.success(),
        "{done:?}\nemulator:\n{}",
        emulator.log()
    );
    // Rank 0 reports for all; the others print nothing.
    let records = rank0_records(&done.stdout);
    let sizes: Vec<u64> = records
        .iter()
        .map(|r| r["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
        "{done:?}"
    );
    for r in &records {
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["ranks"], 4, "{r}");
        assert_eq!(r["transport"], name, "{r}");
        assert_eq!(r["dtype"], "i32", "{r}");
        assert_eq!(
            r["count"].as_u64().unwrap() * 4,
            r["bytes"].as_u64().unwrap()
        );
    }
    for rank in 0..4 {
        assert!(
            done.stderr.contains(&format!("rank {rank} succeeded")),
            "{done:?}"
        );
    }
    assert!(done.stderr.contains("4 ranks: 4 succeeded"), "{done:?}");
    // Each rank ran in a process of its own, as in Lambda.
    let mut instances = emulator.instances();
    instances.sort_unstable();
    instances.dedup();
    assert_eq!(instances.len(), 4, "{instances:?}");
}

#[test]
fn allreduce_across_four_functions_over_tcp() {
    let Some(emulator) = Emulator::start(4, &[]) else {
        return;
    };
    let (_server, addr) = rendezvous();
    allreduce_on_four_functions(&emulator, &format!("tcp://{addr}"), "tcp");
}

#[test]
fn allreduce_across_four_functions_over_memcached() {
    let Some(emulator) = Emulator::start(4, &[]) else {
        return;
    };
    let Some((_memcached, addr)) = memcached_server() else {
        return;
    };
    allreduce_on_four_functions(&emulator, &format!("memcached://{addr}"), "memcached");
}

/// `fccl train` as a built-in job: two functions train synchronously over tcp, and rank 0
/// returns the JSON lines, the last one final.
#[test]
fn training_across_two_functions_over_tcp() {
    let Some(emulator) = Emulator::start(2, &[]) else {
        return;
    };
    let (_server, addr) = rendezvous();
    let train = [
        "train",
        "--model",
        "lr",
        "--data",
        "synthetic:criteo?rows=2000&bits=10",
        "--epochs",
        "2",
        "--batch",
        "100",
        "--optimizer",
        "adam:lr=0.05",
        "--json",
        "-",
    ];
    let transport = format!("tcp://{addr}");
    let done = run(
        &mut launch(&emulator.endpoint(), 2, &transport, &[], &train),
        LIMIT,
    );
    assert!(
        done.status.success(),
        "{done:?}\nemulator:\n{}",
        emulator.log()
    );
    let records = rank0_records(&done.stdout);
    assert_eq!(records.len(), 2, "{done:?}");
    let last = &records[1];
    assert_eq!(
        (&last["final"], &last["finished"]),
        (&true.into(), &true.into())
    );
    assert_eq!(
        (&last["ranks"], &last["updates"]),
        (&2.into(), &32.into()),
        "{last}"
    );
    assert!(last["accuracy"].as_f64().unwrap() > 0.5, "{last}");
    assert!(done.stderr.contains("2 ranks: 2 succeeded"), "{done:?}");
}

/// Over SQS queues (moto's look-alike): the functions' keys come from their environment,
/// as a function's role's do on AWS.
#[test]
fn allreduce_across_four_functions_over_sqs() {
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let Some(emulator) = Emulator::start(4, &keys) else {
        return;
    };
    let Some((_moto, addr)) = moto_server() else {
        return;
    };
    let transport = format!("sqs://us-east-1/lambda?endpoint=http://{addr}");
    allreduce_on_four_functions(&emulator, &transport, "sqs");
}

/// The example function, built now (`cargo build --example NAME`, at once if it is up to
/// date) next to this test's program: nextest does not build examples.
fn example(name: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().expect("this test's path");
    let debug = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/PROFILE/deps");
    let path = debug.join("examples").join(name);
    // scripts/test.sh builds the examples before the tests, with the features of the test
    // build; a build of this package alone has other features and would take minutes.
    if newer_than_sources(&path, name) {
        return path;
    }
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let built = run(&mut build, Duration::from_secs(300));
    assert!(built.status.success(), "{built:?}");
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// Whether the example program `path` exists and is newer than its source and the
/// library's (`examples/NAME.rs`, `src/`).
fn newer_than_sources(path: &std::path::Path, name: &str) -> bool {
    fn newest(path: &std::path::Path, found: &mut Option<std::time::SystemTime>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                newest(&entry.path(), found);
            }
        } else if let Ok(t) = meta.modified() {
            *found = (*found).max(Some(t));
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = None;
    newest(&root.join("src"), &mut sources);
    newest(
        &root.join("examples").join(format!("{name}.rs")),
        &mut sources,
    );
    let built = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    matches!((built, sources), (Some(b), Some(s)) if s < b)
}

#[test]
fn a_function_of_your_own_allreduces_to_the_closed_form() {
    let Some(emulator) = Emulator::serving(&example("lambda_allreduce"), 4, &[]) else {
        return;
    };
    let (_server, addr) = rendezvous();
    let transport = format!("tcp://{addr}");
    let done = run(
        &mut launch(&emulator.endpoint(), 4, &transport, &[], &["sum"]),
        LIMIT,
    );
    assert!(
        done.status.success(),
        "{done:?}\nemulator:\n{}",
        emulator.log()
    );
    // sum over r of (r + 1) * 999 = 999 * 4 * 5 / 2 on every rank.
    for rank in 0..4 {
        let line =
            format!("[{rank}] allreduce of 1000 elements over 4 ranks: x[999] = 9990 = 999 * 10");
        assert!(done.stdout.lines().any(|l| l == line), "{line}: {done:?}");
    }
    assert!(done.stderr.contains("4 ranks: 4 succeeded"), "{done:?}");
}
