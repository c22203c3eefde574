//! Finding the library and `fccl`, compiling C programs, and running jobs with a time limit.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `ffi/` folder.
pub fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder cargo builds this profile into (`target/debug`): the test binary lives in its
/// `deps/`, and the C libraries of this crate beside it.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// `libfccl.so` (or `libfccl.a` when `static_lib`) of this test's target folder and
/// profile, once per test process: see [`fresh_or_built`].
pub fn library(static_lib: bool) -> PathBuf {
    static SHARED: OnceLock<PathBuf> = OnceLock::new();
    static STATIC: OnceLock<PathBuf> = OnceLock::new();
    let (cell, name) = if static_lib {
        (&STATIC, "libfccl.a")
    } else {
        (&SHARED, "libfccl.so")
    };
    cell.get_or_init(|| fresh_or_built(name, &["-p", "fccl-ffi", "--lib"]))
        .clone()
}

/// The `fccl` program of the same target folder and profile as this test, once per test
/// process: see [`fresh_or_built`].
pub fn fccl_program() -> PathBuf {
    static FCCL: OnceLock<PathBuf> = OnceLock::new();
    FCCL.get_or_init(|| fresh_or_built("fccl", &["-p", "fccl", "--bin", "fccl"]))
        .clone()
}

/// The artifact `name` of this test's target folder and profile: the one a workspace
/// build left there when it is newer than every source it is built from (as after
/// `scripts/test.sh`, which builds the libraries and programs before the tests, with the
/// features of the test build), else one built now with `cargo build TARGET` (whose
/// features differ, so that most of the workspace compiles again).
fn fresh_or_built(name: &str, target: &[&str]) -> PathBuf {
    let profile = profile_dir();
    let artifact = profile.join(name);
    let built = std::fs::metadata(&artifact).and_then(|m| m.modified()).ok();
    if built.is_some_and(|b| newest_source().is_some_and(|s| s < b)) {
        return artifact;
    }
    let target_dir = profile.parent().expect("<target>/<profile>");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet"])
        .args(target)
        .arg("--manifest-path")
        .arg(ffi_dir().join("../Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile.file_name().and_then(OsStr::to_str) {
        Some("debug") => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(other) => {
            build.args(["--profile", other]);
        }
        None => panic!("no profile folder in {}", profile.display()),
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build {} failed", target.join(" "));
    assert!(
        artifact.exists(),
        "{} is missing after the build",
        artifact.display()
    );
    artifact
}

/// When the newest source of the `fccl` program or the C library changed: their crates'
/// sources and manifests, and the lock file.
fn newest_source() -> Option<std::time::SystemTime> {
    fn walk(path: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(t) = meta.modified() {
            *newest = (*newest).max(Some(t));
        }
    }
    let root = ffi_dir().join("..");
    let mut newest = None;
    for part in ["Cargo.toml", "Cargo.lock", "src"] {
        walk(&root.join(part), &mut newest);
    }
    for krate in ["collectives", "transports", "ml", "benches", "ffi"] {
        walk(&root.join(krate).join("src"), &mut newest);
        walk(&root.join(krate).join("Cargo.toml"), &mut newest);
    }
    newest
}

/// A C source: one of `examples/NAME.c` or `tests/c/NAME.c`.
#[derive(Clone, Copy, Debug)]
pub enum Program {
    /// `ffi/examples/NAME.c`
    Example(&'static str),
    /// `ffi/tests/c/NAME.c`
    Test(&'static str),
}

/// A compiled C program, removed when dropped (a static one is hundreds of megabytes in a
/// debug build).
pub struct Exe(PathBuf);

impl std::ops::Deref for Exe {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Exe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Compiles a C program with `cc` against `include/fccl.h` and the shared library (or
/// the static one), warnings as errors, and returns the executable.
pub fn compile(program: Program, static_lib: bool) -> Exe {
    let (dir, name) = match program {
        Program::Example(name) => ("examples", name),
        Program::Test(name) => ("tests/c", name),
    };
    let source = ffi_dir().join(dir).join(format!("{name}.c"));
    let out_dir = profile_dir().join("ffi-c");
    std::fs::create_dir_all(&out_dir).expect("a folder for C programs");
    let suffix = if static_lib { "-static" } else { "" };
    let exe = out_dir.join(format!("{name}{suffix}-{}", std::process::id()));
    let mut cc = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()));
    cc.args([
        "-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread",
    ])
    .arg("-I")
    .arg(ffi_dir().join("include"))
    .arg(&source)
    .arg("-o")
    .arg(&exe);
    let lib = library(static_lib);
    if static_lib {
        // The system libraries the Rust standard library needs (rustc
        // --print native-static-libs).
        cc.arg(&lib).args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ]);
    } else {
        let dir = lib.parent().expect("a folder");
        cc.arg("-L").arg(dir).arg("-lfccl");
        cc.arg(format!("-Wl,-rpath,{}", dir.display()));
    }
    cc.arg("-lm");
    let output = cc.output().expect("cc runs");
    assert!(
        output.status.success(),
        "cc {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Exe(exe)
}

/// How a command ended, with everything it wrote.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Fails the test unless the command exited 0.
pub fn must_pass(done: &Finished, what: &str) {
    assert!(
        done.status.success(),
        "{what} failed ({:?} after {:?})\nstdout:\n{}\nstderr:\n{}",
        done.status,
        done.elapsed,
        done.stdout,
        done.stderr
    );
}

/// Runs `command` to its end; past `limit` it is stopped (SIGTERM, then SIGKILL) and the
/// test fails.
pub fn run(command: &mut Command, limit: Duration) -> Finished {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let collect = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("piped")));
    let stderr = collect(Box::new(child.stderr.take().expect("piped")));
    let deadline = start + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SIGTERM lets `fccl run` end its ranks; SIGKILL if it does not.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        stdout.join().expect("reader"),
        stderr.join().expect("reader"),
    );
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

/// `fccl run -n N -- ARGS...` (loopback TCP, the job's timeouts long enough for valgrind).
pub fn fccl_run(ranks: usize, args: &[&OsStr], limit: Duration) -> Finished {
    fccl_run_env(ranks, &mut args.to_vec(), &[], limit)
}

/// [`fccl_run`] with extra environment variables.
pub fn fccl_run_env(
    ranks: usize,
    args: &mut Vec<&OsStr>,
    env: &[(&str, &OsStr)],
    limit: Duration,
) -> Finished {
    let mut command = Command::new(fccl_program());
    for var in [
        "FCCL_JOB",
        "FCCL_RANK",
        "FCCL_SIZE",
        "FCCL_RENDEZVOUS_TOKEN",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
        .args([
            "run",
            "-n",
            &ranks.to_string(),
            "--timeout-ms",
            "120000",
            "--",
        ])
        .args(args.iter());
    run(&mut command, limit)
}

/// A program on the `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// `python3`, after checking that it has numpy (scripts/test.sh installs it).
pub fn python_with_numpy() -> PathBuf {
    let python = which("python3").expect("python3 is not installed");
    let ok = Command::new(&python)
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "numpy is missing: scripts/test.sh installs it (python3 -m pip install numpy)"
    );
    python
}
