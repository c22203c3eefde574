//! The local launcher: N processes of one program on this machine, like `mpirun`.
//!
//! [`LocalLaunch::run`] mints a job, starts every rank with `FCCL_JOB`, `FCCL_RANK` and
//! `FCCL_SIZE` in its environment, passes the ranks' output through with a `[R] ` prefix on
//! every line, and waits. The job fails as a whole: when one rank exits non-zero or dies by
//! a signal, the others are killed, so that no rank waits out a timeout on a peer that is
//! gone and no process outlives the job.
//!
//! For the `tcp` transport without an address (the default of `fccl run`) it embeds a
//! rendezvous server on a free loopback port for the life of the job; a random operator
//! token, passed to the ranks in `FCCL_RENDEZVOUS_TOKEN`, keeps other users of the machine
//! from registering with it.
//!
//! Each rank runs in a process group of its own, and ending the job signals the whole group,
//! so a rank's own child processes (a shell's pipeline, say) end with it. A process that
//! leaves its group (`setsid`) escapes this, as it would escape a terminal's Ctrl-C.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use fccl_collectives::{Error, ErrorKind, JobSpec, Rank, Result, Secret};
use fccl_transports::tcp::rendezvous::{BackgroundServer, RendezvousServer, ServerConfig};
use fccl_transports::tcp::{TOKEN_ENV, TcpSpec};
use rustix::process::{Pid, Signal, kill_process_group};

use crate::connect::{JOB_ENV, RANK_ENV, SIZE_ENV};

/// How long ranks have to end on a forwarded SIGINT or SIGTERM before they are killed.
const SIGNAL_GRACE: Duration = Duration::from_secs(1);

/// How long the output of ranks that have ended may take to drain.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The longest piece of a line passed through in one go; longer lines are split.
const MAX_LINE: u64 = 64 * 1024;

/// Where the ranks' standard output goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdoutMode {
    /// Every rank's lines, each with a `[R] ` prefix.
    #[default]
    Prefixed,
    /// Rank 0's output unchanged (it writes to this process's standard output directly);
    /// the other ranks' output is discarded. For programs whose rank 0 reports for all.
    LeadOnly,
}

/// A job of N processes of one program on this machine.
///
/// ```no_run
/// use fccl::launch::local::LocalLaunch;
///
/// let mut launch = LocalLaunch::new(4, "./my-program");
/// launch.args = vec!["--epochs".into(), "3".into()];
/// let outcome = launch.run()?;
/// if let Some(failure) = &outcome.failure {
///     eprintln!("{failure}");
/// }
/// std::process::exit(outcome.exit_code().into());
/// # Ok::<(), fccl::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LocalLaunch {
    /// The number of ranks.
    pub ranks: usize,
    /// The transport spec: `tcp` (or `tcp?mesh=full`) embeds a rendezvous server for the
    /// job; any other spec but `local` goes into the job as it is.
    pub transport: String,
    /// The job's collective timeout; the default of [`JobSpec`] if `None`.
    pub timeout: Option<Duration>,
    /// The job's set-up timeout; the default of [`JobSpec`] if `None`.
    pub setup_timeout: Option<Duration>,
    /// The program every rank runs.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Where the ranks' standard output goes. Their standard error is always passed
    /// through with a `[R] ` prefix on every line.
    pub stdout: StdoutMode,
    /// How long the other ranks may run on after one failed, before they are killed: time
    /// for them to see the failure and report it themselves. Zero kills at once.
    pub grace: Duration,
    /// Whether a SIGINT or SIGTERM to this process is forwarded to every rank (and the ranks
    /// killed a second later). The signal handlers this installs stay for the life of the
    /// process, so only programs that exit after the job should ask for it.
    pub forward_signals: bool,
    /// More variables for every rank's environment, set before the job's own (`FCCL_JOB`,
    /// `FCCL_RANK`, ...), which they cannot override.
    pub env: Vec<(OsString, OsString)>,
}

impl LocalLaunch {
    /// A job of `ranks` processes of `program` over `tcp` with an embedded rendezvous,
    /// output prefixed, no grace, no signal forwarding.
    pub fn new(ranks: usize, program: impl Into<OsString>) -> LocalLaunch {
        LocalLaunch {
            ranks,
            transport: "tcp".to_string(),
            timeout: None,
            setup_timeout: None,
            program: program.into(),
            args: Vec::new(),
            stdout: StdoutMode::Prefixed,
            grace: Duration::ZERO,
            forward_signals: false,
            env: Vec::new(),
        }
    }

    /// Runs the job to its end: every rank exited, or one failed and the others were
    /// killed, or a forwarded signal ended it.
    ///
    /// Errors are for jobs that could not start: bad arguments, a rendezvous server that
    /// could not start, a program that cannot be run (the ranks started before it are
    /// killed). How the ranks ended is in the [`Outcome`].
    pub fn run(&self) -> Result<Outcome> {
        if self.ranks == 0 {
            return Err(Error::invalid("a job needs at least one rank"));
        }
        let (server, transport, token) = match Plan::of(&self.transport)? {
            Plan::Embedded {
                before,
                options,
                after,
            } => {
                let token = random_token();
                let server = Embedded::start(&token)?;
                let transport = format!("{before}tcp://{}{options}{after}", server.addr());
                (Some(server), transport, Some(token))
            }
            Plan::AsGiven => (None, self.transport.clone(), None),
        };
        let mut job = JobSpec::new(self.ranks, transport)?;
        job.timeout = self.timeout.unwrap_or(job.timeout);
        job.setup_timeout = self.setup_timeout.unwrap_or(job.setup_timeout);
        job.validate()?;

        let (events, watch) = mpsc::channel();
        if self.forward_signals {
            forward_signals(events.clone())?;
        }
        let mut groups = Groups::default();
        let (drained, drains) = mpsc::channel();
        let mut pumps = 0;
        for rank in 0..self.ranks {
            let mut command = self.command(&job, rank, token.as_deref());
            let mut child = command.spawn().map_err(|e| {
                Error::invalid(format!(
                    "cannot start {}: {e}",
                    Program(&self.program) // the job string stays out of errors
                ))
            })?;
            groups.add(child.id());
            if let Some(out) = child.stdout.take() {
                pump(out, rank, Sink::Stdout, drained.clone());
                pumps += 1;
            }
            if let Some(err) = child.stderr.take() {
                pump(err, rank, Sink::Stderr, drained.clone());
                pumps += 1;
            }
            let events = events.clone();
            std::thread::Builder::new()
                .name(format!("fccl-run-wait-{rank}"))
                .spawn(move || {
                    let how = child.wait().map_or(Exit::Unknown, Exit::from);
                    let _ = events.send(Event::Exited(rank, how));
                })
                .map_err(|e| {
                    Error::new(ErrorKind::Internal, format!("cannot start a thread: {e}"))
                })?;
        }
        drop(events);
        let outcome = wait(&watch, self.ranks, self.grace, &groups);
        // Whatever the ranks left behind in their groups ends with the job, and their pipes
        // close with it.
        groups.signal(Signal::KILL);
        let deadline = Instant::now() + DRAIN_TIME;
        for _ in 0..pumps {
            let left = deadline.saturating_duration_since(Instant::now());
            if drains.recv_timeout(left).is_err() {
                break;
            }
        }
        drop(server);
        Ok(outcome)
    }

    /// The command of one rank.
    fn command(&self, job: &JobSpec, rank: Rank, token: Option<&str>) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(JOB_ENV, job.to_string())
            .env(RANK_ENV, rank.to_string())
            .env(SIZE_ENV, job.size.to_string())
            .process_group(0)
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env(TOKEN_ENV, token);
        }
        // A rank in a process group of its own that reads the terminal would be stopped
        // (SIGTTIN), so only rank 0 reads standard input, and only when it is not one.
        let stdin = if rank == 0 && !io::stdin().is_terminal() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let stdout = match (self.stdout, rank) {
            (StdoutMode::Prefixed, _) => Stdio::piped(),
            (StdoutMode::LeadOnly, 0) => Stdio::inherit(),
            (StdoutMode::LeadOnly, _) => Stdio::null(),
        };
        command.stdin(stdin).stdout(stdout);
        command
    }
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The first rank that failed, if one did (the ranks killed after it are not counted).
    pub failure: Option<RankFailure>,
    /// The signal (SIGINT or SIGTERM) forwarded to the ranks, if one ended the job.
    pub interrupted: Option<i32>,
}

impl Outcome {
    /// Whether every rank exited with code 0.
    pub fn success(&self) -> bool {
        self.failure.is_none() && self.interrupted.is_none()
    }

    /// The exit code for a launcher that reports the job as a whole: 0 on success, the
    /// failed rank's exit code, or 128 + the signal that killed the rank or interrupted
    /// the job.
    pub fn exit_code(&self) -> u8 {
        if let Some(signal) = self.interrupted {
            return signal_code(signal);
        }
        match self.failure.as_ref().map(|f| f.how) {
            None => 0,
            Some(Exit::Code(code)) => u8::try_from(code).ok().filter(|&c| c != 0).unwrap_or(1),
            Some(Exit::Signal(signal)) => signal_code(signal),
            Some(Exit::Unknown) => 1,
        }
    }
}

fn signal_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// A rank that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankFailure {
    /// The rank.
    pub rank: Rank,
    /// How it ended.
    pub how: Exit,
}

impl fmt::Display for RankFailure {
    /// `rank R failed (exit code C)` or `rank R failed (killed by signal S)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rank {} failed ({})", self.rank, self.how)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// Waiting for it failed.
    Unknown,
}

impl Exit {
    fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Unknown,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
            Exit::Unknown => f.write_str("exit status unknown"),
        }
    }
}

/// What the transport spec asks of the launcher.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// A medium `tcp` or `tcp?OPTIONS`: embed a rendezvous server; `options` is `?OPTIONS`
    /// or empty, `before` and `after` the rest of a spec of several media (with their `+`).
    Embedded {
        before: String,
        options: String,
        after: String,
    },
    /// Any other spec goes into the job unchanged.
    AsGiven,
}

impl Plan {
    fn of(transport: &str) -> Result<Plan> {
        let media = crate::media_specs(transport);
        if media.contains(&"local") {
            return Err(Error::invalid(
                "transport `local` runs ranks as threads of one process, not as processes: \
                 use tcp (the default) to run ranks as processes",
            ));
        }
        let embedded = media
            .iter()
            .enumerate()
            .find_map(|(i, m)| match m.strip_prefix("tcp") {
                Some("") => Some((i, "")),
                Some(options) if options.starts_with('?') => Some((i, options)),
                _ => None,
            });
        let Some((at, options)) = embedded else {
            return Ok(Plan::AsGiven);
        };
        // Checks the options now, with a stand-in address, rather than in every rank.
        let stand_in = format!("tcp://127.0.0.1:1{options}");
        TcpSpec::parse(&stand_in).map_err(|e| {
            let message = e.message();
            let why = message
                .strip_prefix(&format!("tcp spec {stand_in:?}: "))
                .unwrap_or(message);
            Error::invalid(format!("transport {transport}: {why}"))
        })?;
        let before: String = media[..at].iter().map(|m| format!("{m}+")).collect();
        let after: String = media[at + 1..].iter().map(|m| format!("+{m}")).collect();
        Ok(Plan::Embedded {
            before,
            options: options.to_string(),
            after,
        })
    }
}

/// A fresh operator token for an embedded rendezvous server: 256 random bits in hex.
fn random_token() -> String {
    Secret::random()
        .bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A rendezvous server on a free loopback port, for one job; stops when dropped.
struct Embedded {
    server: BackgroundServer,
}

impl Embedded {
    fn start(token: &str) -> Result<Embedded> {
        let config = ServerConfig {
            token: Some(token.to_string()),
            ..ServerConfig::default()
        };
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let server = RendezvousServer::start_background(loopback, config).map_err(|e| {
            Error::new(
                ErrorKind::Rendezvous,
                format!(
                    "cannot start the embedded rendezvous server: {}",
                    e.message()
                ),
            )
        })?;
        Ok(Embedded { server })
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}

/// What the launcher waits for.
#[derive(Debug)]
enum Event {
    /// A rank ended.
    Exited(Rank, Exit),
    /// This process got SIGINT or SIGTERM.
    Signal(i32),
}

/// Waits until every rank has ended, killing the others once one fails (after `grace`) or
/// a signal comes (after [`SIGNAL_GRACE`]).
fn wait(events: &Receiver<Event>, ranks: usize, grace: Duration, groups: &Groups) -> Outcome {
    let mut outcome = Outcome {
        failure: None,
        interrupted: None,
    };
    let mut running = ranks;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    while running > 0 {
        let event = match kill_at.filter(|_| !killed) {
            Some(at) => match events.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match events.recv() {
                Ok(event) => Some(event),
                Err(_) => break,
            },
        };
        match event {
            None => {
                groups.signal(Signal::KILL);
                killed = true;
            }
            Some(Event::Exited(rank, how)) => {
                running -= 1;
                let first = outcome.failure.is_none() && outcome.interrupted.is_none();
                if !how.success() && first && !killed {
                    outcome.failure = Some(RankFailure { rank, how });
                    kill_at = Some(Instant::now() + grace);
                    if grace.is_zero() {
                        groups.signal(Signal::KILL);
                        killed = true;
                    }
                }
            }
            Some(Event::Signal(signal)) => {
                if outcome.interrupted.is_some() {
                    // A second Ctrl-C: no more waiting.
                    groups.signal(Signal::KILL);
                    killed = true;
                    continue;
                }
                outcome.interrupted = Some(signal);
                if let Some(s) = Signal::from_named_raw(signal) {
                    groups.signal(s);
                }
                let at = Instant::now() + SIGNAL_GRACE;
                kill_at = Some(kill_at.map_or(at, |k| k.min(at)));
            }
        }
    }
    outcome
}

/// The process groups of the ranks, one each, led by the rank's process. Signalled as a
/// whole on drop, so that no rank outlives a launcher that returns early or panics.
#[derive(Default)]
struct Groups(Vec<Pid>);

impl Groups {
    fn add(&mut self, pid: u32) {
        if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            self.0.push(pid);
        }
    }

    /// Sends `signal` to every group; groups that have ended are skipped.
    fn signal(&self, signal: Signal) {
        for &pid in &self.0 {
            // ESRCH: the group has ended. Nothing else can fail for our own children.
            let _ = kill_process_group(pid, signal);
        }
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// Installs handlers for SIGINT and SIGTERM that report them as [`Event::Signal`].
fn forward_signals(events: Sender<Event>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (ready, installed) = mpsc::channel::<io::Result<()>>();
    let failed = |e: io::Error| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot watch for SIGINT and SIGTERM: {e}"),
        )
    };
    std::thread::Builder::new()
        .name("fccl-run-signals".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let handlers = signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
                let (mut int, mut term) = match handlers {
                    Ok(h) => h,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                loop {
                    let got = tokio::select! {
                        Some(()) = int.recv() => Signal::INT,
                        Some(()) = term.recv() => Signal::TERM,
                        else => return,
                    };
                    if events.send(Event::Signal(got.as_raw())).is_err() {
                        return;
                    }
                }
            });
        })
        .map_err(failed)?;
    installed
        .recv()
        .map_err(|_| failed(io::Error::other("the signal thread ended")))?
        .map_err(failed)
}

/// This process's output streams.
#[derive(Clone, Copy, Debug)]
enum Sink {
    Stdout,
    Stderr,
}

/// Passes `from` through to `to` line by line, each with the rank's prefix, on a thread of
/// its own; reports on `done` when `from` closes. After a write error (a closed pipe) it
/// keeps reading, so that the rank never blocks on a full pipe.
fn pump(from: impl Read + Send + 'static, rank: Rank, to: Sink, done: Sender<()>) {
    let prefix = format!("[{rank}] ");
    let run = move || {
        let mut reader = BufReader::new(from);
        let mut line = prefix.clone().into_bytes();
        let mut broken = false;
        loop {
            line.truncate(prefix.len());
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            if !line.ends_with(b"\n") {
                line.push(b'\n');
            }
            if !broken {
                broken = write_line(to, &line).is_err();
            }
        }
        let _ = done.send(());
    };
    // Without a thread the rank's output cannot be passed on; the rank then gets EPIPE or
    // SIGPIPE, which is the most honest report left.
    let _ = std::thread::Builder::new()
        .name(format!("fccl-run-out-{rank}"))
        .spawn(run);
}

/// Writes one whole line under the stream's lock, so lines of different ranks never mix.
fn write_line(to: Sink, line: &[u8]) -> io::Result<()> {
    match to {
        Sink::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(line)?;
            out.flush()
        }
        Sink::Stderr => {
            let mut err = io::stderr().lock();
            err.write_all(line)?;
            err.flush()
        }
    }
}

/// A program's name for messages.
struct Program<'a>(&'a OsStr);

impl fmt::Display for Program<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::path::Path::new(self.0).display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_plan_the_rendezvous() {
        let embedded = |before: &str, options: &str, after: &str| Plan::Embedded {
            before: before.into(),
            options: options.into(),
            after: after.into(),
        };
        assert_eq!(Plan::of("tcp").unwrap(), embedded("", "", ""));
        assert_eq!(
            Plan::of("tcp?mesh=full").unwrap(),
            embedded("", "?mesh=full", "")
        );
        assert_eq!(
            Plan::of("tcp+redis://r:1").unwrap(),
            embedded("", "", "+redis://r:1")
        );
        assert_eq!(
            Plan::of("redis://r:1+tcp?mesh=full+memcached://m:2").unwrap(),
            embedded("redis://r:1+", "?mesh=full", "+memcached://m:2")
        );
        assert_eq!(Plan::of("tcp://10.0.0.1:7000").unwrap(), Plan::AsGiven);
        assert_eq!(Plan::of("redis://r:6379").unwrap(), Plan::AsGiven);
        assert_eq!(Plan::of("tcpx").unwrap(), Plan::AsGiven);
        let e = Plan::of("tcp?mesh=half").unwrap_err();
        assert!(e.to_string().contains("mesh=half"), "{e}");
        assert!(!e.to_string().contains("127.0.0.1"), "{e}");
        let e = Plan::of("local").unwrap_err();
        assert!(e.to_string().contains("threads of one process"), "{e}");
    }

    #[test]
    fn exit_codes_follow_the_first_failure() {
        let failed = |how| Outcome {
            failure: Some(RankFailure { rank: 1, how }),
            interrupted: None,
        };
        let ok = Outcome {
            failure: None,
            interrupted: None,
        };
        assert!(ok.success());
        assert_eq!(ok.exit_code(), 0);
        assert_eq!(failed(Exit::Code(3)).exit_code(), 3);
        assert_eq!(failed(Exit::Code(256)).exit_code(), 1);
        assert_eq!(failed(Exit::Signal(9)).exit_code(), 137);
        let interrupted = Outcome {
            failure: None,
            interrupted: Some(2),
        };
        assert!(!interrupted.success());
        assert_eq!(interrupted.exit_code(), 130);
        assert_eq!(
            RankFailure {
                rank: 1,
                how: Exit::Signal(9)
            }
            .to_string(),
            "rank 1 failed (killed by signal 9)"
        );
        assert_eq!(
            failed(Exit::Code(3)).failure.unwrap().to_string(),
            "rank 1 failed (exit code 3)"
        );
    }

    #[test]
    fn tokens_are_fresh() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn programs_that_cannot_start_are_named() {
        let mut launch = LocalLaunch::new(2, "/nonexistent/fccl-test-program");
        launch.transport = "tcp://127.0.0.1:1".into();
        let e = launch.run().unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot start /nonexistent/fccl-test-program"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_rank_ends_the_job() {
        let mut launch = LocalLaunch::new(3, "sh");
        launch.transport = "tcp://127.0.0.1:1".into();
        launch.args = ["-c", "[ $FCCL_RANK = 2 ] && exit 4; exec sleep 30"]
            .map(OsString::from)
            .to_vec();
        let start = Instant::now();
        let outcome = launch.run().unwrap();
        assert!(start.elapsed() < Duration::from_secs(20));
        assert_eq!(
            outcome.failure,
            Some(RankFailure {
                rank: 2,
                how: Exit::Code(4)
            })
        );
        assert_eq!(outcome.exit_code(), 4);
    }
}
