//! `fccl bench --plot FILE` and `fccl plot -o FILE`: time and bus bandwidth against size,
//! one line per collective, transport, rank count, element type and reduction, drawn with
//! plotters as SVG or PNG (by the file's extension) from one drawing function generic over
//! the backend.

mod font;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::record::BenchRecord;

/// The formats a plot is written in, chosen by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.svg`: vector, text kept as text.
    Svg,
    /// `.png`: a bitmap of [`SIZE`] pixels.
    Png,
}

impl PlotFormat {
    /// The format of a file named `path` (`.svg` or `.png`, in any case); any other
    /// extension, or none, is an error that names the two.
    pub fn of(path: &Path) -> Result<PlotFormat, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("svg") => Ok(PlotFormat::Svg),
            Some(e) if e.eq_ignore_ascii_case("png") => Ok(PlotFormat::Png),
            _ => Err(format!(
                "cannot plot to {}: name the file FILE.svg or FILE.png (the formats drawn)",
                path.display()
            )),
        }
    }
}

/// The picture's size in pixels (for SVG, in user units): two panels side by side.
pub const SIZE: (u32, u32) = (1400, 560);

/// The colours of the lines, in turn.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One line: its label and its points (bytes, value), by size.
type Series = Vec<(String, Vec<(f64, f64)>)>;

/// What tells the lines apart: collective, transport, rank count, element type, reduction.
type LineKey = (String, String, usize, String, String);

/// The lines of `records` by collective, transport, rank count, element type and
/// reduction, each point `(bytes, value(record))` where `value` has one; barrier (no size)
/// is left out.
fn series(records: &[BenchRecord], value: impl Fn(&BenchRecord) -> Option<f64>) -> Series {
    let mut lines: BTreeMap<LineKey, Vec<(f64, f64)>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.bytes > 0) {
        if let Some(v) = value(r).filter(|v| v.is_finite() && *v > 0.0) {
            let key = (
                r.collective.clone(),
                r.transport.clone(),
                r.ranks,
                r.dtype.clone(),
                r.op.clone(),
            );
            lines.entry(key).or_default().push((r.bytes as f64, v));
        }
    }
    let label = Labels::of(records);
    lines
        .into_iter()
        .map(|(key, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (label.of_line(&key), points)
        })
        .collect()
}

/// How lines are named: `allreduce tcp 4 ranks`, with the element type when the records
/// have several, and the reduction when a collective ran with several.
struct Labels {
    several_dtypes: bool,
    several_ops: BTreeSet<String>,
}

impl Labels {
    fn of(records: &[BenchRecord]) -> Labels {
        let dtypes: BTreeSet<&str> = records.iter().map(|r| r.dtype.as_str()).collect();
        let mut ops: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in records {
            ops.entry(&r.collective).or_default().insert(&r.op);
        }
        Labels {
            several_dtypes: dtypes.len() > 1,
            several_ops: ops
                .into_iter()
                .filter(|(_, ops)| ops.len() > 1)
                .map(|(collective, _)| collective.to_string())
                .collect(),
        }
    }

    fn of_line(&self, (collective, transport, ranks, dtype, op): &LineKey) -> String {
        let mut label = format!("{collective} {transport} {ranks} ranks");
        if self.several_dtypes {
            label.push_str(&format!(" {dtype}"));
        }
        if self.several_ops.contains(collective) {
            label.push_str(&format!(" {op}"));
        }
        label
    }
}

/// The range of the values of `lines`, widened a little for log axes.
fn range(lines: &Series, pick: impl Fn(&(f64, f64)) -> f64) -> std::ops::Range<f64> {
    let values = lines.iter().flat_map(|(_, p)| p.iter().map(&pick));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 1.0..10.0;
    }
    lo / 1.5..hi * 1.5
}

/// Writes the plot of `records` to `path`, as SVG or PNG by its extension
/// ([`PlotFormat::of`]): the median time per size on the left, the bus bandwidth on the
/// right, both with log axes.
pub fn write_plot(records: &[BenchRecord], path: &Path) -> Result<(), String> {
    let format = PlotFormat::of(path)?;
    let times = series(records, |r| Some(r.time_us));
    let busbw = series(records, |r| r.busbw_gbps);
    if times.is_empty() {
        return Err("nothing to plot: no point has a size (barrier has none)".to_string());
    }
    font::register()?;
    let drawn = match format {
        PlotFormat::Svg => draw(SVGBackend::new(path, SIZE), &times, &busbw),
        PlotFormat::Png => draw(BitMapBackend::new(path, SIZE), &times, &busbw),
    };
    drawn.map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

/// Draws both panels on `backend` and finishes the picture (for a bitmap, encodes and
/// writes the file).
fn draw<DB: DrawingBackend>(backend: DB, times: &Series, busbw: &Series) -> Result<(), String> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    panel(&left, times, "median time (us)", "time per operation")?;
    if !busbw.is_empty() {
        panel(&right, busbw, "bus bandwidth (GB/s)", "bus bandwidth")?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws `lines` in `area` with log axes, `y_label` on the y axis and a legend.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &Series,
    y_label: &str,
    title: &str,
) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("the {title} panel: {e}");
    let mut chart = ChartBuilder::on(area)
        .caption(title, (font::FAMILY, 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(
            range(lines, |p| p.0).log_scale(),
            range(lines, |p| p.1).log_scale(),
        )
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("size (bytes, decimal prefixes)")
        .y_desc(y_label)
        .label_style((font::FAMILY, 14))
        .axis_desc_style((font::FAMILY, 15))
        .x_label_formatter(&|x| human_bytes(*x))
        .draw()
        .map_err(|e| failed(&e))?;
    for (i, (label, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((font::FAMILY, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))
}

/// A size-axis tick (a power of ten on the log axis) as 10, 1k, 100k, 10M.
fn human_bytes(bytes: f64) -> String {
    let b = bytes.round();
    if b >= 1e9 {
        format!("{}G", b / 1e9)
    } else if b >= 1e6 {
        format!("{}M", b / 1e6)
    } else if b >= 1e3 {
        format!("{}k", b / 1e3)
    } else {
        format!("{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ranks: usize, dtype: &str, op: &str, bytes: usize) -> BenchRecord {
        let line = format!(
            r#"{{"collective":"allreduce","transport":"tcp","ranks":{ranks},"dtype":"{dtype}",
            "op":"{op}","bytes":{bytes},"count":1,"algorithm":"ring","iters":1,"time_us":2.0,
            "time_us_min":1.0,"time_us_max":3.0,"algbw_gbps":1.0,"busbw_gbps":1.0,
            "correct":true,"peak_rss_mb":1.0}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn a_line_per_rank_count_type_and_op_named_by_what_varies() {
        let one_type = [record(2, "f32", "sum", 8), record(4, "f32", "sum", 8)];
        let labels: Vec<String> = series(&one_type, |r| Some(r.time_us))
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        assert_eq!(labels, ["allreduce tcp 2 ranks", "allreduce tcp 4 ranks"]);
        let sweep = [
            record(2, "f32", "sum", 8),
            record(2, "f32", "sum", 64),
            record(2, "f32", "max", 8),
            record(2, "i32", "sum", 8),
        ];
        let lines = series(&sweep, |r| Some(r.time_us));
        let labels: Vec<&str> = lines.iter().map(|(label, _)| label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "allreduce tcp 2 ranks f32 max",
                "allreduce tcp 2 ranks f32 sum",
                "allreduce tcp 2 ranks i32 sum",
            ]
        );
        assert_eq!(lines[1].1, [(8.0, 2.0), (64.0, 2.0)]);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(10.0), "10");
        assert_eq!(human_bytes(1000.0), "1k");
        assert_eq!(human_bytes(100_000.0), "100k");
        assert_eq!(human_bytes(1e7), "10M");
        assert_eq!(human_bytes(1e9), "1G");
    }
}
