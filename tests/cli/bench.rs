//! `fccl bench` over tcp: ranks as processes of `fccl` itself, and ranks of a job started
//! elsewhere.

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::{
    Running, TempDir, fccl, memcached_server, moto_server, redis_server, rendezvous, run, sqs_call,
    sqs_queue_urls, wait,
};

const LIMIT: Duration = Duration::from_secs(120);

/// The JSON records in `text`, one per line.
fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

fn all_correct(records: &[serde_json::Value], ranks: u64) {
    assert!(!records.is_empty());
    for r in records {
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["transport"], "tcp", "{r}");
        assert_eq!(r["ranks"], ranks, "{r}");
    }
}

#[test]
fn bench_over_tcp_prints_one_table_as_a_single_process_would() {
    let done = run(
        fccl().args([
            "bench",
            "allreduce",
            "-n",
            "3",
            "--sizes",
            "8:4K",
            "--iters",
            "2",
            "--warmup",
            "1",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert!(
        lines[0].starts_with("# fccl bench allreduce: transport tcp, 3 ranks"),
        "{done:?}"
    );
    let rows: Vec<&&str> = lines.iter().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 10, "{done:?}");
    // The correct column, then what the ranks sent (no requests: no server over tcp).
    assert!(rows.iter().all(|r| r.contains("  yes ")), "{done:?}");
    assert!(
        rows.iter().all(|r| r.ends_with(" 0.0       0.0")),
        "{done:?}"
    );
    assert!(!done.stdout.contains("[0]"), "{done:?}");
}

#[test]
fn bench_over_tcp_writes_json_from_rank_0() {
    let out = TempDir::new("bench-json");
    let path = out.path().join("bench.json");
    let done = run(
        fccl().args([
            "bench",
            "alltoall",
            "-n",
            "4",
            "--transport",
            "tcp?mesh=full",
            "--sizes",
            "64,1K,64K",
            "--iters",
            "2",
            "--warmup",
            "1",
            "--json",
            path.to_str().expect("a UTF-8 path"),
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&std::fs::read_to_string(&path).expect("the JSON file"));
    assert_eq!(records.len(), 3);
    all_correct(&records, 4);
}

#[test]
fn bench_over_tcp_json_to_stdout_is_bare() {
    let done = run(
        fccl().args([
            "bench",
            "broadcast",
            "-n",
            "2",
            "--sizes",
            "1K",
            "--iters",
            "2",
            "--json",
            "-",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&done.stdout);
    assert_eq!(records.len(), 1, "{done:?}");
    all_correct(&records, 2);
}

/// Over tcp each record carries the payload bytes the ranks sent per operation, as a ring
/// allreduce must move them, and no requests (no server between the ranks).
#[test]
fn bench_over_tcp_reports_the_bytes_each_operation_sent() {
    let done = run(
        fccl().args([
            "bench",
            "allreduce",
            "-n",
            "2",
            "--transport",
            "tcp",
            "--algo",
            "ring",
            "--sizes",
            "1M",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--json",
            "-",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&done.stdout);
    assert_eq!(records.len(), 1, "{done:?}");
    let r = &records[0];
    all_correct(&records, 2);
    assert_eq!(r["algorithm"], "ring", "{r}");
    // Each of 2 ranks sends the other its half (512 KiB) once to reduce and once to gather,
    // in pipeline messages of at most 64 KiB, each with a 48-byte frame header.
    let (p, half) = (2u64, 512u64 << 10);
    let expected = p * 2 * (p - 1) * (half + half.div_ceil(64 << 10) * 48);
    assert_eq!(expected, 2_098_688);
    assert_eq!(r["bytes_sent"].as_f64(), Some(expected as f64), "{r}");
    assert_eq!(r["requests"].as_f64(), Some(0.0), "{r}");
    assert_eq!(r["billed_requests"].as_f64(), Some(0.0), "{r}");
    // The table shows the same figure.
    assert!(done.stderr.contains(" 2098688 "), "{done:?}");
}

/// The points a sweep of allreduce over `-n 2,3 --dtype f32,i32 --op sum,max --sizes 8,1K`
/// runs, in order: (ranks, dtype, op, bytes).
fn sweep_points() -> Vec<(u64, String, String, u64)> {
    let mut points = Vec::new();
    for ranks in [2, 3] {
        for dtype in ["f32", "i32"] {
            for op in ["sum", "max"] {
                for bytes in [8, 1024] {
                    points.push((ranks, dtype.to_string(), op.to_string(), bytes));
                }
            }
        }
    }
    points
}

/// Runs that sweep over `transport` with `--json` and `--plot`; checks every record, the
/// table's blocks and the plot's lines.
fn sweep_over(transport: &str) {
    let out = TempDir::new("sweep");
    let json = out.path().join("sweep.jsonl");
    let svg = out.path().join("sweep.svg");
    let done = run(
        fccl()
            .args(["bench", "allreduce", "-n", "2,3", "--transport", transport])
            .args(["--dtype", "f32,i32", "--op", "sum,max", "--sizes", "8,1K"])
            .args(["--iters", "2", "--warmup", "1"])
            .arg("--json")
            .arg(&json)
            .arg("--plot")
            .arg(&svg),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&std::fs::read_to_string(&json).expect("the JSON file"));
    let got: Vec<(u64, String, String, u64)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["correct"], true, "{r}");
            assert_eq!(r["transport"], transport, "{r}");
            (
                r["ranks"].as_u64().unwrap(),
                r["dtype"].as_str().unwrap().to_string(),
                r["op"].as_str().unwrap().to_string(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, sweep_points(), "{done:?}");
    // A block per rank count, type and op, each headed by what it runs, set apart by `#`.
    let headers: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("# fccl bench"))
        .collect();
    let mut want = Vec::new();
    for ranks in [2, 3] {
        for combination in ["f32 sum", "f32 max", "i32 sum", "i32 max"] {
            want.push(format!(
                "# fccl bench allreduce: transport {transport}, {ranks} ranks, {combination},"
            ));
        }
    }
    assert_eq!(headers.len(), want.len(), "{done:?}");
    for (header, want) in headers.iter().zip(&want) {
        assert!(header.starts_with(want.as_str()), "{header}\n{done:?}");
    }
    let rows = done.stdout.lines().filter(|l| !l.starts_with('#'));
    let correct = |r: &&str| r.ends_with("  yes") || r.contains("  yes ");
    assert_eq!(rows.filter(correct).count(), 16, "{done:?}");
    // One bare `#` inside each header, and one between blocks.
    assert_eq!(
        done.stdout.lines().filter(|l| *l == "#").count(),
        2 * want.len() - 1,
        "{done:?}"
    );
    let svg = std::fs::read_to_string(&svg).expect("the plot");
    for label in [
        format!("allreduce {transport} 2 ranks f32 sum"),
        format!("allreduce {transport} 3 ranks i32 max"),
    ] {
        assert!(svg.contains(&label), "{label}");
    }
}

#[test]
fn a_sweep_over_tcp_runs_every_rank_count_type_and_op() {
    sweep_over("tcp");
}

#[test]
fn a_sweep_over_threads_runs_every_rank_count_type_and_op() {
    sweep_over("local");
}

/// Bad lists, and combinations that cannot run (a root beyond the smallest rank count),
/// are refused before anything runs, with exit code 2.
#[test]
fn bad_sweeps_are_refused_up_front() {
    for (args, says) in [
        (vec!["allreduce", "-n", "2,0"], "invalid value '0'"),
        (
            vec!["allreduce", "--dtype", "f32,x"],
            "unknown data type 'x'",
        ),
        (vec!["allreduce", "--op", "sum,"], "invalid value ''"),
        (
            vec!["allreduce", "-n", "2,3,2"],
            "rank count 2 is listed twice",
        ),
        (
            vec!["reduce", "-n", "4,2", "--root", "3"],
            "root 3 is out of range for 2 ranks",
        ),
    ] {
        for transport in ["tcp", "local"] {
            let done = run(
                fccl().arg("bench").args(&args).args([
                    "--transport",
                    transport,
                    "--sizes",
                    "8",
                    "--iters",
                    "1",
                ]),
                LIMIT,
            );
            assert_eq!(done.status.code(), Some(2), "{args:?}: {done:?}");
            assert!(done.stderr.contains(says), "{args:?}: {done:?}");
            assert_eq!(done.stdout, "", "{args:?}: {done:?}");
        }
    }
}

/// Starts rank `rank` of `job` running `fccl bench` with `args`.
fn bench_rank(job: &str, rank: usize, args: &[&str]) -> Running {
    let child: Child = fccl()
        .env("FCCL_JOB", job)
        .env("FCCL_RANK", rank.to_string())
        .arg("bench")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("fccl bench starts");
    Running(child)
}

#[test]
fn bench_as_ranks_of_a_job_started_elsewhere() {
    let (_server, addr) = rendezvous();
    let made = run(
        fccl().args([
            "job",
            "new",
            "--size",
            "3",
            "--transport",
            &format!("tcp://{addr}"),
        ]),
        LIMIT,
    );
    assert!(made.status.success(), "{made:?}");
    let job = made.stdout.trim().to_string();
    let out = TempDir::new("bench-ranks");
    let path = out.path().join("rank0.json");
    let path = path.to_str().expect("a UTF-8 path");
    let args = [
        "reduce_scatter",
        "--sizes",
        "96,6K",
        "--iters",
        "2",
        "--warmup",
        "1",
        "--json",
        path,
    ];
    let mut ranks: Vec<Running> = (0..3).map(|r| bench_rank(&job, r, &args)).collect();
    for (rank, child) in ranks.iter_mut().enumerate() {
        let status = wait(&mut child.0, LIMIT).expect("the rank ends in time");
        assert!(status.success(), "rank {rank}: {status:?}");
    }
    let records = records(&std::fs::read_to_string(path).expect("rank 0's JSON"));
    assert_eq!(records.len(), 2);
    all_correct(&records, 3);
}

#[test]
fn fccl_run_starts_bench_ranks() {
    let done = run(
        fccl().args([
            "run",
            "-n",
            "2",
            "--",
            env!("CARGO_BIN_EXE_fccl"),
            "bench",
            "barrier",
            "--iters",
            "2",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    assert!(
        done.stdout
            .starts_with("[0] # fccl bench barrier: transport tcp, 2 ranks"),
        "{done:?}"
    );
    assert!(
        done.stdout
            .lines()
            .any(|l| l.starts_with("[0]") && l.contains("  yes "))
    );
    assert!(!done.stdout.contains("[1]"), "{done:?}");
}

#[test]
fn a_rank_given_another_size_is_refused() {
    let job = fccl::JobSpec::new(2, "tcp://127.0.0.1:9")
        .expect("a job")
        .to_string();
    let done = run(
        fccl()
            .env("FCCL_JOB", &job)
            .env("FCCL_RANK", "0")
            .args(["bench", "allreduce", "-n", "3"]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(done.stderr.contains("-n 3 does not match"), "{done:?}");
    assert!(
        !done.stderr.contains(&job),
        "the job string leaked: {done:?}"
    );
    // A list of rank counts, even one holding the job's size, is not one rank count.
    let done = run(
        fccl().env("FCCL_JOB", &job).env("FCCL_RANK", "0").args([
            "bench",
            "allreduce",
            "-n",
            "2,3",
        ]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr.contains("-n 2,3 lists several rank counts"),
        "{done:?}"
    );
}

/// With two media (`tcp+redis://`), every size runs over the medium the cost model favours
/// (direct TCP, the quicker one at every size), the table says which as algorithm@medium,
/// and the JSON names it; the results are exact.
#[test]
fn bench_over_two_media_names_the_medium_of_each_size() {
    let Some((_redis, addr)) = redis_server() else {
        return;
    };
    let transport = format!("tcp+redis://{addr}");
    let done = run(
        fccl()
            .args(["bench", "allreduce", "-n", "3", "--transport", &transport])
            .args([
                "--sizes", "8,64K", "--iters", "2", "--warmup", "1", "--json", "-",
            ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&done.stdout);
    assert_eq!(records.len(), 2, "{done:?}");
    for r in &records {
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["transport"], "tcp+redis", "{r}");
        assert_eq!(r["medium"], "tcp", "{r}");
    }
    let table = run(
        fccl()
            .args(["bench", "barrier", "-n", "2", "--transport", &transport])
            .args(["--iters", "2", "--warmup", "1", "--hint", "cheap"]),
        LIMIT,
    );
    assert!(table.status.success(), "{table:?}");
    assert!(table.stdout.contains("algorithm@medium"), "{table:?}");
    assert!(table.stdout.contains("@tcp "), "{table:?}");
}

/// With every pair relayed (`relay=always`) through a Redis fallback, the report lists the
/// relayed pairs; over plain tcp it lists none.
#[test]
fn bench_shows_which_pairs_are_relayed() {
    let Some((_redis, addr)) = redis_server() else {
        return;
    };
    let transport = format!("tcp?relay=always&fallback=redis://{addr}");
    let args = ["--sizes", "1K", "--iters", "2", "--warmup", "1"];
    let done = run(
        fccl()
            .args(["bench", "allreduce", "-n", "3", "--transport", &transport])
            .args(args),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let line = done
        .stdout
        .lines()
        .find(|l| l.starts_with("# relayed pairs"))
        .unwrap_or_else(|| panic!("no relayed pairs line: {done:?}"));
    assert!(line.ends_with(": 0-1 0-2 1-2"), "{line}");
    let direct = run(
        fccl().args(["bench", "allreduce", "-n", "3"]).args(args),
        LIMIT,
    );
    assert!(direct.status.success(), "{direct:?}");
    assert!(!direct.stdout.contains("relayed"), "{direct:?}");
}

/// A store-only job needs no rendezvous server: `fccl bench --transport redis://` (or
/// `memcached://`) starts its ranks as processes that meet through the store alone, and
/// the results are exact.
#[test]
fn bench_over_a_store_alone_needs_no_rendezvous() {
    let (Some((_redis, redis)), Some((_memcached, memcached))) =
        (redis_server(), memcached_server())
    else {
        return;
    };
    for (medium, addr) in [("redis", redis), ("memcached", memcached)] {
        let transport = format!("{medium}://{addr}");
        let done = run(
            fccl()
                .args(["bench", "alltoall", "-n", "3", "--transport", &transport])
                .args([
                    "--sizes", "3K", "--iters", "2", "--warmup", "1", "--json", "-",
                ]),
            LIMIT,
        );
        assert!(done.status.success(), "{done:?}");
        let records = records(&done.stdout);
        assert_eq!(records.len(), 1, "{done:?}");
        assert_eq!(records[0]["correct"], true, "{done:?}");
        assert_eq!(records[0]["medium"], medium, "{done:?}");
    }
}

/// With two media, a call that only the store can run (a store-native algorithm, forced)
/// runs over the store, and the report says so.
#[test]
fn a_store_native_algorithm_runs_over_the_store_medium_of_two() {
    let Some((_memcached, addr)) = memcached_server() else {
        return;
    };
    let transport = format!("tcp+memcached://{addr}");
    let done = run(
        fccl()
            .args(["bench", "broadcast", "-n", "3", "--transport", &transport])
            .args(["--sizes", "8,2M", "--iters", "2", "--warmup", "1"])
            .args(["--algo", "shared_put", "--json", "-"]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&done.stdout);
    assert_eq!(records.len(), 2, "{done:?}");
    for r in &records {
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["algorithm"], "shared_put", "{r}");
        assert_eq!(r["medium"], "memcached", "{r}");
    }
}

/// A tcp job relays its pairs through a memcached fallback as it does through Redis.
#[test]
fn tcp_pairs_relay_through_a_memcached_fallback() {
    let Some((_memcached, addr)) = memcached_server() else {
        return;
    };
    let transport = format!("tcp?relay=always&fallback=memcached://{addr}");
    let done = run(
        fccl()
            .args(["bench", "allreduce", "-n", "2", "--transport", &transport])
            .args(["--sizes", "1K,1M", "--iters", "2", "--warmup", "1"]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    assert!(
        done.stdout
            .contains("# relayed pairs (through the fallback medium, not direct): 0-1"),
        "{done:?}"
    );
    assert!(!done.stdout.contains(" NO"), "{done:?}");
}

/// A job through SQS queues (moto), with keys from the standard AWS chain (here the
/// environment): each point reports its requests per operation, never fewer than the least
/// its messages need, their billing and their cost; no queue is left after the job.
#[test]
fn bench_over_sqs_reports_requests_per_operation() {
    let Some((_moto, addr)) = moto_server() else {
        return;
    };
    // A queue of someone else's, which the job must leave alone.
    let other = sqs_call(&addr, "CreateQueue", r#"{"QueueName":"other"}"#)["QueueUrl"].clone();
    assert_eq!(sqs_queue_urls(&addr), [other.as_str().unwrap()]);
    let transport = format!("sqs://us-east-1/cli?endpoint=http://{addr}");
    let done = run(
        fccl()
            .args(["bench", "alltoall", "-n", "3", "--transport", &transport])
            .args([
                "--sizes", "3K,384K", "--iters", "2", "--warmup", "1", "--json", "-",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true"),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let records = records(&done.stdout);
    assert_eq!(records.len(), 2, "{done:?}");
    for r in &records {
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["transport"], "sqs", "{r}");
        let number = |field: &str| r[field].as_f64().unwrap_or_else(|| panic!("{field}: {r}"));
        let (made, billed, least) = (
            number("requests"),
            number("billed_requests"),
            number("least_requests"),
        );
        // Each rank sends its two peers two thirds of its buffer, in at least one batch each.
        assert!(least >= 6.0, "{r}");
        assert!(made >= least && billed >= made, "{r}");
        let bytes = r["bytes"].as_f64().unwrap();
        assert!(number("bytes_sent") >= 2.0 * bytes, "{r}");
        let usd = number("usd_requests");
        assert!((usd - billed * 0.40e-6).abs() < 1e-12, "{r}");
    }
    // Blocks of 128 KiB, in one 256 KiB body each, are billed as three 64 KiB requests.
    assert!(records[1]["billed_requests"].as_f64() > records[1]["requests"].as_f64());
    assert_eq!(sqs_queue_urls(&addr), [other.as_str().unwrap()]);
}

/// `--cost aws` prices each point: the ranks' function time and the rendezvous host's
/// hour for tcp, at the built-in list or at the prices of an edited copy (`--prices`).
#[test]
fn bench_estimates_the_cost_of_each_operation() {
    let dir = TempDir::new("cost");
    let prices = dir.path().join("prices.json");
    let built_in = include_str!("../../benches/prices/aws.json");
    // A dollar per GB-second of 1 GB functions, and $3,600 an hour for the rendezvous host:
    // an operation of t seconds on 2 ranks costs 2t for the functions and t for the host.
    let edited = built_in
        .replace(
            "\"usd_per_gb_second\": 0.0000166667",
            "\"usd_per_gb_second\": 1.0",
        )
        .replace("\"memory_gb\": 2.0", "\"memory_gb\": 1.0")
        .replace("\"usd_per_hour\": 0.0104", "\"usd_per_hour\": 3600.0");
    assert_ne!(edited, built_in);
    std::fs::write(&prices, edited).unwrap();
    for options in [
        vec!["--cost", "aws"],
        vec!["--cost", "aws", "--prices", prices.to_str().unwrap()],
    ] {
        let done = run(
            fccl()
                .args(["bench", "allreduce", "-n", "2", "--sizes", "1K,64K"])
                .args(["--iters", "3", "--warmup", "1", "--json", "-"])
                .args(&options),
            LIMIT,
        );
        assert!(done.status.success(), "{done:?}");
        let records = records(&done.stdout);
        assert_eq!(records.len(), 2, "{done:?}");
        for r in records {
            let number = |f: &str| r[f].as_f64().unwrap_or_else(|| panic!("{f}: {r}"));
            let seconds = number("time_us") / 1e6;
            let (lambda, queue, instance) = (
                number("usd_lambda"),
                number("usd_queue"),
                number("usd_instance"),
            );
            assert_eq!(queue, 0.0, "{r}");
            assert!(
                (number("usd_per_op") - (lambda + queue + instance)).abs() < 1e-12,
                "{r}"
            );
            if options.len() == 4 {
                assert!((lambda - 2.0 * seconds).abs() < 1e-9, "{r}");
                assert!((instance - seconds).abs() < 1e-9, "{r}");
            } else {
                assert!(
                    (lambda - 2.0 * seconds * 2.0 * 0.000_016_666_7).abs() < 1e-15,
                    "{r}"
                );
                assert!((instance - seconds * 0.0104 / 3600.0).abs() < 1e-15, "{r}");
            }
        }
    }
    std::fs::write(&prices, "{\"provider\": \"aws\"}").unwrap();
    let done = run(
        fccl()
            .args([
                "bench",
                "allreduce",
                "-n",
                "2",
                "--sizes",
                "1K",
                "--cost",
                "aws",
            ])
            .args(["--prices", prices.to_str().unwrap()]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(done.stderr.contains("not a price list"), "{done:?}");
}

/// `--plot` draws the run (SVG or PNG, one line per collective, transport and rank count)
/// and `fccl plot` draws several runs' JSON in one picture; other formats and files that
/// are not records are refused.
#[test]
fn runs_are_plotted_alone_and_together() {
    let dir = TempDir::new("plot");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    for (ranks, json) in [("2", path("two.jsonl")), ("3", path("three.jsonl"))] {
        let done = run(
            fccl()
                .args(["bench", "allgather", "-n", ranks, "--transport", "local"])
                .args(["--sizes", "8:4K", "--iters", "2", "--warmup", "0"])
                .args(["--json", &json, "--plot", &path(&format!("{ranks}.svg"))]),
            LIMIT,
        );
        assert!(done.status.success(), "{done:?}");
        let svg = std::fs::read_to_string(path(&format!("{ranks}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains(&format!("allgather local {ranks} ranks")),
            "{svg}"
        );
    }
    let done = run(
        fccl().args([
            "plot",
            &path("two.jsonl"),
            &path("three.jsonl"),
            "-o",
            &path("both.svg"),
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let svg = std::fs::read_to_string(path("both.svg")).unwrap();
    for label in [
        "allgather local 2 ranks",
        "allgather local 3 ranks",
        "bus bandwidth",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    // Every point of some bytes is a circle on the time panel, and on the bandwidth panel
    // where its bandwidth is above zero (a log axis has neither zero).
    let points: Vec<serde_json::Value> = ["two.jsonl", "three.jsonl"]
        .iter()
        .flat_map(|f| records(&std::fs::read_to_string(path(f)).unwrap()))
        .filter(|r| r["bytes"].as_u64() > Some(0))
        .collect();
    let with_bandwidth = points
        .iter()
        .filter(|r| r["busbw_gbps"].as_f64().is_some_and(|b| b > 0.0))
        .count();
    assert!(points.len() >= 18, "{points:?}");
    assert_eq!(
        svg.matches("<circle").count(),
        points.len() + with_bandwidth
    );
    let done = run(
        fccl().args([
            "plot",
            &path("two.jsonl"),
            &path("three.jsonl"),
            "-o",
            &path("both.png"),
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let png = std::fs::read(path("both.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &png[..8]);
    std::fs::write(path("bad.jsonl"), "{\"collective\": 1}\n").unwrap();
    for (args, says) in [
        (
            vec![path("two.jsonl"), "-o".into(), path("x.gif")],
            "FILE.svg or FILE.png",
        ),
        (
            vec![path("bad.jsonl"), "-o".into(), path("x.svg")],
            "line 1: not a record",
        ),
        (
            vec![path("none.jsonl"), "-o".into(), path("x.svg")],
            "cannot read",
        ),
    ] {
        let done = run(fccl().arg("plot").args(&args), LIMIT);
        assert_eq!(done.status.code(), Some(2), "{done:?}");
        assert!(done.stderr.contains(says), "{says}: {done:?}");
    }
}

/// The comparison with Open MPI (`benches/compare/compare_mpi.sh`) where Open MPI is not
/// installed: it says what to install and stops before building or running anything. A
/// collective it does not compare is refused before that.
#[test]
fn the_comparison_script_without_open_mpi_says_how_to_install_it() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/compare/compare_mpi.sh");
    // A PATH with only what the script needs before its check: no mpicc, mpirun or cargo.
    let bin = TempDir::new("no-mpi");
    let dirname = which("dirname").expect("dirname is installed");
    std::os::unix::fs::symlink(dirname, bin.path().join("dirname")).expect("a link");
    let script_with = |args: &[&str]| {
        let mut command = std::process::Command::new("/bin/bash");
        command.arg(&script).args(args).env("PATH", bin.path());
        run(&mut command, LIMIT)
    };
    let missing = script_with(&["--ranks", "2", "--sizes", "8"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("mpicc mpirun not found")
            && missing
                .stderr
                .contains("apt-get install openmpi-bin libopenmpi-dev"),
        "{missing:?}"
    );
    assert!(missing.stdout.is_empty(), "{missing:?}");
    let refused = script_with(&["--collectives", "allreduce,scan"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("collective 'scan' is not compared"),
        "{refused:?}"
    );
}

/// The full path of `tool` on this machine's PATH.
fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    })
}
