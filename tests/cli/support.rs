//! Starting `fccl` with a time limit, temporary folders, and checks on processes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// The servers' harness of the fccl-tests crate, for its free port and its spawn-or-skip.
#[path = "../src/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

/// The `fccl` program under test, in an environment without any job's variables.
pub(crate) fn fccl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fccl"));
    for var in [
        "FCCL_JOB",
        "FCCL_RANK",
        "FCCL_SIZE",
        "FCCL_RENDEZVOUS_TOKEN",
        "FCCL_BENCH_SWEEP",
        "FCCL_BENCH_RECORDS",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// How a command ended, with everything it wrote.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

/// Starts `command` with its stdout and stderr piped, each read to its end by a thread.
pub(crate) fn spawn_collecting(
    command: &mut Command,
) -> (Child, JoinHandle<String>, JoinHandle<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fccl starts");
    let stdout = collect(child.stdout.take().expect("piped"));
    let stderr = collect(child.stderr.take().expect("piped"));
    (child, stdout, stderr)
}

/// Runs `command` to its end; past `limit` it is stopped (SIGTERM, then SIGKILL) and the
/// test fails.
pub(crate) fn run(command: &mut Command, limit: Duration) -> Finished {
    let start = Instant::now();
    let (mut child, stdout, stderr) = spawn_collecting(command);
    let status = wait(&mut child, limit);
    let stdout = stdout.join().expect("reader");
    let stderr = stderr.join().expect("reader");
    let Some(status) = status else {
        panic!("{command:?} ran past {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    };
    Finished {
        status,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

/// Waits up to `limit` for `child`; past it, stops the child and returns `None`.
pub(crate) fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop(child);
    None
}

/// Stops `child`: SIGTERM (so `fccl run` ends its ranks), SIGKILL a few seconds later.
pub(crate) fn stop(child: &mut Child) {
    signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends signal `name` (`TERM`, `INT`, ...) to `pid`.
pub(crate) fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Reads `from` to its end on a thread of its own; the text, lossily decoded.
pub(crate) fn collect(from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = BufReader::new(from).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A child that is stopped when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            stop(&mut self.0);
        }
    }
}

/// Starts `fccl rendezvous` on a free loopback port; returns it and its address.
pub(crate) fn rendezvous() -> (Running, String) {
    let mut child = fccl()
        .args(["rendezvous", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fccl rendezvous starts");
    let stdout = child.stdout.take().expect("piped");
    let server = Running(child);
    let (line, first) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = line.send(lines.next());
        // Keep reading so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let line = first
        .recv_timeout(Duration::from_secs(20))
        .expect("fccl rendezvous says where it listens")
        .expect("a line")
        .expect("readable");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (server, addr)
}

/// A fresh folder, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("fccl-cli-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary folder");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether process `pid` has ended (a zombie counts as ended: it runs no more).
pub(crate) fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Waits up to `limit` for `done`; whether it came true.
pub(crate) fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids in the `*.pid` files of `dir`.
pub(crate) fn pids(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "pid") {
            let text = std::fs::read_to_string(&path).expect("a pid file");
            pids.push(text.trim().parse().expect("a pid"));
        }
    }
    pids
}

/// A shell script for a rank that records its shell's pid and a background child's pid in
/// `$OUT/RANK-sh.pid` and `$OUT/RANK-sleep.pid` (each written whole, then renamed), runs
/// `then`, and waits for its child.
pub(crate) fn recording_rank(then: &str) -> String {
    format!(
        "echo $$ > $OUT/$FCCL_RANK-sh.tmp && mv $OUT/$FCCL_RANK-sh.tmp $OUT/$FCCL_RANK-sh.pid; \
         sleep 30 & echo $! > $OUT/$FCCL_RANK-sleep.tmp && \
         mv $OUT/$FCCL_RANK-sleep.tmp $OUT/$FCCL_RANK-sleep.pid; {then}; wait"
    )
}

/// Starts a `redis-server` on a free loopback port (killed when the result drops) and
/// waits until it accepts connections; returns it and its `HOST:PORT`. `None` when this
/// machine has no `redis-server`, which fails under CI (`scripts/test.sh` installs it).
pub(crate) fn redis_server() -> Option<(Running, String)> {
    store_server("redis-server", |port| {
        [
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec()
    })
}

/// [`redis_server`] for a `memcached` (1 GiB of memory, no UDP).
pub(crate) fn memcached_server() -> Option<(Running, String)> {
    store_server("memcached", |port| {
        [
            "-l",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "0",
            "-m",
            "1024",
            "-u",
            "root",
        ]
        .map(String::from)
        .to_vec()
    })
}

/// [`redis_server`] for a `moto_server`, an SQS look-alike; its endpoint is
/// `http://HOST:PORT`.
pub(crate) fn moto_server() -> Option<(Running, String)> {
    store_server("moto_server", |port| {
        ["-H", "127.0.0.1", "-p", port].map(String::from).to_vec()
    })
}

/// Calls SQS action `action` (`ListQueues`, ...) with the JSON `body` on the
/// `moto_server` at `addr`, in SQS's JSON protocol, and returns the answer's JSON.
pub(crate) fn sqs_call(addr: &str, action: &str, body: &str) -> serde_json::Value {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("moto answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nX-Amz-Target: AmazonSQS.{action}\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 \
         Credential=testing/20260101/us-east-1/sqs/aws4_request\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("a request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.contains(" 200 "), "{answer}");
    serde_json::from_str(body).expect("a JSON answer")
}

/// The URLs of the SQS queues the `moto_server` at `addr` holds.
pub(crate) fn sqs_queue_urls(addr: &str) -> Vec<String> {
    sqs_call(addr, "ListQueues", "{}")["QueueUrls"]
        .as_array()
        .map(|urls| {
            urls.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `program` with the arguments `args(port)` on a free loopback port.
fn store_server(program: &str, args: impl Fn(&str) -> Vec<String>) -> Option<(Running, String)> {
    let port = servers::free_port();
    let child =
        servers::spawn_or_skip(Command::new(program).args(args(&port.to_string())), program)?;
    let server = Running(child);
    let addr = format!("127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(up, "{program} on {addr} did not start");
    Some((server, addr))
}
