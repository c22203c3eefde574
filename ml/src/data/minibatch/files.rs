//! Minibatch files: a dataset cut into fixed-size objects `minibatch-NNNNNN.fcmb` in a
//! directory (one S3 object each in Cirrus), and an iterator that streams them back in
//! order.

use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::Minibatch;
use crate::error::{MlError, Result};

/// The file name prefix of minibatch files.
const PREFIX: &str = "minibatch-";
/// The file name extension of minibatch files.
const EXTENSION: &str = ".fcmb";

/// Whether `name` is a minibatch file name.
fn is_minibatch(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(EXTENSION)
}

/// Cuts `data` into minibatches of `rows_per_file` rows (the last may be shorter) and
/// writes them to `dir` (created if missing) as `minibatch-000000.fcmb`, ...; returns
/// their paths in order. Minibatch files already in `dir` are removed first, so a later
/// [`read_minibatches`] sees only these.
pub fn write_minibatches<T: Minibatch>(
    data: &T,
    dir: impl AsRef<Path>,
    rows_per_file: usize,
) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    if rows_per_file == 0 {
        return Err(MlError::invalid("a minibatch file needs at least one row"));
    }
    fs::create_dir_all(dir).map_err(|e| MlError::io(format!("creating {}", dir.display()), e))?;
    for stale in list(dir)? {
        fs::remove_file(&stale)
            .map_err(|e| MlError::io(format!("removing {}", stale.display()), e))?;
    }
    let mut paths = Vec::new();
    for (k, start) in (0..data.rows()).step_by(rows_per_file).enumerate() {
        let end = (start + rows_per_file).min(data.rows());
        let path = dir.join(format!("{PREFIX}{k:06}{EXTENSION}"));
        fs::write(&path, data.slice(start..end).encode())
            .map_err(|e| MlError::io(format!("writing {}", path.display()), e))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The minibatch files in `dir`, sorted by name.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let context = || format!("listing {}", dir.display());
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| MlError::io(context(), e))? {
        let entry = entry.map_err(|e| MlError::io(context(), e))?;
        if entry.file_name().to_str().is_some_and(is_minibatch) {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// Streams the minibatch files of `dir` in name order; each item is one decoded file.
pub fn read_minibatches<T: Minibatch>(dir: impl AsRef<Path>) -> Result<MinibatchFiles<T>> {
    Ok(MinibatchFiles {
        paths: list(dir.as_ref())?.into_iter(),
        kind: PhantomData,
    })
}

/// An iterator over minibatch files that reads and decodes one file per step; a file
/// that cannot be read or decoded is an error naming it.
#[derive(Debug)]
pub struct MinibatchFiles<T> {
    paths: std::vec::IntoIter<PathBuf>,
    kind: PhantomData<fn() -> T>,
}

impl<T> MinibatchFiles<T> {
    /// The files not read yet, in order.
    pub fn remaining(&self) -> &[PathBuf] {
        self.paths.as_slice()
    }
}

impl<T: Minibatch> Iterator for MinibatchFiles<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let path = self.paths.next()?;
        let name = path.display();
        Some(
            fs::read(&path)
                .map_err(|e| MlError::io(format!("reading {name}"), e))
                .and_then(|bytes| {
                    T::decode(&bytes).map_err(|e| MlError::invalid(format!("{name}: {e}")))
                }),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.paths.size_hint()
    }
}

impl<T: Minibatch> ExactSizeIterator for MinibatchFiles<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Ratings, SparseDataset};

    #[test]
    fn a_dataset_cut_into_files_streams_back_whole() {
        let dir = std::env::temp_dir().join(format!("fccl-mb-{}", std::process::id()));
        let mut d = SparseDataset::new(100);
        for r in 0..23u32 {
            d.push(r as f32, &[r, r + 50], &[1.0, -(r as f32)]).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("minibatch-999999.fcmb"), b"stale").unwrap();
        std::fs::write(dir.join("notes.txt"), b"kept").unwrap();
        let paths = write_minibatches(&d, &dir, 10).unwrap();
        assert_eq!(paths.len(), 3);
        let files = read_minibatches::<SparseDataset>(&dir).unwrap();
        assert_eq!(files.len(), 3);
        let parts: Vec<SparseDataset> = files.map(|p| p.unwrap()).collect();
        assert_eq!(
            parts.iter().map(SparseDataset::len).collect::<Vec<_>>(),
            [10, 10, 3]
        );
        assert_eq!(parts[2].row(2), d.row(22));
        assert!(dir.join("notes.txt").exists());

        let ratings = Ratings {
            user: vec![0, 1, 2],
            item: vec![2, 1, 0],
            rating: vec![1.0, 2.0, 3.0],
            users: 3,
            items: 3,
        };
        write_minibatches(&ratings, &dir, 2).unwrap();
        let back: Vec<Ratings> = read_minibatches(&dir)
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].rating, vec![3.0]);
        let wrong = read_minibatches::<SparseDataset>(&dir)
            .unwrap()
            .next()
            .unwrap();
        let e = wrong.unwrap_err().to_string();
        assert!(
            e.contains("minibatch-000000.fcmb") && e.contains("holds ratings"),
            "{e}"
        );
        assert!(write_minibatches(&ratings, &dir, 0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
