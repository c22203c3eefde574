//! `fccl bench`: runs the harness of `fccl-benches` on N local ranks and prints a table.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use fccl_benches::{BenchRecord, BenchSpec, Point, run_bench};
use fccl_collectives::{Algorithm, Collective, DataType, ReduceOp, local};

use super::sizes::parse_sizes;

/// The arguments of `fccl bench`.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// The collective: allreduce, reduce, broadcast, reduce_scatter, allgather, alltoall,
    /// alltoallv, gather, scatter, scan, exscan, barrier or sendrecv.
    pub(crate) collective: String,
    /// Number of ranks.
    #[arg(short = 'n', long = "ranks", default_value_t = 4)]
    pub(crate) n: usize,
    /// The transport (this build has: local).
    #[arg(long, default_value = "local")]
    pub(crate) transport: String,
    /// Sizes in bytes: MIN:MAX (doubling), a list 8,1K,1M, or one size [default: 8:16M].
    #[arg(long)]
    pub(crate) sizes: Option<String>,
    /// Element type (i8 u8 i32 u32 i64 u64 f16 f32 f64 bf16).
    #[arg(long, default_value = "f32")]
    pub(crate) dtype: String,
    /// Reduction (sum, prod, max, min, avg).
    #[arg(long, default_value = "sum")]
    pub(crate) op: String,
    /// Timed iterations per size [default: 20, fewer above 1 MiB].
    #[arg(long)]
    pub(crate) iters: Option<usize>,
    /// Warm-up iterations per size [default: 5, 1 above 1 MiB].
    #[arg(long)]
    pub(crate) warmup: Option<usize>,
    /// Force an algorithm (ring, recursive_doubling, ...).
    #[arg(long)]
    pub(crate) algo: Option<String>,
    /// Write one JSON object per size to FILE (`-` for stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<String>,
    /// Per-operation timeout in milliseconds.
    #[arg(long, value_name = "T")]
    pub(crate) timeout_ms: Option<u64>,
}

/// Turns the arguments into a harness spec (checking every name).
pub(crate) fn spec(args: &BenchArgs) -> Result<BenchSpec, String> {
    let collective: Collective = args.collective.parse().map_err(|e| format!("{e}"))?;
    if collective == Collective::Split {
        return Err("split is not a benchmarkable collective".into());
    }
    if args.n == 0 {
        return Err("-n must be at least 1".into());
    }
    let dtype: DataType = args.dtype.parse().map_err(|e| format!("{e}"))?;
    let op: ReduceOp = args.op.parse().map_err(|e| format!("{e}"))?;
    let algorithm = match &args.algo {
        Some(a) => Some(a.parse::<Algorithm>().map_err(|e| format!("{e}"))?),
        None => None,
    };
    let requested = parse_sizes(args.sizes.as_deref().unwrap_or("8:16M"))?;
    // Drop sizes that round to no elements or to the same count as an earlier one.
    let mut sizes: Vec<usize> = Vec::new();
    let mut counts = Vec::new();
    for size in requested {
        let point = Point::new(collective, dtype, args.n, size);
        if (point.count > 0 || collective == Collective::Barrier) && !counts.contains(&point.count)
        {
            counts.push(point.count);
            sizes.push(size);
        }
    }
    if sizes.is_empty() {
        return Err(format!(
            "every size is smaller than one element per rank ({} bytes x {} ranks)",
            dtype.size(),
            args.n
        ));
    }
    Ok(BenchSpec {
        dtype,
        op,
        iters: args.iters,
        warmup: args.warmup,
        algorithm,
        transport: args.transport.clone(),
        ..BenchSpec::new(collective, sizes)
    })
}

/// Runs `fccl bench` and writes the table (or JSON lines) to `out`; `Ok(false)` when a
/// result was wrong.
pub(crate) fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<bool, String> {
    if std::env::var_os("FCCL_RANK").is_some() {
        return Err(
            "FCCL_RANK is set, but joining a multi-process job needs the tcp \
                    transport, which this build does not have yet; unset FCCL_RANK to run \
                    local ranks"
                .into(),
        );
    }
    if args.transport != "local" {
        return Err(format!(
            "transport '{}' is not available yet; this build has: local",
            args.transport
        ));
    }
    let spec = spec(args)?;
    let points = if spec.collective == Collective::Barrier {
        1
    } else {
        spec.sizes.len()
    };
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(points as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let results = local::run(args.n, |mut comm| {
        let (spec, progress) = (&spec, &progress);
        async move {
            if let Some(t) = timeout {
                comm.set_timeout(t);
            }
            let rank0 = comm.rank() == 0;
            let mut tick = |r: &BenchRecord| {
                if rank0 {
                    progress.set_message(format!("{} B", r.bytes));
                    progress.inc(1);
                }
            };
            run_bench(&mut comm, spec, &mut tick).await
        }
    });
    progress.finish_and_clear();
    let mut records = None;
    for (rank, r) in results.into_iter().enumerate() {
        match r {
            Ok(rs) => {
                records.get_or_insert(rs);
            }
            Err(e) => return Err(format!("rank {rank}: {e}")),
        }
    }
    let records = records.unwrap_or_default();
    let io = |e: std::io::Error| format!("writing the output: {e}");
    match args.json.as_deref() {
        Some("-") => write_json(&records, out).map_err(io)?,
        Some(path) => {
            print_table(&spec, args.n, &records, out).map_err(io)?;
            let mut f = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
            write_json(&records, &mut f).map_err(|e| format!("{path}: {e}"))?;
        }
        None => print_table(&spec, args.n, &records, out).map_err(io)?,
    }
    let wrong: Vec<&BenchRecord> = records.iter().filter(|r| !r.correct).collect();
    for r in &wrong {
        eprintln!(
            "error: {} {} {} {} B: wrong result (first wrong element {})",
            r.collective,
            r.dtype,
            r.op,
            r.bytes,
            r.first_error.map_or("?".to_string(), |i| i.to_string())
        );
    }
    Ok(wrong.is_empty())
}

/// One JSON object per record per line.
fn write_json(records: &[BenchRecord], out: &mut dyn Write) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
    }
    Ok(())
}

/// The nccl-tests-style table: a header line, column names, one row per size.
fn print_table(
    spec: &BenchSpec,
    n: usize,
    records: &[BenchRecord],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let op = if fccl_benches::spec::reduces(spec.collective) {
        spec.op.name()
    } else {
        "none"
    };
    writeln!(
        out,
        "# fccl bench: {} | transport {} | {n} ranks | {} | {op}",
        spec.collective, spec.transport, spec.dtype
    )?;
    writeln!(
        out,
        "#{:>11} {:>11} {:>5} {:>5} {:>22} {:>10} {:>10} {:>10} {:>11} {:>11} {:>7}",
        "size(B)",
        "count",
        "type",
        "op",
        "algorithm",
        "time(us)",
        "min(us)",
        "max(us)",
        "algbw(GB/s)",
        "busbw(GB/s)",
        "correct"
    )?;
    for r in records {
        writeln!(
            out,
            "{:>12} {:>11} {:>5} {:>5} {:>22} {:>10.1} {:>10.1} {:>10.1} {:>11.3} {:>11.3} {:>7}",
            r.bytes,
            r.count,
            r.dtype,
            r.op,
            r.algorithm,
            r.time_us,
            r.time_us_min,
            r.time_us_max,
            r.algbw_gbps,
            r.busbw_gbps,
            if r.correct { "ok" } else { "WRONG" }
        )?;
    }
    if let Some(peak) = records.iter().map(|r| r.peak_rss_mb).reduce(f64::max) {
        writeln!(out, "# peak RSS {peak:.1} MiB")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(argv: &[&str]) -> BenchArgs {
        let cli = super::super::Cli::try_parse_from(argv).expect("arguments parse");
        match cli.command {
            super::super::Command::Bench(a) => a,
        }
    }

    #[test]
    fn arguments_become_a_spec() {
        let a = parse(&[
            "fccl",
            "bench",
            "allgather",
            "-n",
            "3",
            "--sizes",
            "8,100,1K",
        ]);
        assert_eq!(a.n, 3);
        let s = spec(&a).unwrap();
        assert_eq!(s.collective, Collective::AllGather);
        assert_eq!(s.dtype, DataType::Float32);
        // 8 B is 2 floats, less than one per rank: dropped.
        assert_eq!(s.sizes, vec![100, 1024]);
        let a = parse(&[
            "fccl", "bench", "bcast", "--dtype", "bf16", "--algo", "binomial",
        ]);
        let s = spec(&a).unwrap();
        assert_eq!(s.algorithm, Some(Algorithm::Binomial));
        assert_eq!(s.sizes.first(), Some(&8));
        assert_eq!(s.sizes.last(), Some(&(16 << 20)));
        assert!(spec(&parse(&["fccl", "bench", "allreduce", "--op", "xor"])).is_err());
        assert!(spec(&parse(&["fccl", "bench", "nope"])).is_err());
    }

    #[test]
    fn unknown_transport_is_a_clear_error() {
        let a = parse(&["fccl", "bench", "allreduce", "--transport", "tcp"]);
        let e = run(&a, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e,
            "transport 'tcp' is not available yet; this build has: local"
        );
    }

    #[test]
    fn a_tiny_bench_prints_a_correct_table_and_json() {
        let a = parse(&[
            "fccl",
            "bench",
            "allgather",
            "-n",
            "3",
            "--sizes",
            "12,1K",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--json",
            "-",
        ]);
        let mut out = Vec::new();
        assert_eq!(run(&a, &mut out), Ok(true));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["bytes"], 1020);
        assert_eq!(lines[1]["count"], 255);
        assert_eq!(lines[1]["ranks"], 3);
        assert_eq!(lines[1]["correct"], true);
        for key in [
            "collective",
            "transport",
            "dtype",
            "op",
            "algorithm",
            "iters",
            "time_us",
            "time_us_min",
            "time_us_max",
            "algbw_gbps",
            "busbw_gbps",
            "peak_rss_mb",
        ] {
            assert!(lines[0].get(key).is_some(), "{key}");
        }
        let a = parse(&["fccl", "bench", "barrier", "-n", "2", "--iters", "2"]);
        let mut out = Vec::new();
        assert_eq!(run(&a, &mut out), Ok(true));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("# fccl bench: barrier"));
        assert!(text.contains("dissemination"));
    }
}
