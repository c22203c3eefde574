//! The nccl-tests-style text table that `fccl bench` prints.

use crate::record::BenchRecord;
use crate::spec::BenchSpec;

/// The lines before the rows: what runs, and the column names with their units; with
/// `usage` (the media count their traffic), the columns of the bytes sent and the media's
/// requests per operation too, and with a cost model in `spec`, the estimated dollars per
/// 1,000 operations.
pub fn header(spec: &BenchSpec, ranks: usize, usage: bool) -> String {
    let algorithm = spec.algorithm.map_or_else(
        || "selected per size".to_string(),
        |a| format!("{a} (forced)"),
    );
    let op = if spec.reduces() {
        format!(" {}", spec.op)
    } else {
        String::new()
    };
    let media = if spec.transport.contains('+') {
        " (shown as algorithm@medium)"
    } else {
        ""
    };
    let (mut names, mut units) = (String::new(), String::new());
    if usage {
        names.push_str(&format!(
            "  {:>12} {:>9} {:>9}",
            "sent", "requests", "least"
        ));
        units.push_str(&format!("  {:>12} {:>9} {:>9}", "(B/op)", "(/op)", "(/op)"));
    }
    if spec.cost.is_some() {
        names.push_str(&format!("  {:>10}", "usd/1k"));
        units.push_str(&format!("  {:>10}", "(ops)"));
    }
    format!(
        "# fccl bench {}: transport {}, {ranks} ranks, {}{op}, {} iterations after {} warm-up, \
         algorithm {algorithm}{media}\n#\n{}{names}\n{}{units}",
        spec.collective,
        spec.transport,
        spec.dtype,
        spec.iters,
        spec.warmup,
        columns(
            "size",
            "count",
            "type",
            "op",
            "algorithm",
            "time",
            "min",
            "max",
            "algbw",
            "busbw",
            "correct"
        ),
        columns(
            "(B)",
            "(elements)",
            "",
            "",
            "",
            "(us)",
            "(us)",
            "(us)",
            "(GB/s)",
            "(GB/s)",
            ""
        ),
    )
}

#[allow(clippy::too_many_arguments)]
fn columns(
    size: &str,
    count: &str,
    dtype: &str,
    op: &str,
    algorithm: &str,
    time: &str,
    min: &str,
    max: &str,
    algbw: &str,
    busbw: &str,
    correct: &str,
) -> String {
    format!(
        "#{size:>12} {count:>12} {dtype:>5} {op:>5}  {algorithm:<22}{time:>10} {min:>10} \
         {max:>10} {algbw:>8} {busbw:>8}  {correct}"
    )
    .trim_end()
    .to_string()
}

/// One row of the table.
pub fn row(r: &BenchRecord) -> String {
    let bw = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    let (algbw, busbw) = (bw(r.algbw_gbps), bw(r.busbw_gbps));
    let correct = if r.correct { "yes" } else { "NO" };
    // With several media, which one each size used.
    let algorithm = if r.transport.contains('+') {
        format!("{}@{}", r.algorithm, r.medium)
    } else {
        r.algorithm.clone()
    };
    let mut requests = match (r.bytes_sent, r.requests, r.least_requests) {
        (Some(sent), Some(made), Some(least)) => {
            format!("  {sent:>12.0} {made:>9.1} {least:>9.1}")
        }
        _ => String::new(),
    };
    if let Some(usd) = r.usd_per_op {
        requests.push_str(&format!("  {:>10.3e}", usd * 1000.0));
    }
    format!(
        " {:>12} {:>12} {:>5} {:>5}  {:<22}{:>10.2} {:>10.2} {:>10.2} {algbw:>8} {busbw:>8}  \
         {correct:<7}{requests}",
        r.bytes, r.count, r.dtype, r.op, algorithm, r.time_us, r.time_us_min, r.time_us_max,
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fccl_collectives::Collective;

    fn record() -> BenchRecord {
        BenchRecord {
            collective: "allreduce".into(),
            transport: "local".into(),
            ranks: 4,
            dtype: "f32".into(),
            op: "sum".into(),
            bytes: 1024,
            count: 256,
            algorithm: "ring".into(),
            medium: "local".into(),
            iters: 20,
            time_us: 12.5,
            time_us_min: 10.0,
            time_us_max: 20.25,
            algbw_gbps: Some(0.08192),
            busbw_gbps: Some(0.12288),
            correct: true,
            peak_rss_mb: 10.0,
            requests: None,
            billed_requests: None,
            least_requests: None,
            bytes_sent: None,
            usd_requests: None,
            usd_per_op: None,
            usd_lambda: None,
            usd_queue: None,
            usd_instance: None,
            first_wrong: None,
        }
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let spec = BenchSpec::new(Collective::AllReduce, vec![1024]);
        let head = header(&spec, 4, false);
        assert!(head.starts_with("# fccl bench allreduce: transport local, 4 ranks, f32 sum"));
        let names = head.lines().nth(2).unwrap();
        let line = row(&record());
        // Right-aligned columns end where their names end.
        for (name, value) in [("count", "256"), ("busbw", "0.123"), ("time", "12.50")] {
            let end = names.find(name).unwrap() + name.len();
            assert_eq!(
                &line[end - value.len()..end],
                value,
                "{name}\n{names}\n{line}"
            );
        }
        assert!(line.contains("ring") && line.ends_with("yes"));
        let mut barrier = record();
        barrier.algbw_gbps = None;
        barrier.correct = false;
        assert!(row(&barrier).contains(" - ") && row(&barrier).ends_with("NO"));
        let mut mixed = record();
        (mixed.transport, mixed.medium) = ("tcp+redis".into(), "redis".into());
        assert!(row(&mixed).contains(" ring@redis "), "{}", row(&mixed));
        assert!(!line.contains('@'), "{line}");
    }

    #[test]
    fn usage_columns_line_up_when_the_media_count_their_traffic() {
        let mut spec = BenchSpec::new(Collective::AllReduce, vec![1024]);
        spec.transport = "sqs".into();
        let prices = crate::cost::Prices::aws();
        spec.cost = Some(crate::cost::CostModel::new(&prices, "sqs"));
        let head = header(&spec, 4, true);
        let names = head.lines().nth(2).unwrap();
        let mut r = record();
        (r.requests, r.least_requests, r.usd_per_op) = (Some(31.25), Some(9.6), Some(1.25e-5));
        r.bytes_sent = Some(6_291_744.0);
        let line = row(&r);
        for (name, value) in [
            ("sent", "6291744"),
            ("requests", "31.2"),
            ("least", "9.6"),
            ("usd/1k", "1.250e-2"),
        ] {
            let end = names.find(name).unwrap() + name.len();
            assert_eq!(
                &line[end - value.len()..end],
                value,
                "{name}\n{names}\n{line}"
            );
        }
        assert!(!row(&record()).contains("31.2"));
    }
}
