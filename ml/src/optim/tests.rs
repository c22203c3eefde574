//! Each optimizer against two steps computed by hand, lazy sparse steps, per-coordinate
//! state, parsing and checkpoints.

use super::*;

const W0: [f32; 3] = [1.0, -2.0, 0.5];
const G1: [f32; 3] = [0.5, -1.0, 2.0];
const G2: [f32; 3] = [1.0, 0.0, -1.0];

/// Two dense steps from `W0` with `G1` then `G2`.
fn two_steps(mut opt: impl Optimizer) -> Vec<f32> {
    let mut w = W0.to_vec();
    opt.step_dense(&mut w, &G1);
    opt.step_dense(&mut w, &G2);
    w
}

fn assert_close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (f64::from(*g) - w).abs() < 1e-6,
            "got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn sgd_by_hand() {
    // w1 = w0 − 0.1 g1 = [0.95, −1.9, 0.3]; w2 = w1 − 0.1 g2.
    assert_close(&two_steps(Sgd::new(3, 0.1)), &[0.85, -1.9, 0.4]);
}

#[test]
fn momentum_by_hand() {
    // v1 = g1, w1 = [0.95, −1.9, 0.3]; v2 = 0.9 v1 + g2 = [1.45, −0.9, 0.8].
    assert_close(
        &two_steps(Momentum::new(3, 0.1, 0.9)),
        &[0.805, -1.81, 0.22],
    );
}

#[test]
fn nesterov_by_hand() {
    // v1 = g1, w1 = w0 − 0.1 (g1 + 0.9 g1) = [0.905, −1.81, 0.12];
    // v2 = [1.45, −0.9, 0.8], w2 = w1 − 0.1 (g2 + 0.9 v2) = w1 − 0.1 [2.305, −0.81, −0.28].
    assert_close(
        &two_steps(Nesterov::new(3, 0.1, 0.9)),
        &[0.6745, -1.729, 0.148],
    );
}

#[test]
fn adagrad_by_hand() {
    // h1 = g1², so w1 = w0 − 0.1 sign(g1) = [0.9, −1.9, 0.4]; h2 = [1.25, 1, 5].
    let want = [0.9 - 0.1 / 1.25f64.sqrt(), -1.9, 0.4 + 0.1 / 5f64.sqrt()];
    assert_close(&two_steps(AdaGrad::new(3, 0.1, 1e-8)), &want);
}

#[test]
fn adam_by_hand() {
    // Step 1 moves every coordinate by 0.1 · sign(g1) (bias correction makes m̂ = g,
    // v̂ = g²). Step 2: m = 0.09 g1 + 0.1 g2, v = 0.000999 g1² + 0.001 g2², m̂ = m / 0.19,
    // v̂ = v / 0.001999.
    let want = [0.8034817986385094, -1.8329941755341885, 0.37336629620243156];
    assert_close(&two_steps(Adam::new(3, 0.1, 0.9, 0.999, 1e-8)), &want);
}

#[test]
fn sparse_steps_leave_untouched_coordinates_and_state_alone() {
    let sparse = SparseGradient {
        indices: vec![0, 2],
        values: vec![0.5, 2.0],
    };
    for kind in ["sgd", "momentum", "nesterov", "adagrad", "adam"] {
        let mut opt: AnyOptimizer = kind.parse::<OptimizerKind>().unwrap().build(3);
        let mut dense_opt = opt.clone();
        let mut w = W0.to_vec();
        opt.step_sparse(&mut w, &SparseGradient::from_dense(&G1));
        dense_opt.step_dense(&mut W0.to_vec(), &G1);
        assert_eq!(
            opt, dense_opt,
            "{kind}: a sparse step over every coordinate is a dense step"
        );

        let before = opt.clone();
        let w_before = w.clone();
        opt.step_sparse(&mut w, &sparse);
        assert_eq!(w[1], w_before[1], "{kind}: untouched weight moved");
        assert_ne!(w[0], w_before[0], "{kind}: touched weight did not move");
        let json = |o: &AnyOptimizer| serde_json::to_value(o).unwrap();
        let (a, b) = (json(&before), json(&opt));
        // Compare slot 1 of every state vector.
        let state = |v: &serde_json::Value| -> Vec<serde_json::Value> {
            v.as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .as_object()
                .unwrap()
                .values()
                .filter_map(|x| x.as_array().map(|arr| arr[1].clone()))
                .collect()
        };
        assert_eq!(state(&a), state(&b), "{kind}: untouched state changed");
    }
}

#[test]
fn momentum_is_per_coordinate() {
    let mut opt = Momentum::new(2, 0.1, 0.9);
    let mut w = vec![0.0, 0.0];
    opt.step_dense(&mut w, &[1.0, -3.0]);
    opt.step_dense(&mut w, &[1.0, 0.0]);
    let v = opt.velocity();
    assert!(
        (v[0] - 1.9).abs() < 1e-6 && (v[1] + 2.7).abs() < 1e-6,
        "{v:?}"
    );
    let mut nest = Nesterov::new(2, 0.1, 0.9);
    nest.step_dense(&mut w, &[2.0, 0.5]);
    assert_eq!(nest.velocity(), &[2.0, 0.5]);
}

#[test]
fn adam_counts_steps_per_coordinate() {
    let mut opt = Adam::new(3, 0.1, 0.9, 0.999, 1e-8);
    let mut w = vec![0.0; 3];
    opt.step_sparse(&mut w, &SparseGradient::from_pairs(vec![(0, 1.0)]));
    opt.step_sparse(
        &mut w,
        &SparseGradient::from_pairs(vec![(0, 1.0), (2, -4.0)]),
    );
    assert_eq!(opt.steps(), &[2, 0, 1]);
    // Coordinate 2's first update is bias-corrected as a first step: exactly −η · sign(g).
    assert!((w[2] - 0.1).abs() < 1e-6, "{}", w[2]);
}

#[test]
fn step_at_drives_a_shard_with_local_slots() {
    // A shard owning global keys {7, 42} keeps their state in slots 0 and 1.
    let mut shard = OptimizerKind::default_for("momentum").unwrap().build(2);
    let mut values = [1.0f32, 1.0];
    let mut whole = OptimizerKind::default_for("momentum").unwrap().build(50);
    let mut w = vec![1.0f32; 50];
    for g in [0.5f32, -0.25, 1.0] {
        shard.step_at(0, &mut values[0], g);
        shard.step_at(1, &mut values[1], 2.0 * g);
        whole.step_sparse(
            &mut w,
            &SparseGradient::from_pairs(vec![(7, g), (42, 2.0 * g)]),
        );
    }
    assert_eq!(values, [w[7], w[42]]);
}

#[test]
fn kinds_parse_print_and_refuse_nonsense() {
    let adam: OptimizerKind = "adam:lr=0.01, beta2=0.99".parse().unwrap();
    assert_eq!(
        adam,
        OptimizerKind::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.99,
            epsilon: 1e-8
        }
    );
    for text in [
        "sgd",
        "momentum:momentum=0.5",
        "nesterov:lr=0.2",
        "adagrad:eps=1e-6",
        "ADAM",
    ] {
        let kind: OptimizerKind = text.parse().unwrap();
        assert_eq!(
            kind.to_string().parse::<OptimizerKind>().unwrap(),
            kind,
            "{text}"
        );
    }
    let err = |s: &str| s.parse::<OptimizerKind>().unwrap_err().to_string();
    assert!(
        err("rmsprop").contains("expected one of sgd, momentum"),
        "{}",
        err("rmsprop")
    );
    assert!(err("sgd:momentum=0.9").contains("sgd has no parameter 'momentum'"));
    assert!(err("adam:lr=-1").contains("learning rate must be positive"));
    assert!(err("momentum:momentum=1").contains("momentum must be in [0, 1)"));
    assert!(err("adam:beta1").contains("not key=value"));
    assert!(err("adam:beta1=x").contains("not a number"));
}

#[test]
fn checkpoints_resume_exactly() {
    let kind: OptimizerKind = "adam:lr=0.05".parse().unwrap();
    let mut opt = kind.build(3);
    let mut w = W0.to_vec();
    opt.step_dense(&mut w, &G1);
    let saved = serde_json::to_string(&opt).unwrap();
    let mut restored: AnyOptimizer = serde_json::from_str(&saved).unwrap();
    let mut w2 = w.clone();
    opt.step_dense(&mut w, &G2);
    restored.step_dense(&mut w2, &G2);
    assert_eq!(w, w2);
    assert_eq!(opt, restored);
    let kind_json = serde_json::to_string(&kind).unwrap();
    assert!(kind_json.contains("\"name\":\"adam\""), "{kind_json}");
    assert_eq!(
        serde_json::from_str::<OptimizerKind>(&kind_json).unwrap(),
        kind
    );
}

#[test]
fn learning_rate_can_change_mid_run() {
    let mut opt = OptimizerKind::Sgd { lr: 0.1 }.build(1);
    let mut w = [1.0f32];
    opt.set_learning_rate(0.5);
    opt.step_dense(&mut w, &[1.0]);
    assert_eq!((w[0], opt.learning_rate()), (0.5, 0.5));
}
