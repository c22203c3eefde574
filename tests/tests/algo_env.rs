//! `FCCL_ALGO_<COLLECTIVE>` names that are unknown or not offered are refused with
//! `InvalidArgument`. The variables are set only in a child process (this test binary run
//! again for one ignored test), so they cannot leak into other tests, and no test of this
//! process changes its environment.

use std::process::Command;

use fccl_collectives::{ErrorKind, ReduceOp, local};

/// Runs the ignored test `name` of this binary in a child process with `vars` set.
fn in_child(name: &str, vars: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FCCL_ALGO_ENV_CHILD", "1")
        .envs(vars.iter().copied())
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_child() -> bool {
    std::env::var_os("FCCL_ALGO_ENV_CHILD").is_some()
}

#[test]
fn unknown_algorithm_names_are_refused() {
    in_child(
        "child_unknown_names",
        &[
            ("FCCL_ALGO_ALLREDUCE", "no_such_algorithm"),
            ("FCCL_ALGO_BROADCAST", "ring"),
        ],
    );
}

#[test]
#[ignore = "run by unknown_algorithm_names_are_refused in a child process"]
fn child_unknown_names() {
    assert!(
        is_child(),
        "run this through unknown_algorithm_names_are_refused"
    );
    local::run(2, |mut comm| async move {
        let e = comm
            .all_reduce(&mut [1i32; 4], ReduceOp::Sum)
            .await
            .expect_err("an unknown name is refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("no_such_algorithm") && text.contains("known:"),
            "{text}"
        );

        let e = comm
            .broadcast(&mut [1u8; 4], 0)
            .await
            .expect_err("an algorithm the collective does not offer is refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("FCCL_ALGO_BROADCAST") && text.contains("not a broadcast algorithm"),
            "{text}"
        );
        // Refused before anything was sent: the communicator still works (barrier has no
        // variable set).
        comm.barrier().await.expect("the communicator still works");
    });
}

#[test]
fn a_valid_name_in_the_environment_is_used() {
    in_child("child_valid_name", &[("FCCL_ALGO_BROADCAST", "Binomial")]);
}

#[test]
#[ignore = "run by a_valid_name_in_the_environment_is_used in a child process"]
fn child_valid_name() {
    assert!(
        is_child(),
        "run this through a_valid_name_in_the_environment_is_used"
    );
    let got = local::run(3, |mut comm| async move {
        let mut v = vec![comm.rank() as u32; 5];
        comm.broadcast(&mut v, 1).await.unwrap();
        (v, comm.last_algorithm())
    });
    for (v, alg) in got {
        assert_eq!(v, [1; 5]);
        assert_eq!(alg, Some(fccl_collectives::Algorithm::Binomial));
    }
}
