//! The conformance suite over the redis transport, ranks as threads of this process (each
//! with its own endpoint and I/O thread), against one `redis-server` per test process on a
//! free loopback port. Without `redis-server` on the PATH the tests say so and pass.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fccl_collectives::{JobSpec, Transport};
use fccl_transports::redis::{RedisSpec, RedisTransport};

/// The redis server of this test process: its port, and the shell that runs it with the
/// pipe whose closing ends it.
struct Server {
    port: u16,
    _shell: Mutex<(Child, ChildStdin)>,
}

/// The port of this test process's redis server, started on first use; `None` without
/// `redis-server`. The server runs under a shell that kills it once this process's end of
/// its standard input closes (and reaps it), so it ends with the test process (statics are never dropped).
fn server_port() -> Option<u16> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            // The README's test command installs it: under CI a missing server fails.
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed (scripts/test.sh installs it)"
            );
            eprintln!("redis-server is not installed: skipping the redis conformance suite");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("redis-server \"$@\" & read _; kill $!; wait")
            .arg("sh")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let stdin = child.stdin.take().expect("a pipe to the shell");
        wait_for_pong(port);
        Some(Server {
            port,
            _shell: Mutex::new((child, stdin)),
        })
    });
    server.as_ref().map(|s| s.port)
}

/// Waits (up to 5 s) until the server on `port` answers a PING.
fn wait_for_pong(port: u16) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let pong = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(b"PING\r\n")?;
            let mut reply = [0; 7];
            s.read_exact(&mut reply)?;
            Ok(reply)
        });
        match pong {
            Ok(reply) if &reply == b"+PONG\r\n" => return,
            _ if Instant::now() > until => panic!("redis-server on port {port} did not answer"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `n` endpoints of a fresh job over this process's redis server.
fn endpoints(n: usize) -> Vec<Arc<dyn Transport>> {
    let port = server_port().expect("a redis server");
    let job = JobSpec::new(n, format!("redis://127.0.0.1:{port}")).expect("a valid job");
    let spec = RedisSpec::parse(&job.transport).expect("a redis spec");
    fccl_tests::join::join_all(n, |rank| RedisTransport::connect(&job, rank, &spec))
}

/// `fccl_tests::conformance_tests!`, with each test skipped where there is no
/// `redis-server`.
macro_rules! conformance_tests {
    ($($test:ident $p:literal),*) => {$(
        #[test]
        fn $test() {
            if server_port().is_some() {
                fccl_tests::conformance::run_ranks("redis", &endpoints, $p);
            }
        }
    )*};
}

conformance_tests!(ranks_1 1, ranks_2 2, ranks_3 3, ranks_4 4, ranks_5 5, ranks_7 7, ranks_8 8);
