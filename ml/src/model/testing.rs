//! Test helpers: small random data and a finite-difference gradient check.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{Model, SparseGradient};
use crate::data::{Ratings, SparseDataset};

/// `rows` random rows over `features` features with labels drawn from `0..classes`
/// (for `classes == 2` the labels are ±1).
pub(crate) fn random_sparse(
    rows: usize,
    features: usize,
    classes: u32,
    seed: u64,
) -> SparseDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = SparseDataset::new(features);
    for _ in 0..rows {
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for j in 0..features as u32 {
            if rng.random::<f64>() < 0.4 {
                idx.push(j);
                val.push(rng.random_range(-1.5f32..1.5));
            }
        }
        let label = if classes == 2 {
            if rng.random::<bool>() { 1.0 } else { -1.0 }
        } else {
            rng.random_range(0..classes) as f32
        };
        data.push(label, &idx, &val).unwrap();
    }
    data
}

/// `n` random ratings in 1..=5 over `users × items`.
pub(crate) fn random_ratings(n: usize, users: usize, items: usize, seed: u64) -> Ratings {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut r = Ratings {
        users,
        items,
        ..Ratings::default()
    };
    for _ in 0..n {
        r.user.push(rng.random_range(0..users as u32));
        r.item.push(rng.random_range(0..items as u32));
        r.rating.push(rng.random_range(1..=5) as f32);
    }
    r
}

/// The loss sum of `model.gradient` (the function whose gradient it returns).
fn loss<M: Model>(model: &M, w: &[f32], data: &M::Data, rows: &[usize]) -> f64 {
    model.gradient(w, data, rows, &mut SparseGradient::new())
}

/// Central differences in `f64` around `w` against `model.gradient` (rows with a repeat)
/// and against `model.full_gradient`; also checks that the gradient reads and writes only
/// `model.touched`.
pub(crate) fn check_gradient<M: Model>(model: &M, data: &M::Data, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = model.examples(data);
    let w: Vec<f32> = (0..model.parameters())
        .map(|_| rng.random_range(-0.7f32..0.7))
        .collect();
    let rows: Vec<usize> = vec![0, n / 2, n / 2, n - 1];
    let mut grad = SparseGradient::new();
    let sum = model.gradient(&w, data, &rows, &mut grad);
    grad.check(model.parameters()).unwrap();
    assert!((sum - loss(model, &w, data, &rows)).abs() < 1e-12);
    let analytic = grad.to_dense(model.parameters());
    let (full, objective) = model.full_gradient(&w, data);
    assert!((objective - model.objective(&w, data)).abs() < 1e-12);

    let h = 1e-3f32;
    for j in 0..model.parameters() {
        let (mut plus, mut minus) = (w.clone(), w.clone());
        plus[j] += h;
        minus[j] -= h;
        let step = f64::from(plus[j]) - f64::from(minus[j]);
        let fd = (loss(model, &plus, data, &rows) - loss(model, &minus, data, &rows)) / step;
        let a = f64::from(analytic[j]);
        assert!(
            (a - fd).abs() < 1e-4 * (1.0 + fd.abs()),
            "coordinate {j}: analytic {a}, finite differences {fd}"
        );
        let fd_obj = (model.objective(&plus, data) - model.objective(&minus, data)) / step;
        let f = f64::from(full[j]);
        assert!(
            (f - fd_obj).abs() < 1e-4 * (1.0 + fd_obj.abs()),
            "objective coordinate {j}: analytic {f}, finite differences {fd_obj}"
        );
    }

    // Only the touched coordinates are read or written.
    let touched = model.touched(data, &rows);
    assert!(
        grad.touched()
            .iter()
            .all(|j| touched.binary_search(j).is_ok())
    );
    let mut garbage = vec![123.0f32; w.len()];
    for &j in &touched {
        garbage[j as usize] = w[j as usize];
    }
    let mut again = SparseGradient::new();
    let sum_again = model.gradient(&garbage, data, &rows, &mut again);
    assert_eq!(sum_again.to_bits(), sum.to_bits());
    assert_eq!(again, grad);

    // Gradients over row sets add up (the data-parallel sum), up to f32 rounding.
    let mut split = SparseGradient::new();
    model.gradient(&w, data, &rows[..2], &mut split);
    model.gradient(&w, data, &rows[2..], &mut split);
    for (x, y) in split.to_dense(w.len()).iter().zip(&analytic) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
    }
}
