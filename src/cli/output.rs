//! Where `fccl bench` reports: the table, JSON lines, and a progress bar on a terminal.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use fccl_benches::sizes::format_size;
use fccl_benches::{Event, table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The stream the table goes to.
#[derive(Clone, Debug)]
enum TableTo {
    Stdout,
    /// When JSON lines take stdout.
    Stderr,
    /// Not printed (tests).
    Nowhere,
    /// Kept for a result (a Lambda rank's).
    Captured(Captured),
}

/// Text a run writes, kept in memory: what a Lambda rank returns as its output.
#[derive(Clone, Debug, Default)]
pub(super) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub(super) fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a run's points stand among all the points of its sweep (a sweep over processes is
/// a job per rank count, each with an output of its own), for the progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Progress {
    /// Points run before this output's first.
    pub(super) done: usize,
    /// Points of the whole sweep.
    pub(super) total: usize,
}

impl Progress {
    /// A run that is the whole sweep, of `points` points.
    pub(super) fn whole(points: usize) -> Progress {
        Progress {
            done: 0,
            total: points,
        }
    }
}

/// How `--json FILE` is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JsonFile {
    /// Created, or emptied if it exists.
    Create,
    /// Added to: a later part of a sweep, after the launcher created the file.
    Append,
}

/// Where `--json FILE` goes: stdout for `-`, else the file, buffered (created or added to
/// as `mode` says).
pub(super) fn json_sink(
    json: Option<&Path>,
    mode: JsonFile,
) -> io::Result<Option<Box<dyn Write + Send>>> {
    Ok(match json {
        None => None,
        Some(path) if path == Path::new("-") => Some(Box::new(io::stdout())),
        Some(path) => Some(Box::new(BufWriter::new(open_json(path, mode)?))),
    })
}

/// The sinks of one `fccl bench` run. Write errors are kept and reported at the end, so a
/// closed pipe does not abort the ranks mid-collective.
pub(super) struct Output {
    table: TableTo,
    json: Option<Box<dyn Write + Send>>,
    progress: Option<ProgressBar>,
    /// Whether a block of the table came before (so the next is set apart).
    after_block: bool,
    error: Option<io::Error>,
}

impl Output {
    /// Sinks for a run at `progress` in its sweep: the table on stdout (stderr if `json` is
    /// `-`), JSON lines to `json` (created or appended to as `mode` says), and a progress
    /// bar if stdout is a terminal and not taken by JSON.
    pub(super) fn open(
        json: Option<&Path>,
        mode: JsonFile,
        progress: Progress,
    ) -> io::Result<Output> {
        let json_to_stdout = json == Some(Path::new("-"));
        let json = json_sink(json, mode)?;
        let bar = (io::stdout().is_terminal() && !json_to_stdout && !cfg!(test)).then(|| {
            // On stdout, the terminal checked: a rank of a job of processes has its
            // standard error piped through the launcher, but its standard output is this
            // terminal.
            let bar = ProgressBar::with_draw_target(
                Some(progress.total as u64),
                ProgressDrawTarget::stdout(),
            )
            .with_position(progress.done as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} points  {msg}")
                    .expect("a valid progress template"),
            );
            bar
        });
        let table = if cfg!(test) {
            TableTo::Nowhere
        } else if json_to_stdout {
            TableTo::Stderr
        } else {
            TableTo::Stdout
        };
        Ok(Output {
            table,
            json,
            progress: bar,
            after_block: progress.done > 0,
            error: None,
        })
    }

    /// Sinks that report nothing: for the ranks but 0 of a job of processes.
    pub(super) fn quiet() -> Output {
        Output {
            table: TableTo::Nowhere,
            json: None,
            progress: None,
            after_block: false,
            error: None,
        }
    }

    /// Sinks that keep what would go to stdout in `captured`: the table, or with
    /// `json_lines` the JSON lines instead. No progress bar.
    pub(super) fn captured(captured: Captured, json_lines: bool) -> Output {
        let (table, json): (TableTo, Option<Box<dyn Write + Send>>) = if json_lines {
            (TableTo::Nowhere, Some(Box::new(captured)))
        } else {
            (TableTo::Captured(captured), None)
        };
        Output {
            table,
            json,
            progress: None,
            after_block: false,
            error: None,
        }
    }

    /// Starts a block of the table (one element type and reduction on one rank count) with
    /// its header, set apart by a `#` line from the block before. A write error is kept for
    /// [`Output::finish`]: blocks start between collectives, which every rank must reach.
    pub(super) fn block_header(&mut self, text: &str) {
        if self.after_block {
            self.print_table_line("#");
        }
        self.after_block = true;
        self.print_table_line(text);
    }

    /// Prints a line of the table's own (a comment such as the relayed pairs).
    pub(super) fn note(&mut self, text: &str) -> io::Result<()> {
        self.print_table_line(text);
        self.error.take().map_or(Ok(()), Err)
    }

    /// Reports a harness event.
    pub(super) fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Started { shape, .. } => {
                if let Some(bar) = &self.progress {
                    bar.set_message(format!("size {}", format_size(shape.bytes)));
                }
            }
            Event::Finished(record) => {
                self.print_table_line(&table::row(record));
                if let Some(json) = &mut self.json {
                    let written =
                        writeln!(json, "{}", record.to_json()).and_then(|()| json.flush());
                    self.keep(written);
                }
                if let Some(bar) = &self.progress {
                    bar.inc(1);
                }
            }
        }
    }

    /// Clears the progress bar and flushes; the first write error, if any.
    pub(super) fn finish(mut self) -> io::Result<()> {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if let Some(mut json) = self.json.take() {
            let flushed = json.flush();
            self.keep(flushed);
        }
        self.error.map_or(Ok(()), Err)
    }

    fn print_table_line(&mut self, line: &str) {
        let table = &self.table;
        let write = || match table {
            TableTo::Stdout => writeln!(io::stdout().lock(), "{line}"),
            TableTo::Stderr => writeln!(io::stderr().lock(), "{line}"),
            TableTo::Nowhere => Ok(()),
            TableTo::Captured(captured) => writeln!(captured.clone(), "{line}"),
        };
        let written = match &self.progress {
            Some(bar) => bar.suspend(write),
            None => write(),
        };
        self.keep(written);
    }

    fn keep(&mut self, result: io::Result<()>) {
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
    }
}

/// Opens `--json FILE` as `mode` says.
pub(super) fn open_json(path: &Path, mode: JsonFile) -> io::Result<File> {
    let mut options = OpenOptions::new();
    match mode {
        JsonFile::Create => options.write(true).create(true).truncate(true),
        JsonFile::Append => options.append(true).create(true),
    };
    options
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}
