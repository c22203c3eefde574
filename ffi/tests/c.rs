//! The C API from C and Python: the examples and the C tests are compiled with `cc` against
//! `include/fccl.h` and the library cargo built for this test, and run as ranks of a job
//! by `fccl run`, each run bounded in time.

mod support;

use std::time::Duration;

use support::{Program, compile, fccl_run, must_pass};

/// Long enough for the slowest run here on a busy two-core machine; a hang fails.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn c_examples_run_on_four_ranks() {
    for (name, says) in [
        ("allreduce", "allreduce ok"),
        ("alltoall", "alltoall ok"),
        ("ring", "ring ok"),
    ] {
        let exe = compile(Program::Example(name), false);
        let done = fccl_run(4, &[exe.as_os_str()], LIMIT);
        must_pass(&done, name);
        for rank in 0..4 {
            let line = format!("[{rank}] rank {rank} of 4: {says}");
            assert!(done.stdout.contains(&line), "{name}: no {line:?}\n{done:?}");
        }
    }
}

#[test]
fn a_statically_linked_program_runs() {
    let exe = compile(Program::Example("allreduce"), true);
    let done = fccl_run(2, &[exe.as_os_str()], LIMIT);
    must_pass(&done, "allreduce (static)");
    assert!(
        done.stdout.contains("rank 1 of 2: allreduce ok"),
        "{done:?}"
    );
}

#[test]
fn every_collective_type_and_op_matches_a_c_reference() {
    let exe = compile(Program::Test("conformance"), false);
    let done = fccl_run(4, &[exe.as_os_str()], LIMIT);
    must_pass(&done, "conformance");
    for rank in 0..4 {
        let line = format!("[{rank}] rank {rank}: conformance: ");
        let tail = done
            .stdout
            .split(&line)
            .nth(1)
            .unwrap_or_else(|| panic!("no summary of rank {rank}\n{done:?}"));
        assert!(tail.contains(" checks, 0 failures"), "{done:?}");
        let checks: usize = tail.split(' ').next().unwrap().parse().unwrap();
        assert!(checks > 10_000, "only {checks} checks ran\n{done:?}");
    }
}

#[test]
fn the_api_keeps_its_contract() {
    let exe = compile(Program::Test("api"), false);
    let alone = support::run(&mut std::process::Command::new(&*exe), LIMIT);
    must_pass(&alone, "api without a job");
    assert!(alone.stdout.contains("api: 0 failures"), "{alone:?}");
    let done = fccl_run(4, &[exe.as_os_str(), "job".as_ref()], LIMIT);
    must_pass(&done, "api in a job");
    for rank in 0..4 {
        let line = format!("[{rank}] rank {rank}: api: 0 failures");
        assert!(done.stdout.contains(&line), "{done:?}");
    }
}

#[test]
fn python_reduces_a_numpy_array_in_place() {
    let python = support::python_with_numpy();
    let script = support::ffi_dir().join("examples/allreduce.py");
    let mut args = vec![python.as_os_str(), script.as_os_str()];
    let lib = support::library(false);
    let done = support::fccl_run_env(4, &mut args, &[("FCCL_LIB", lib.as_os_str())], LIMIT);
    must_pass(&done, "allreduce.py");
    for rank in 0..4 {
        let line = format!("[{rank}] rank {rank} of 4: numpy allreduce ok");
        assert!(done.stdout.contains(&line), "{done:?}");
    }
}

#[test]
fn valgrind_finds_no_leaks_or_invalid_accesses() {
    let valgrind = support::which("valgrind").expect(
        "valgrind is not installed (scripts/test.sh installs it: apt-get install valgrind)",
    );
    let exe = compile(Program::Test("conformance"), false);
    let args = [
        valgrind.as_os_str(),
        "--quiet".as_ref(),
        "--error-exitcode=99".as_ref(),
        "--leak-check=full".as_ref(),
        "--show-leak-kinds=definite,indirect".as_ref(),
        "--errors-for-leak-kinds=definite,indirect".as_ref(),
        exe.as_os_str(),
    ];
    let done = fccl_run(4, &args, LIMIT);
    must_pass(&done, "conformance under valgrind");
    assert!(
        done.stdout.contains("[3] rank 3: conformance: "),
        "{done:?}"
    );
    assert!(!done.stderr.contains("Invalid read"), "{done:?}");
    assert!(!done.stderr.contains("definitely lost"), "{done:?}");
}
