//! A local Lambda emulator, `cargo lambda watch`, serving the `fccl` under test as the
//! function `fccl` (`fccl worker`) on a free loopback port.
//!
//! `cargo lambda watch` starts each function instance with `cargo run --bin NAME -- ARGS`
//! (one process per concurrent invocation, as Lambda runs one execution environment per
//! concurrent invocation). It takes that `cargo` from the `CARGO` variable, so the emulator
//! here gets a small script as `CARGO` that runs the `fccl` this test was built with for
//! `run` and the real cargo for anything else (`cargo metadata`): no instance compiles, and
//! start-up takes about a second.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TempDir, eventually, signal};

/// How long the emulator may take to listen.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A `cargo lambda watch` child process, stopped (with its function instances) on drop.
pub(crate) struct Emulator {
    child: Child,
    port: u16,
    dir: TempDir,
}

/// Whether `cargo-lambda` can run here; panics under CI if it cannot.
fn installed() -> bool {
    let installed = Command::new("cargo-lambda")
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "cargo-lambda is not installed (scripts/test.sh installs it)"
        );
        eprintln!("cargo-lambda is not installed: skipping this test");
    }
    installed
}

impl Emulator {
    /// Starts the emulator with up to `concurrency` instances of the function `fccl`
    /// (`fccl worker`), each with `env` in its environment; `None` if there is no
    /// `cargo-lambda`.
    pub(crate) fn start(concurrency: usize, env: &[(&str, &str)]) -> Option<Emulator> {
        Emulator::serving(Path::new(env!("CARGO_BIN_EXE_fccl")), concurrency, env)
    }

    /// [`Emulator::start`] with `program worker` as the function `fccl`: an example's
    /// program, say.
    pub(crate) fn serving(
        program: &Path,
        concurrency: usize,
        env: &[(&str, &str)],
    ) -> Option<Emulator> {
        if !installed() {
            return None;
        }
        let dir = TempDir::new("lambda");
        // A link, not the path cargo builds to: a rebuild while the test runs replaces
        // that file, not this one.
        let fccl = dir.path().join("function");
        if std::fs::hard_link(program, &fccl).is_err() {
            std::fs::copy(program, &fccl).expect("a copy of the function's program");
        }
        let shim = dir.path().join("cargo");
        let script = format!(
            "#!/bin/sh\n\
             # cargo lambda watch runs `cargo run ... -- ARGS` per instance: run fccl ARGS.\n\
             if [ \"$1\" = run ]; then\n\
             \x20   echo $$ >> {instances}\n\
             \x20   while [ $# -gt 0 ] && [ \"$1\" != -- ]; do shift; done\n\
             \x20   shift\n\
             \x20   # As Lambda runs a function's bootstrap: with no arguments.\n\
             \x20   if [ -n \"$FCCL_TEST_BOOTSTRAP\" ]; then exec {fccl}; fi\n\
             \x20   exec {fccl} \"$@\"\n\
             fi\n\
             exec {cargo} \"$@\"\n",
            instances = dir.path().join("instances").display(),
            fccl = fccl.display(),
            cargo = env!("CARGO"),
        );
        std::fs::write(&shim, script).expect("the cargo shim");
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))
            .expect("an executable shim");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = std::fs::File::create(dir.path().join("emulator.log")).expect("a log file");
        let mut command = Command::new("cargo-lambda");
        command
            .args(["lambda", "watch", "--ignore-changes"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--bin", "fccl", "worker"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO", &shim)
            .env_remove("FCCL_JOB")
            .env_remove("FCCL_RANK")
            .env_remove("FCCL_RENDEZVOUS_TOKEN")
            .envs(env.iter().copied())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log);
        let child = command.spawn().expect("cargo-lambda starts");
        let emulator = Emulator { child, port, dir };
        let up = eventually(START_LIMIT, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "the emulator did not listen within {START_LIMIT:?}:\n{}",
            emulator.log()
        );
        Some(emulator)
    }

    /// Where invocations go: `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the emulator wrote.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
    }

    /// The process ids of the function instances started so far, one per instance.
    pub(crate) fn instances(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("instances"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Invokes function `function` with `body` as raw HTTP, as any client of the invoke
    /// API can; the status code and the body of the answer.
    pub(crate) fn invoke_raw(&self, function: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("a connection");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let request = format!(
            "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Emulator {
    /// Stops the emulator, then whatever instance outlived it (each runs in a process
    /// group of its own).
    fn drop(&mut self) {
        let instances = self.instances();
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in instances {
            // Only if that process still runs the function (the id is not another's by now).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*self.dir.path().to_string_lossy()) {
                signal(pid, "KILL");
            }
        }
    }
}
