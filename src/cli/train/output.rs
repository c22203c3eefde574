//! Where `fccl train` reports: a line per evaluation, JSON lines, and a progress bar on a
//! terminal.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use fccl_ml::trainer::{Report, TrainEvent};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::output::{Captured, JsonFile, json_sink};

/// The sinks of one run. Write errors are kept and reported at the end, so that a closed
/// pipe does not stop the ranks mid-step.
pub(super) struct TrainOutput {
    /// Where the lines go: stdout, stderr (when JSON takes stdout), or nowhere.
    lines: Option<Box<dyn Write + Send>>,
    json: Option<Box<dyn Write + Send>>,
    progress: Option<ProgressBar>,
    error: Option<io::Error>,
}

impl TrainOutput {
    /// Lines on stdout (stderr if `json` is `-`), JSON lines to `json`, and a progress bar
    /// if stdout is a terminal not taken by JSON.
    pub(super) fn open(json: Option<&Path>) -> io::Result<TrainOutput> {
        let json_to_stdout = json == Some(Path::new("-"));
        let json = json_sink(json, JsonFile::Create)?;
        let lines: Box<dyn Write + Send> = if json_to_stdout {
            Box::new(io::stderr())
        } else {
            Box::new(io::stdout())
        };
        let progress = (io::stdout().is_terminal() && !json_to_stdout).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}")
                    .expect("a valid progress template"),
            );
            bar
        });
        Ok(TrainOutput {
            lines: Some(lines),
            json,
            progress,
            error: None,
        })
    }

    /// Sinks that report nothing: the ranks but 0 of a job of processes.
    pub(super) fn quiet() -> TrainOutput {
        TrainOutput {
            lines: None,
            json: None,
            progress: None,
            error: None,
        }
    }

    /// Sinks that keep what would go to stdout in `captured`: the lines, or with
    /// `json_lines` the JSON lines instead. No progress bar.
    pub(super) fn captured(captured: Captured, json_lines: bool) -> TrainOutput {
        let sink: Box<dyn Write + Send> = Box::new(captured);
        let (lines, json) = if json_lines {
            (None, Some(sink))
        } else {
            (Some(sink), None)
        };
        TrainOutput {
            lines,
            json,
            progress: None,
            error: None,
        }
    }

    /// Reports a training event.
    pub(super) fn event(&mut self, event: TrainEvent<'_>) {
        match event {
            TrainEvent::Step { done, total } => {
                if let Some(bar) = &self.progress {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            }
            TrainEvent::Report(report) => {
                if let Some(lines) = &mut self.lines {
                    let line = describe(report);
                    let written = match &self.progress {
                        Some(bar) => bar.suspend(|| writeln!(lines, "{line}")),
                        None => writeln!(lines, "{line}"),
                    };
                    Self::keep(&mut self.error, written);
                }
                if let Some(json) = &mut self.json {
                    let written = serde_json::to_string(report)
                        .map_err(io::Error::other)
                        .and_then(|text| writeln!(json, "{text}"))
                        .and_then(|()| json.flush());
                    Self::keep(&mut self.error, written);
                }
            }
        }
    }

    /// Clears the progress bar and flushes; the first write error, if any.
    pub(super) fn finish(mut self) -> io::Result<()> {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        for sink in [self.lines.as_mut(), self.json.as_mut()]
            .into_iter()
            .flatten()
        {
            let flushed = sink.flush();
            Self::keep(&mut self.error, flushed);
        }
        self.error.map_or(Ok(()), Err)
    }

    fn keep(error: &mut Option<io::Error>, result: io::Result<()>) {
        if let Err(e) = result {
            error.get_or_insert(e);
        }
    }
}

/// One report as a line: `epoch 2.00  updates 32  train loss 0.4213  test loss ...`.
fn describe(r: &Report) -> String {
    let mut line = format!("epoch {:.2}  updates {}", r.epoch, r.updates);
    if let Some(loss) = r.train_loss {
        line += &format!("  train loss {loss:.4}");
    }
    if let Some(loss) = r.test_loss {
        line += &format!("  test loss {loss:.4}");
    }
    if let Some(a) = r.accuracy {
        line += &format!("  accuracy {a:.4}");
    }
    if let Some(rmse) = r.rmse {
        line += &format!("  rmse {rmse:.4}");
    }
    line += &format!(
        "  objective {:.6}  {:.0} samples/s  {:.1} updates/s  {:.0} B/update",
        r.objective, r.samples_per_s, r.updates_per_s, r.bytes_per_update
    );
    if let (Some(c), Some(m)) = (r.compute_s, r.communicate_s) {
        line += &format!("  compute {c:.2} s  comm {m:.2} s");
    }
    if r.is_final {
        line += if r.finished {
            "  (final)"
        } else {
            "  (final: stopped at the time limit; run again to resume)"
        };
    }
    line
}
