//! Real servers for tests, on free loopback ports: a `memcached` child process that is
//! killed on drop, can be restarted in place (same port), and lists its keys with its own
//! commands (`lru_crawler metadump all`, `stats`); a `redis-server` killed on drop; and a
//! `moto_server` (an SQS look-alike, `pip install 'moto[server]'`) killed on drop.
//!
//! Only the standard library is used, so other crates' tests can include this file with
//! `#[path]`. Without `memcached` (`redis-server`, `moto_server`) on the PATH,
//! [`Memcached::start`] ([`Redis::start`], [`Moto::start`]) says so and returns `None`,
//! except under CI (the `CI` variable set), where a missing server fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Says that `program` is missing and that the test is skipped; under CI (where the
/// README's test command has installed every server) fails the test instead.
fn missing(program: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} is not installed (scripts/test.sh installs it)"
    );
    eprintln!("{program} is not installed: skipping this test");
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts `command` (whose program is `program`) with its output discarded; `None`, after
/// [`missing`], if the program is not installed.
pub fn spawn_or_skip(command: &mut Command, program: &str) -> Option<Child> {
    match command.stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
        Ok(child) => Some(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing(program);
            None
        }
        Err(e) => panic!("cannot start {program}: {e}"),
    }
}

/// Waits until `answers`, checking every `every`; fails the test after `limit`.
fn wait_until_answering(what: &str, limit: Duration, every: Duration, answers: impl Fn() -> bool) {
    let until = Instant::now() + limit;
    while !answers() {
        assert!(
            Instant::now() < until,
            "{what} did not answer within {limit:?}"
        );
        std::thread::sleep(every);
    }
}

/// A `memcached` child process on a loopback port.
pub struct Memcached {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
}

/// Whether `memcached` can run here; panics under CI if it cannot.
pub fn memcached_installed() -> bool {
    let installed = Command::new("memcached")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        missing("memcached");
    }
    installed
}

impl Memcached {
    /// Starts `memcached -l 127.0.0.1 -p PORT -U 0 ARGS` (say `-m 1024`, `-I 256k`) on a
    /// free port and waits until it answers; `None` if there is no `memcached`.
    pub fn start(args: &[&str]) -> Option<Memcached> {
        if !memcached_installed() {
            return None;
        }
        let mut server = Memcached {
            child: None,
            port: free_port(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let child = Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &self.port.to_string(), "-U", "0"])
            // memcached refuses to run as root without a user to switch to.
            .args(["-u", "nobody"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached starts");
        self.child = Some(child);
        let what = format!("memcached on port {}", self.port);
        let answers = || self.try_command("version\r\n").is_ok();
        wait_until_answering(
            &what,
            Duration::from_secs(5),
            Duration::from_millis(10),
            answers,
        );
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server as `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (it stays down until [`Memcached::restart`]).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a fresh, empty one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn try_command(&self, command: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(command.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut out = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let last = matches!(line.trim_end(), "END" | "OK" | "BUSY" | "ERROR")
                || line.starts_with("VERSION")
                || line.starts_with("SERVER_ERROR")
                || line.starts_with("CLIENT_ERROR");
            out.push_str(&line);
            if last {
                break;
            }
        }
        Ok(out)
    }

    /// Sends one text command (with its `\r\n`) and returns the reply up to its last line.
    pub fn command(&self, command: &str) -> String {
        self.try_command(command).expect("memcached answers")
    }

    /// Every key on the server (`lru_crawler metadump all`, memcached 1.4.31 or later).
    pub fn keys(&self) -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = self.command("lru_crawler metadump all\r\n");
            if reply.trim_end().ends_with("BUSY") && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            return reply
                .lines()
                .filter_map(|l| l.strip_prefix("key="))
                .map(|l| unescape(l.split(' ').next().unwrap_or_default()))
                .collect();
        }
    }

    /// The server's `curr_items`.
    pub fn curr_items(&self) -> u64 {
        self.command("stats\r\n")
            .lines()
            .find_map(|l| l.strip_prefix("STAT curr_items "))
            .and_then(|v| v.trim().parse().ok())
            .expect("stats has curr_items")
    }

    /// Stores `value` under `key` (for ten minutes), as any client of the server can.
    pub fn set(&self, key: &str, value: &[u8]) {
        let mut command = format!("set {key} 0 600 {}\r\n", value.len()).into_bytes();
        command.extend_from_slice(value);
        command.extend_from_slice(b"\r\n");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("a connection");
        stream.write_all(&command).expect("set");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("reply");
        assert_eq!(line.trim_end(), "STORED");
    }

    /// The value stored under `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("a connection");
        stream
            .write_all(format!("get {key}\r\n").as_bytes())
            .expect("get");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("reply");
        let len: usize = line
            .trim_end()
            .strip_prefix("VALUE ")?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()?;
        let mut value = vec![0; len + 2];
        std::io::Read::read_exact(&mut reader, &mut value).expect("the value");
        value.truncate(len);
        Some(value)
    }

    /// Drops every item (`flush_all`).
    pub fn flush_all(&self) {
        assert_eq!(self.command("flush_all\r\n").trim_end(), "OK");
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Undoes metadump's URL encoding of keys.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `redis-server` child process on a loopback port, without persistence.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts `redis-server --port PORT --bind 127.0.0.1` on a free port and waits (up to
    /// 5 s) until it answers a `PING`; `None` if there is no `redis-server`.
    pub fn start() -> Option<Redis> {
        let port = free_port();
        let child = spawn_or_skip(
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"]),
            "redis-server",
        )?;
        let server = Redis { child, port };
        let what = format!("redis-server on port {port}");
        let every = Duration::from_millis(10);
        wait_until_answering(&what, Duration::from_secs(5), every, || server.answers());
        Some(server)
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut line = String::new();
        stream.write_all(b"PING\r\n").is_ok()
            && BufReader::new(stream).read_line(&mut line).is_ok()
            && line == "+PONG\r\n"
    }

    /// The server as `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many keys the server holds (`DBSIZE`).
    pub fn dbsize(&self) -> u64 {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("redis answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
        stream.write_all(b"DBSIZE\r\n").expect("a command");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("a reply");
        line.trim_end()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("DBSIZE answered {line:?}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `moto_server` child process (AWS look-alikes, SQS among them) on a loopback port.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` on a free port and waits (up to 30 s)
    /// until it answers HTTP; `None` if there is no `moto_server`.
    pub fn start() -> Option<Moto> {
        let port = free_port();
        let child = spawn_or_skip(
            Command::new("moto_server").args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            "moto_server",
        )?;
        let server = Moto { child, port };
        let what = format!("moto_server on port {port}");
        let every = Duration::from_millis(50);
        wait_until_answering(&what, Duration::from_secs(30), every, || server.answers());
        Some(server)
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("HTTP/")
    }

    /// The server's endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URLs of the queues the server holds (SQS `ListQueues`, in its JSON protocol).
    pub fn queue_urls(&self) -> Vec<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("moto answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n\
             Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\
             Authorization: AWS4-HMAC-SHA256 \
             Credential=testing/20260101/us-east-1/sqs/aws4_request\r\n\r\n{{}}",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.contains(" 200 "), "ListQueues answered {answer}");
        // `{"QueueUrls": ["http://...", ...]}`, or `{}` without queues: the URLs are the
        // quoted strings that start with http.
        body.split('"')
            .filter(|s| s.starts_with("http"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
