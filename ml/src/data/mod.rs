//! Datasets: labelled sparse rows and (user, item, rating) triples.
//!
//! Loaders, the binary minibatch format, partitioning and the synthetic generators live in
//! the submodules and all produce these two types:
//!
//! - [`libsvm`]: the LIBSVM text format (read and write);
//! - [`ratings`]: `user,item,rating[,timestamp]` CSV (and MovieLens' tab and `::` styles);
//! - [`minibatch`]: a compact versioned binary format and minibatch files in a directory;
//! - [`partition`]: contiguous blocks per rank and a seeded train/test split;
//! - [`synthetic`]: seeded Criteo-like and Netflix-like generators with planted models;
//! - [`fetch`]: real datasets fetched at run time (heart_scale, MovieLens-100k);
//! - [`named`]: one name or path to a [`Dataset`].

pub mod fetch;
pub mod libsvm;
pub mod minibatch;
pub mod named;
pub mod partition;
pub mod ratings;
pub mod synthetic;

pub use libsvm::{load_libsvm, read_libsvm, save_libsvm, write_libsvm};
pub use minibatch::{
    Minibatch, MinibatchFiles, decode, encode, read_minibatches, write_minibatches,
};
pub use named::{Dataset, by_name};
pub use partition::block_range;
pub use ratings::{LoadedRatings, load_ratings, read_ratings};

use crate::error::{MlError, Result};

/// A labelled sparse dataset stored as compressed rows (CSR): row `r` has the features
/// `indices[starts[r]..starts[r + 1]]` with `values[...]` at the same positions, and the
/// label `labels[r]` (±1 for binary classification, a class number for softmax).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseDataset {
    labels: Vec<f32>,
    starts: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    features: usize,
}

/// One row of a [`SparseDataset`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseRow<'a> {
    /// The label.
    pub label: f32,
    /// Feature indices, strictly increasing.
    pub indices: &'a [u32],
    /// The value of each feature in `indices`.
    pub values: &'a [f32],
}

impl SparseDataset {
    /// An empty dataset whose rows may use feature indices below `features`.
    pub fn new(features: usize) -> SparseDataset {
        SparseDataset {
            starts: vec![0],
            features,
            ..SparseDataset::default()
        }
    }

    /// Appends a row. Indices must be strictly increasing and below [`Self::features`],
    /// and there must be as many values as indices.
    pub fn push(&mut self, label: f32, indices: &[u32], values: &[f32]) -> Result<()> {
        if indices.len() != values.len() {
            return Err(MlError::invalid(format!(
                "a row has {} indices but {} values",
                indices.len(),
                values.len()
            )));
        }
        if let Some(w) = indices.windows(2).find(|w| w[0] >= w[1]) {
            return Err(MlError::invalid(format!(
                "feature indices must be strictly increasing, but {} is followed by {}",
                w[0], w[1]
            )));
        }
        if let Some(&last) = indices.last()
            && last as usize >= self.features
        {
            return Err(MlError::invalid(format!(
                "feature index {last} is beyond the model's {} features",
                self.features
            )));
        }
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.labels.push(label);
        self.indices.extend_from_slice(indices);
        self.values.extend_from_slice(values);
        self.starts.push(self.indices.len());
        Ok(())
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of features (one past the largest index a row may use).
    pub fn features(&self) -> usize {
        self.features
    }

    /// Row `r`. Panics if `r >= len()`.
    pub fn row(&self, r: usize) -> SparseRow<'_> {
        let span = self.starts[r]..self.starts[r + 1];
        SparseRow {
            label: self.labels[r],
            indices: &self.indices[span.clone()],
            values: &self.values[span],
        }
    }

    /// Every row, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = SparseRow<'_>> + '_ {
        (0..self.len()).map(|r| self.row(r))
    }

    /// The labels, one per row.
    pub fn labels(&self) -> &[f32] {
        &self.labels
    }

    /// The number of stored (nonzero) values.
    pub fn nonzeros(&self) -> usize {
        self.indices.len()
    }

    /// Changes the number of features to `features`; refuses (and changes nothing) when a
    /// stored index is not below it.
    pub fn set_features(&mut self, features: usize) -> Result<()> {
        if let Some(&max) = self.indices.iter().max()
            && max as usize >= features
        {
            return Err(MlError::invalid(format!(
                "feature index {max} is beyond the requested {features} features"
            )));
        }
        self.features = features;
        Ok(())
    }

    /// The feature indices of every row, concatenated (row `r`'s are those of
    /// [`Self::row`]).
    pub fn all_indices(&self) -> &[u32] {
        &self.indices
    }

    /// A new dataset of the rows `rows` picks, in that order, with the same features.
    pub fn select(&self, rows: impl IntoIterator<Item = usize>) -> SparseDataset {
        let mut out = SparseDataset::new(self.features);
        for r in rows {
            let row = self.row(r);
            out.labels.push(row.label);
            out.indices.extend_from_slice(row.indices);
            out.values.extend_from_slice(row.values);
            out.starts.push(out.indices.len());
        }
        out
    }
}

/// Ratings as (user, item, rating) triples, users below `users` and items below `items`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ratings {
    /// The user of each rating.
    pub user: Vec<u32>,
    /// The item of each rating.
    pub item: Vec<u32>,
    /// The rating.
    pub rating: Vec<f32>,
    /// The number of users (one past the largest user id).
    pub users: usize,
    /// The number of items (one past the largest item id).
    pub items: usize,
}

impl Ratings {
    /// The number of ratings.
    pub fn len(&self) -> usize {
        self.rating.len()
    }

    /// Whether there are no ratings.
    pub fn is_empty(&self) -> bool {
        self.rating.is_empty()
    }

    /// The mean rating (0 when empty).
    pub fn mean(&self) -> f32 {
        if self.is_empty() {
            return 0.0;
        }
        (self.rating.iter().map(|&r| f64::from(r)).sum::<f64>() / self.len() as f64) as f32
    }

    /// A new set of the ratings `picks` chooses, in that order, with the same dimensions.
    pub fn select(&self, picks: impl IntoIterator<Item = usize>) -> Ratings {
        let mut out = Ratings {
            users: self.users,
            items: self.items,
            ..Ratings::default()
        };
        for i in picks {
            out.user.push(self.user[i]);
            out.item.push(self.item[i]);
            out.rating.push(self.rating[i]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bad_rows_are_refused() {
        let mut d = SparseDataset::new(10);
        d.push(1.0, &[0, 3], &[0.5, 2.0]).unwrap();
        d.push(-1.0, &[], &[]).unwrap();
        d.push(-1.0, &[9], &[1.0]).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.nonzeros(), 3);
        assert_eq!(d.row(0).indices, &[0, 3]);
        assert_eq!(d.row(1).indices, &[] as &[u32]);
        assert_eq!(d.row(2).values, &[1.0]);
        let picked = d.select([2, 0]);
        assert_eq!(picked.row(0), d.row(2));
        assert_eq!(picked.row(1), d.row(0));
        let beyond = d.push(1.0, &[10], &[1.0]).unwrap_err().to_string();
        assert!(beyond.contains("feature index 10 is beyond"), "{beyond}");
        assert!(d.push(1.0, &[3, 3], &[1.0, 1.0]).is_err());
        assert!(d.push(1.0, &[3], &[]).is_err());
        assert_eq!(d.len(), 3, "refused rows are not stored");
    }
}
