//! Multiclass softmax (multinomial logistic) regression on sparse rows.
//!
//! Labels are class numbers `0..K`. The loss of a row is the cross-entropy
//! `ℓ = ln Σ_c exp(z_c) − z_y` with logits `z_c = W_c · x + b_c`, computed with the
//! log-sum-exp shift; the global L2 term `(λ/2)|W|²` leaves the biases out.
//!
//! Layout: `w[c · features + j]` is class `c`'s weight of feature `j` (K × features, row
//! major); with biases, `w[K · features + c]` is class `c`'s bias.

use super::math::log_sum_exp;
use super::{Accumulator, Metrics, Model, SparseGradient, sorted_unique};
use crate::data::{SparseDataset, SparseRow};
use crate::error::{MlError, Result};

/// Softmax regression with `classes` classes over `features` features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    features: usize,
    classes: usize,
    l2: f32,
    bias: bool,
}

impl Softmax {
    /// A model with `classes ≥ 2` classes, global L2 strength `l2` and, if `bias`, one
    /// unregularised bias per class.
    pub fn new(features: usize, classes: usize, l2: f32, bias: bool) -> Result<Softmax> {
        if classes < 2 {
            return Err(MlError::invalid(format!(
                "softmax regression needs at least 2 classes, not {classes}"
            )));
        }
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(MlError::invalid(format!(
                "the L2 strength must be finite and non-negative, not {l2}"
            )));
        }
        let parameters = classes
            .checked_mul(features + usize::from(bias))
            .filter(|&p| p <= u32::MAX as usize);
        if parameters.is_none() {
            return Err(MlError::invalid(format!(
                "{classes} classes × {features} features do not fit in 2^32 - 1 parameters"
            )));
        }
        Ok(Softmax {
            features,
            classes,
            l2,
            bias,
        })
    }

    /// The number of classes in `data`: one more than its largest label. Fails on labels
    /// that are not non-negative integers.
    pub fn classes_of(data: &SparseDataset) -> Result<usize> {
        let mut max = 0usize;
        for (r, &label) in data.labels().iter().enumerate() {
            class_of(r, label)?;
            max = max.max(label as usize);
        }
        Ok(max + 1)
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The number of features.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The logits `z_c` of a row.
    pub fn logits(&self, w: &[f32], row: SparseRow<'_>) -> Vec<f64> {
        (0..self.classes)
            .map(|c| {
                let base = c * self.features;
                let dot: f64 = row
                    .indices
                    .iter()
                    .zip(row.values)
                    .map(|(&j, &x)| f64::from(w[base + j as usize]) * f64::from(x))
                    .sum();
                if self.bias {
                    dot + f64::from(w[self.classes * self.features + c])
                } else {
                    dot
                }
            })
            .collect()
    }

    /// The most likely class of a row (the lowest on ties).
    pub fn predict(&self, w: &[f32], row: SparseRow<'_>) -> usize {
        let z = self.logits(w, row);
        let mut best = 0;
        for c in 1..z.len() {
            if z[c] > z[best] {
                best = c;
            }
        }
        best
    }
}

/// The class number of row `r`'s label.
fn class_of(r: usize, label: f32) -> Result<usize> {
    if label >= 0.0 && label.fract() == 0.0 && label < u32::MAX as f32 {
        Ok(label as usize)
    } else {
        Err(MlError::invalid(format!(
            "row {r} has label {label}; softmax labels are class numbers 0, 1, 2, ..."
        )))
    }
}

impl Model for Softmax {
    type Data = SparseDataset;

    fn parameters(&self) -> usize {
        self.classes * (self.features + usize::from(self.bias))
    }

    /// Zeros: the problem is convex, so the seed does not matter.
    fn init(&self, _seed: u64) -> Vec<f32> {
        vec![0.0; self.parameters()]
    }

    fn validate(&self, data: &SparseDataset) -> Result<()> {
        if data.features() > self.features {
            return Err(MlError::invalid(format!(
                "the data has {} features but the model only {}",
                data.features(),
                self.features
            )));
        }
        for (r, &label) in data.labels().iter().enumerate() {
            if class_of(r, label)? >= self.classes {
                return Err(MlError::invalid(format!(
                    "row {r} has class {label} but the model has only {} classes",
                    self.classes
                )));
            }
        }
        Ok(())
    }

    fn examples(&self, data: &SparseDataset) -> usize {
        data.len()
    }

    fn gradient(
        &self,
        w: &[f32],
        data: &SparseDataset,
        rows: &[usize],
        grad: &mut SparseGradient,
    ) -> f64 {
        assert_eq!(w.len(), self.parameters(), "parameter vector length");
        let mut acc = Accumulator::default();
        let mut loss = 0.0;
        for &r in rows {
            let row = data.row(r);
            let y = row.label as usize;
            let z = self.logits(w, row);
            let lse = log_sum_exp(&z);
            loss += lse - z[y];
            for (c, &zc) in z.iter().enumerate() {
                // d/dz_c (lse − z_y) = p_c − [c = y].
                let coef = (zc - lse).exp() - f64::from(u8::from(c == y));
                let base = c * self.features;
                for (&j, &x) in row.indices.iter().zip(row.values) {
                    acc.push((base + j as usize) as u32, coef * f64::from(x));
                }
                if self.bias {
                    acc.push((self.classes * self.features + c) as u32, coef);
                }
            }
        }
        acc.finish_into(grad);
        loss
    }

    fn touched(&self, data: &SparseDataset, rows: &[usize]) -> Vec<u32> {
        let features = sorted_unique(
            rows.iter()
                .flat_map(|&r| data.row(r).indices.iter().copied())
                .collect(),
        );
        let mut all = Vec::with_capacity(self.classes * (features.len() + 1));
        for c in 0..self.classes {
            let base = c * self.features;
            all.extend(features.iter().map(|&j| (base + j as usize) as u32));
        }
        if self.bias && !rows.is_empty() {
            all.extend((0..self.classes).map(|c| (self.classes * self.features + c) as u32));
        }
        all // already increasing: class blocks in order, then the biases
    }

    fn l2_at(&self, j: usize) -> f32 {
        if j < self.classes * self.features {
            self.l2
        } else {
            0.0
        }
    }

    fn evaluate(&self, w: &[f32], data: &SparseDataset) -> Metrics {
        let (mut loss, mut correct) = (0.0, 0usize);
        for row in data.rows() {
            let z = self.logits(w, row);
            let y = row.label as usize;
            loss += log_sum_exp(&z) - z[y];
            correct += usize::from(self.predict(w, row) == y);
        }
        let n = data.len().max(1) as f64;
        Metrics {
            loss: loss / n,
            accuracy: Some(correct as f64 / n),
            rmse: None,
            objective: loss / n + self.l2_penalty(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{check_gradient, random_sparse};
    use crate::optim::{Optimizer, OptimizerKind};

    #[test]
    fn gradient_matches_finite_differences() {
        for bias in [false, true] {
            let data = random_sparse(10, 6, 3, 21);
            let model = Softmax::new(6, 3, 0.2, bias).unwrap();
            model.validate(&data).unwrap();
            check_gradient(&model, &data, 8);
        }
    }

    #[test]
    fn cross_entropy_at_a_known_point_by_hand() {
        let mut data = SparseDataset::new(1);
        data.push(2.0, &[0], &[1.0]).unwrap();
        let model = Softmax::new(1, 3, 0.0, false).unwrap();
        let w = [1.0, 2.0, 3.0];
        let z = [1.0f64, 2.0, 3.0];
        let expected = z.iter().map(|x| x.exp()).sum::<f64>().ln() - 3.0;
        let m = model.evaluate(&w, &data);
        assert!((m.loss - expected).abs() < 1e-12);
        assert_eq!(m.accuracy, Some(1.0));
        // Huge logits do not overflow.
        let big = model.evaluate(&[1000.0, 0.0, 0.0], &data);
        assert!((big.loss - 1000.0).abs() < 1e-9, "{}", big.loss);
    }

    #[test]
    fn bad_labels_are_refused() {
        let mut data = SparseDataset::new(1);
        data.push(1.5, &[0], &[1.0]).unwrap();
        assert!(Softmax::classes_of(&data).is_err());
        let mut data = SparseDataset::new(1);
        data.push(3.0, &[0], &[1.0]).unwrap();
        assert_eq!(Softmax::classes_of(&data).unwrap(), 4);
        let err = Softmax::new(1, 3, 0.0, false)
            .unwrap()
            .validate(&data)
            .unwrap_err();
        assert!(err.to_string().contains("only 3 classes"), "{err}");
        assert!(Softmax::new(1, 1, 0.0, false).is_err());
    }

    #[test]
    fn three_separable_classes_are_learned() {
        // Class c has feature c (one-hot, scaled), plus a shared noise feature 3.
        let mut data = SparseDataset::new(4);
        for i in 0..60u32 {
            let c = i % 3;
            data.push(c as f32, &[c, 3], &[1.0 + (i % 5) as f32 * 0.1, 0.5])
                .unwrap();
        }
        let model = Softmax::new(4, Softmax::classes_of(&data).unwrap(), 1e-3, true).unwrap();
        let mut w = model.init(0);
        let mut opt = OptimizerKind::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
        .build(model.parameters());
        for _ in 0..200 {
            let (g, _) = model.full_gradient(&w, &data);
            opt.step_dense(&mut w, &g);
        }
        let m = model.evaluate(&w, &data);
        assert_eq!(m.accuracy, Some(1.0));
        assert!(m.loss < 0.1, "{}", m.loss);
    }
}
