//! `fccl train` as a user runs it: ranks as processes over tcp with JSON lines, a run the
//! time limit stops (exit code 3) that the same command resumes, and bad arguments.

use std::time::Duration;

use crate::support::{TempDir, fccl, run};

const LIMIT: Duration = Duration::from_secs(180);
const CRITEO: &str = "synthetic:criteo?rows=3000&bits=12&seed=2";

/// The JSON records in `text`, one per line.
fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// `fccl train` of logistic regression on the small Criteo-like task, plus `extra`.
fn train_lr(extra: &[&str]) -> std::process::Command {
    let mut command = fccl();
    command.args([
        "train",
        "--model",
        "lr",
        "--data",
        CRITEO,
        "--batch",
        "100",
        "--epochs",
        "3",
        "--optimizer",
        "adam:lr=0.05",
    ]);
    command.args(extra);
    command
}

#[test]
fn train_over_tcp_writes_a_record_per_epoch_and_a_final_one() {
    let dir = TempDir::new("train-json");
    let json = dir.path().join("train.json");
    let json_arg = json.to_str().unwrap();
    let done = run(&mut train_lr(&["-n", "2", "--json", json_arg]), LIMIT);
    assert!(done.status.success(), "{done:?}");
    let records = records(&std::fs::read_to_string(&json).unwrap());
    // 2400 training rows in batches of 100: 24 steps per epoch.
    assert_eq!(records.len(), 3, "{records:#?}");
    for (e, r) in records.iter().enumerate() {
        assert_eq!(r["ranks"], 2, "{r}");
        assert_eq!(r["updates"], 24 * (e + 1), "{r}");
        assert_eq!(r["final"], e == 2, "{r}");
        assert!(r["accuracy"].as_f64().unwrap() > 0.5, "{r}");
        for key in [
            "test_loss",
            "objective",
            "samples_per_s",
            "updates_per_s",
            "bytes_per_update",
            "compute_s",
            "communicate_s",
        ] {
            assert!(r[key].as_f64().is_some(), "{key} in {r}");
        }
    }
    assert_eq!(records[2]["finished"], true);
    // The lines on stdout say the same, rank 0's only.
    assert_eq!(done.stdout.lines().count(), 3, "{}", done.stdout);
    assert!(done.stdout.contains("(final)"), "{}", done.stdout);
}

#[test]
fn a_time_limited_run_exits_3_and_the_same_command_resumes_it() {
    let dir = TempDir::new("train-limit");
    let checkpoint = dir.path().join("run.ckpt");
    let checkpoint = checkpoint.to_str().unwrap();
    let common = ["-n", "2", "--transport", "local", "--json", "-"];
    let whole = run(&mut train_lr(&common), LIMIT);
    assert!(whole.status.success(), "{whole:?}");
    let whole = records(&whole.stdout).pop().unwrap();

    let with_checkpoint: Vec<&str> = common
        .iter()
        .copied()
        .chain(["--checkpoint", checkpoint])
        .collect();
    let mut limited_args = with_checkpoint.clone();
    limited_args.extend(["--time-limit", "0"]);
    let stopped = run(&mut train_lr(&limited_args), LIMIT);
    assert_eq!(stopped.status.code(), Some(3), "{stopped:?}");
    let stopped = records(&stopped.stdout).pop().unwrap();
    assert_eq!(
        (&stopped["final"], &stopped["finished"]),
        (&true.into(), &false.into())
    );
    assert_eq!(stopped["updates"], 1);

    let resumed = run(&mut train_lr(&with_checkpoint), LIMIT);
    assert!(resumed.status.success(), "{resumed:?}");
    let resumed = records(&resumed.stdout).pop().unwrap();
    assert_eq!(resumed["finished"], true);
    assert_eq!(
        resumed["updates"], 71,
        "the steps that were left: {resumed}"
    );
    assert_eq!(resumed["objective"], whole["objective"]);
    assert_eq!(resumed["test_loss"], whole["test_loss"]);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let cases: [(&[&str], &str); 4] = [
        (&["--model", "mf", "--data", CRITEO], "needs ratings"),
        (&["--model", "svm", "--data", CRITEO], "unknown model"),
        (
            &[
                "--model",
                "lr",
                "--data",
                CRITEO,
                "--mode",
                "ps",
                "--compress",
                "f16",
            ],
            "--mode sync only",
        ),
        (
            &["--model", "lr", "--data", "no/such/file"],
            "neither a dataset name",
        ),
    ];
    for (args, expected) in cases {
        let mut command = fccl();
        command
            .arg("train")
            .args(args)
            .args(["--transport", "local"]);
        let done = run(&mut command, LIMIT);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {done:?}");
        assert!(done.stderr.contains(expected), "{args:?}: {}", done.stderr);
    }
}
