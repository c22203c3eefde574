//! The job secret stays out of what `fccl run` and its ranks print, even at the most verbose
//! logging, and out of every process's command line while the job runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::{Running, fccl, moto_server, spawn_collecting};

/// The command lines of `root` and every process below it, by pid.
fn command_lines(root: u32) -> BTreeMap<u32, String> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the command may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut family = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for &(pid, ppid) in &parents {
            if family.contains(&ppid) && !family.contains(&pid) {
                family.push(pid);
                grew = true;
            }
        }
    }
    family
        .into_iter()
        .filter_map(|pid| {
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            Some((pid, line))
        })
        .collect()
}

/// The `FCCL_JOB` in the environment of process `pid`, if it has one.
fn job_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"FCCL_JOB="))
        .map(|job| String::from_utf8_lossy(job).into_owned())
}

/// Over tcp: no output, and no command line of the launcher, its shell or the ranks.
#[test]
fn the_secret_is_in_no_output_or_command_line_over_tcp() {
    secret_stays_hidden(&[], &[]);
}

/// Over SQS (moto), where the ranks and the AWS SDK log every request at `trace`: no log
/// line either.
#[test]
fn the_secret_is_in_no_trace_log_over_sqs() {
    let Some((_moto, addr)) = moto_server() else {
        return;
    };
    let transport = format!("sqs://us-east-1/secrets?endpoint=http://{addr}");
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let stderr = secret_stays_hidden(&["--transport", &transport], &env);
    // Trace logging was on: the ranks' logs came through the launcher.
    assert!(stderr.contains("TRACE"), "{stderr}");
}

/// Runs `fccl run -n 2 ARGS -- fccl bench allreduce` with `FCCL_LOG=trace` and `env`,
/// watching the command lines of every process of the job while it runs; checks that the
/// secret is in none of them nor in the output, and returns standard error.
fn secret_stays_hidden(args: &[&str], env: &[(&str, &str)]) -> String {
    let fccl_path = env!("CARGO_BIN_EXE_fccl");
    let (child, stdout, stderr) = spawn_collecting(
        fccl()
            .env("FCCL_LOG", "trace")
            .envs(env.iter().copied())
            .args(["run", "-n", "2"])
            .args(args)
            .args(["--", "sh", "-c"])
            .arg("\"$0\" bench allreduce --sizes 1K:64K --iters 20 && sleep 1")
            .arg(fccl_path),
    );
    let launcher = child.id();
    let mut child = Running(child);
    let mut seen: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut job = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the job ran past its limit");
        for (pid, line) in command_lines(launcher) {
            if job.is_none() && pid != launcher {
                job = job_of(pid);
            }
            let lines = seen.entry(pid).or_default();
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("  yes "), "{stdout}");
    let job = job.expect("a rank's environment holds the job string");
    let job: fccl::JobSpec = job.parse().expect("a job string");
    let text = job.to_string();
    let secret: String = job
        .secret
        .bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ranks = seen
        .values()
        .filter(|lines| lines.iter().any(|l| l.contains(" bench allreduce")))
        .count();
    assert!(ranks >= 2, "saw the command lines {seen:?}");
    assert!(seen.contains_key(&launcher));
    // Any 16 hex digits of the secret, in either case, or the whole job string.
    let leaks = |body: &str| {
        let folded = body.to_ascii_lowercase();
        (0..=secret.len() - 16).any(|i| folded.contains(&secret[i..i + 16])) || body.contains(&text)
    };
    assert!(!leaks(&stdout), "the secret in stdout");
    assert!(!leaks(&stderr), "the secret in stderr");
    for (pid, lines) in &seen {
        for line in lines {
            assert!(
                !leaks(line),
                "the secret on pid {pid}'s command line: {line}"
            );
        }
    }
    stderr
}
