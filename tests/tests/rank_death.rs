//! A rank that dies or aborts in the middle of a collective, with every rank a process of
//! its own (joined as ranks started elsewhere are: `FCCL_JOB` and `FCCL_RANK` in the
//! environment, and `fccl::init_from_env()`). The tests re-run this test binary once per
//! rank (the `rank` test below, which does nothing unless it is such a child).
//!
//! - A rank killed with SIGKILL while the job loops allreduce makes every other rank fail
//!   with `Remote` or `Timeout` within the op timeout plus one second, on every transport
//!   (tcp, memcached, redis, SQS through moto; the servers are skipped where they are not
//!   installed, except under CI).
//! - An explicit abort reaches the ranks waiting in a collective over tcp in under 100 ms.
//!
//! Ranks talk to the parent in lines on their stdout: `ready` after their first
//! successful allreduce, `waiting` just before they enter a collective that cannot
//! complete, `failed KIND MICROS` when a collective fails (then they exit 0), and
//! `aborted MICROS` just before the aborting rank aborts. Times are wall-clock Unix
//! microseconds: every process runs on this machine, so they compare across processes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fccl::{ErrorKind, JobSpec, OpOptions, ReduceOp};
use fccl_tests::servers::{Memcached, Moto, Redis};

/// Tells a child run of this binary that it is a rank, and what it does: [`LOOP`] or
/// [`ABORT`].
const CHILD: &str = "FCCL_TEST_RANK_DEATH";
/// A rank that loops allreduce until one fails.
const LOOP: &str = "loop";
/// Ranks 0 and 2 enter an allreduce that rank 1 never joins; rank 1 aborts instead.
const ABORT: &str = "abort";

/// The number of ranks in a job.
const RANKS: usize = 3;
/// The rank the tests kill, or that aborts.
const VICTIM: usize = 1;
/// The elements of each allreduce: 1 MiB of f32, several messages in flight per step.
const COUNT: usize = 256 * 1024;
/// The timeout of each allreduce in the kill tests.
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How late past the op timeout a survivor may fail after the kill.
const SLACK: Duration = Duration::from_secs(1);
/// The timeout of the collective the abort interrupts: long, so only the abort ends it.
const ABORT_OP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the aborting rank stays out of the collective before it aborts, so that the
/// others are blocked in it (the scenario, not a synchronisation: they said `waiting`).
const ABORT_DELAY: Duration = Duration::from_millis(200);
/// How soon an abort must reach the waiting ranks over tcp.
const ABORT_LIMIT: Duration = Duration::from_millis(100);
/// How long a job may take to join and finish its first allreduce (moto is slow to create
/// queues).
const READY_LIMIT: Duration = Duration::from_secs(90);
/// How long the survivors may take to report their failure before the test gives up.
const FAIL_LIMIT: Duration = Duration::from_secs(30);
/// How long a rank runs at most, so that a rank whose parent died does not loop forever.
const RANK_LIMIT: Duration = Duration::from_secs(300);

/// Now, in microseconds since the Unix epoch.
fn unix_micros() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    u64::try_from(since.as_micros()).expect("micros fit in u64")
}

/// What starts each line a rank says to the parent: the test harness writes to the same
/// stdout (`test rank ... ` without a line end, before the test runs).
const MARK: &str = "@rank-death ";

/// Prints one line for the parent and flushes it at once (the parent times these lines).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// One rank: joins the job from the environment and plays its part ([`LOOP`] or
/// [`ABORT`]). Not a test of its own outside a child run.
#[test]
fn rank() {
    let Some(mode) = std::env::var_os(CHILD) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut comm = fccl::init_from_env().await.expect("the rank joins its job");
        match mode.to_str() {
            Some(LOOP) => loop_until_failure(&mut comm).await,
            Some(ABORT) => wait_or_abort(&mut comm).await,
            _ => panic!("unknown mode {mode:?}"),
        }
    });
}

/// Loops allreduce with [`OP_TIMEOUT`]: says `ready` after the first one succeeds and
/// `failed KIND MICROS` when one fails, then returns. Panics after [`RANK_LIMIT`].
async fn loop_until_failure(comm: &mut fccl::Communicator) {
    let started = Instant::now();
    // Max keeps the values steady however many rounds run.
    let mut data = vec![comm.rank() as f32; COUNT];
    let mut ready = false;
    while started.elapsed() < RANK_LIMIT {
        let options = OpOptions::new().timeout(OP_TIMEOUT);
        let result = comm
            .with_options(options)
            .all_reduce(&mut data, ReduceOp::Max)
            .await;
        match result {
            Ok(()) if !ready => {
                say("ready");
                ready = true;
            }
            Ok(()) => {}
            Err(e) => {
                say(&format!("failed {:?} {}", e.kind(), unix_micros()));
                eprintln!("rank {} failed: {e}", comm.rank());
                return;
            }
        }
    }
    panic!("rank {} never failed in {RANK_LIMIT:?}", comm.rank());
}

/// One allreduce to connect and warm up (then `ready`); then the victim waits for `go` on
/// its stdin, waits [`ABORT_DELAY`], says `aborted MICROS`, aborts the communicator
/// (`Communicator::abort`; a call after it fails at once), and stays up until its stdin
/// closes, so that only the abort, not a closed connection, can end the others' wait. The
/// others say `waiting` and enter an allreduce the victim never joins, and report how it
/// ends (`failed KIND MICROS`).
async fn wait_or_abort(comm: &mut fccl::Communicator) {
    let mut data = vec![1.0f32; COUNT];
    comm.all_reduce(&mut data, ReduceOp::Sum)
        .await
        .expect("the first allreduce");
    say("ready");
    if comm.rank() != VICTIM {
        say("waiting");
        let options = OpOptions::new().timeout(ABORT_OP_TIMEOUT);
        let result = comm
            .with_options(options)
            .all_reduce(&mut data, ReduceOp::Sum)
            .await;
        match result {
            Ok(()) => panic!(
                "rank {}: the allreduce completed without rank 1",
                comm.rank()
            ),
            Err(e) => {
                say(&format!("failed {:?} {}", e.kind(), unix_micros()));
                eprintln!("rank {} failed: {e}", comm.rank());
            }
        }
        return;
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
    assert_eq!(line.trim(), "go", "the parent says go");
    tokio::time::sleep(ABORT_DELAY).await;
    say(&format!("aborted {}", unix_micros()));
    comm.abort("the test aborts").await;
    let mut data = vec![1.0f32; COUNT];
    let after = comm.all_reduce(&mut data, ReduceOp::Sum).await;
    let kind = after.map_err(|e| e.kind());
    assert_eq!(kind, Err(ErrorKind::Remote), "a call after the abort");
    // Stay connected until the parent has the others' lines and closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// What a rank process printed: one stdout line, or the end of its stdout.
enum Said {
    Line(String),
    Eof,
}

/// The rank processes of one job, killed (and reaped) when dropped, on every path.
struct Job {
    ranks: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    lines: Receiver<(usize, Said)>,
    /// The lines each rank said that no one expected yet, in order.
    heard: Vec<VecDeque<String>>,
    /// Whether each rank ended its output.
    ended: Vec<bool>,
    stderrs: Vec<Arc<Mutex<String>>>,
}

impl Job {
    /// Starts `RANKS` processes of this binary as the ranks of `job` in `mode`, with `env`
    /// added to their environment; a thread per rank forwards its stdout lines and another
    /// collects its stderr.
    fn start(job: &JobSpec, mode: &str, env: &[(&str, &str)]) -> Job {
        let job = job.to_string();
        let (tx, lines) = channel();
        let mut started = Job {
            ranks: Vec::new(),
            stdins: Vec::new(),
            lines,
            heard: vec![VecDeque::new(); RANKS],
            ended: vec![false; RANKS],
            stderrs: Vec::new(),
        };
        for r in 0..RANKS {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "rank", "--nocapture", "--test-threads", "1"])
                .env(CHILD, mode)
                .env("FCCL_JOB", &job)
                .env("FCCL_RANK", r.to_string())
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a rank process");
            forward_lines(r, child.stdout.take().unwrap(), tx.clone());
            let stderr = Arc::new(Mutex::new(String::new()));
            let mut pipe = child.stderr.take().unwrap();
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(&mut pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut text = sink.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
            started.stdins.push(child.stdin.take());
            started.ranks.push(child);
            started.stderrs.push(stderr);
        }
        started
    }

    /// Waits until `deadline` for the next line rank `r` says (see [`say`]) and returns it
    /// if it starts with `word`; panics at the deadline, if the rank ends its output first,
    /// or if it says anything else (a `failed` line before its time, say). The test
    /// harness's own lines are skipped.
    fn expect(&mut self, r: usize, word: &str, deadline: Instant) -> String {
        loop {
            if let Some(line) = self.heard[r].pop_front() {
                if line.split(' ').next() == Some(word) {
                    return line;
                }
                panic!("rank {r} said {line:?}, not {word:?}{}", self.report());
            }
            if self.ended[r] {
                let status = self.status(r);
                panic!(
                    "rank {r} ended ({status}) without saying {word:?}{}",
                    self.report()
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((from, Said::Line(line))) => {
                    if let Some(at) = line.find(MARK) {
                        self.heard[from].push_back(line[at + MARK.len()..].to_string());
                    }
                }
                Ok((from, Said::Eof)) => self.ended[from] = true,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no {word:?} from rank {r} by the deadline{}", self.report())
                }
            }
        }
    }

    /// Waits until `deadline` for `word` from every rank of `from` (as [`Job::expect`]);
    /// returns each rank's line.
    fn expect_all(
        &mut self,
        from: &[usize],
        word: &str,
        deadline: Instant,
    ) -> Vec<(usize, String)> {
        from.iter()
            .map(|&r| (r, self.expect(r, word, deadline)))
            .collect()
    }

    /// Kills rank `r` with SIGKILL and returns the time just before the signal.
    fn kill(&mut self, r: usize) -> u64 {
        let at = unix_micros();
        self.ranks[r].kill().expect("SIGKILL to a rank");
        at
    }

    /// Writes `line` to rank `r`'s stdin.
    fn tell(&mut self, r: usize, line: &str) {
        let stdin = self.stdins[r].as_mut().expect("an open stdin");
        writeln!(stdin, "{line}").expect("write to a rank");
        stdin.flush().expect("flush to a rank");
    }

    /// Rank `r`'s exit status once it has ended its output (it exits right after; waited
    /// for at most 5 s).
    fn status(&mut self, r: usize) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.ranks[r].try_wait() {
                return status.to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        "no exit within 5 s of the end of its output".to_string()
    }

    /// Every rank's stderr so far, for a failure message.
    fn report(&self) -> String {
        let mut out = String::new();
        for (r, stderr) in self.stderrs.iter().enumerate() {
            out.push_str(&format!(
                "\n--- rank {r} stderr:\n{}",
                stderr.lock().unwrap()
            ));
        }
        out
    }
}

impl Drop for Job {
    /// Closes the ranks' stdins and kills and reaps every rank still running.
    fn drop(&mut self) {
        self.stdins.clear();
        for child in &mut self.ranks {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Forwards each stdout line of rank `r` to `tx`, then [`Said::Eof`].
fn forward_lines(r: usize, stdout: std::process::ChildStdout, tx: Sender<(usize, Said)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((r, Said::Line(line))).is_err() {
                return;
            }
        }
        let _ = tx.send((r, Said::Eof));
    });
}

/// Parses `failed KIND MICROS` into the kind's name and the time.
fn parse_failed(line: &str) -> (String, u64) {
    let mut words = line.split(' ').skip(1);
    let kind = words.next().expect("a kind").to_string();
    let at = words.next().and_then(|w| w.parse().ok()).expect("a time");
    (kind, at)
}

/// The ranks other than the victim.
fn survivors() -> Vec<usize> {
    (0..RANKS).filter(|&r| r != VICTIM).collect()
}

/// Runs a job of [`RANKS`] looping allreduce over `job`, kills rank [`VICTIM`] once every
/// rank is ready, and checks that every survivor fails with `Remote` or `Timeout` within
/// [`OP_TIMEOUT`] + [`SLACK`] of the kill; prints each survivor's detection time.
fn killed_rank_fails_the_others(transport: &str, job: &JobSpec, env: &[(&str, &str)]) {
    let mut ranks = Job::start(job, LOOP, env);
    let all: Vec<usize> = (0..RANKS).collect();
    // A failure before the kill fails the test: `expect` takes no other word.
    ranks.expect_all(&all, "ready", Instant::now() + READY_LIMIT);
    let killed_at = ranks.kill(VICTIM);
    let lines = ranks.expect_all(&survivors(), "failed", Instant::now() + FAIL_LIMIT);
    let kinds = [ErrorKind::Remote, ErrorKind::Timeout];
    check_failures(
        &ranks,
        lines,
        transport,
        "was killed",
        killed_at,
        &kinds,
        OP_TIMEOUT + SLACK,
    );
}

/// Checks each survivor's `failed KIND MICROS` line: it failed no earlier than `since` (the
/// victim's kill or abort, which the message calls `event`), with one of `kinds`, and at
/// most `limit` after it; prints each detection time.
fn check_failures(
    ranks: &Job,
    lines: Vec<(usize, String)>,
    transport: &str,
    event: &str,
    since: u64,
    kinds: &[ErrorKind],
    limit: Duration,
) {
    let limit_us = u64::try_from(limit.as_micros()).unwrap();
    for (r, line) in lines {
        let (kind, at) = parse_failed(&line);
        assert!(
            at >= since,
            "{transport}: rank {r} failed before rank {VICTIM} {event}{}",
            ranks.report()
        );
        let after = at - since;
        eprintln!(
            "{transport}: rank {r} failed with {kind} {:.1} ms after rank {VICTIM} {event}",
            after as f64 / 1000.0
        );
        assert!(
            kinds.iter().any(|k| kind == format!("{k:?}")),
            "{transport}: rank {r} failed with {kind}, not one of {kinds:?}{}",
            ranks.report()
        );
        assert!(
            after <= limit_us,
            "{transport}: rank {r} failed {after} µs after rank {VICTIM} {event}, over {limit:?}{}",
            ranks.report()
        );
    }
}

#[test]
fn a_killed_rank_fails_the_others_over_tcp() {
    killed_rank_fails_the_others("tcp", &fccl_tests::tcp::job(RANKS, ""), &[]);
}

#[test]
fn a_killed_rank_fails_the_others_over_memcached() {
    let Some(server) = Memcached::start(&["-m", "1024"]) else {
        return;
    };
    let job = JobSpec::new(RANKS, format!("memcached://{}", server.addr())).unwrap();
    killed_rank_fails_the_others("memcached", &job, &[]);
}

#[test]
fn a_killed_rank_fails_the_others_over_redis() {
    let Some(server) = Redis::start() else {
        return;
    };
    let job = JobSpec::new(RANKS, format!("redis://{}", server.addr())).unwrap();
    killed_rank_fails_the_others("redis", &job, &[]);
}

#[test]
fn a_killed_rank_fails_the_others_over_sqs() {
    let Some(server) = Moto::start() else {
        return;
    };
    let url = format!("sqs://us-east-1/death?endpoint={}", server.endpoint());
    let job = JobSpec::new(RANKS, url).unwrap();
    // moto takes any credentials; the ranks find these in the standard chain.
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    killed_rank_fails_the_others("sqs", &job, &env);
}

#[test]
fn an_abort_reaches_the_waiting_ranks_over_tcp_within_100_ms() {
    let mut ranks = Job::start(&fccl_tests::tcp::job(RANKS, ""), ABORT, &[]);
    let all: Vec<usize> = (0..RANKS).collect();
    ranks.expect_all(&all, "ready", Instant::now() + READY_LIMIT);
    ranks.expect_all(&survivors(), "waiting", Instant::now() + READY_LIMIT);
    ranks.tell(VICTIM, "go");
    let deadline = Instant::now() + FAIL_LIMIT;
    let aborted = ranks.expect(VICTIM, "aborted", deadline);
    let aborted_at: u64 = aborted[8..].parse().expect("a time");
    let lines = ranks.expect_all(&survivors(), "failed", deadline);
    let kinds = [ErrorKind::Remote];
    check_failures(
        &ranks,
        lines,
        "tcp",
        "aborted",
        aborted_at,
        &kinds,
        ABORT_LIMIT,
    );
}
