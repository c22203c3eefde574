//! One string for a dataset, as a command line or a benchmark config gives it:
//!
//! - `heart_scale`, `movielens100k`: the real datasets of [`super::fetch`];
//! - `synthetic:criteo?rows=..&bits=..&seed=..&zipf=..&categories=..`;
//! - `synthetic:netflix?users=..&items=..&ratings=..&rank=..&noise=..&seed=..`
//!   (query keys are optional; the others keep the generator's defaults);
//! - otherwise a path: `.csv` (or `.dat`, `.data`) is a ratings file, anything else LIBSVM
//!   (gzipped or not).

use std::path::Path;
use std::str::FromStr;

use super::fetch;
use super::libsvm::load_libsvm;
use super::ratings::load_ratings;
use super::synthetic::{CriteoOptions, NetflixOptions, criteo, netflix};
use super::{Ratings, SparseDataset};
use crate::error::{MlError, Result};

/// A loaded dataset of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Dataset {
    /// Labelled sparse rows (logistic or softmax regression).
    Sparse(SparseDataset),
    /// (user, item, rating) triples (matrix factorization).
    Ratings(Ratings),
}

impl Dataset {
    /// The number of rows or ratings.
    pub fn len(&self) -> usize {
        match self {
            Dataset::Sparse(d) => d.len(),
            Dataset::Ratings(r) => r.len(),
        }
    }

    /// Whether there are no rows or ratings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads the dataset `name` names (see the module docs).
pub fn by_name(name: &str) -> Result<Dataset> {
    match name {
        "heart_scale" => return Ok(Dataset::Sparse(fetch::heart_scale()?)),
        "movielens100k" => return Ok(Dataset::Ratings(fetch::movielens100k()?.ratings)),
        _ => {}
    }
    if let Some(rest) = name.strip_prefix("synthetic:") {
        let (generator, query) = rest.split_once('?').unwrap_or((rest, ""));
        return match generator {
            "criteo" => Ok(Dataset::Sparse(criteo(&criteo_options(query)?)?.data)),
            "netflix" => Ok(Dataset::Ratings(netflix(&netflix_options(query)?)?.ratings)),
            other => Err(MlError::invalid(format!(
                "unknown synthetic dataset {other:?}: expected synthetic:criteo or synthetic:netflix"
            ))),
        };
    }
    let path = Path::new(name);
    if !path.is_file() {
        return Err(MlError::invalid(format!(
            "{name:?} is neither a dataset name (heart_scale, movielens100k, \
             synthetic:criteo?..., synthetic:netflix?...) nor a file"
        )));
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ["csv", "dat", "data"].contains(&extension) {
        Ok(Dataset::Ratings(load_ratings(path)?.ratings))
    } else {
        Ok(Dataset::Sparse(load_libsvm(path, None)?))
    }
}

/// The `key=value` pairs of `query`, each key checked against `allowed`.
fn pairs<'a>(query: &'a str, allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            MlError::invalid(format!("{pair:?} in a dataset query is not key=value"))
        })?;
        if !allowed.contains(&key) {
            return Err(MlError::invalid(format!(
                "unknown dataset query key {key:?}: expected one of {}",
                allowed.join(", ")
            )));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// `value` parsed as the type of query key `key`.
fn parse<T: FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| MlError::invalid(format!("{key}={value:?} in a dataset query is not valid")))
}

/// [`CriteoOptions`] from a query.
fn criteo_options(query: &str) -> Result<CriteoOptions> {
    let mut o = CriteoOptions::default();
    for (key, value) in pairs(query, &["rows", "bits", "seed", "zipf", "categories"])? {
        match key {
            "rows" => o.rows = parse(key, value)?,
            "bits" => o.bits = parse(key, value)?,
            "seed" => o.seed = parse(key, value)?,
            "zipf" => o.zipf_exponent = parse(key, value)?,
            _ => o.categories = parse(key, value)?,
        }
    }
    Ok(o)
}

/// [`NetflixOptions`] from a query.
fn netflix_options(query: &str) -> Result<NetflixOptions> {
    let mut o = NetflixOptions::default();
    let keys = ["users", "items", "ratings", "rank", "noise", "seed"];
    for (key, value) in pairs(query, &keys)? {
        match key {
            "users" => o.users = parse(key, value)?,
            "items" => o.items = parse(key, value)?,
            "ratings" => o.ratings = parse(key, value)?,
            "rank" => o.rank = parse(key, value)?,
            "noise" => o.noise = parse(key, value)?,
            _ => o.seed = parse(key, value)?,
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_names_take_their_options() {
        let Dataset::Sparse(d) = by_name("synthetic:criteo?rows=100&bits=12&seed=3").unwrap()
        else {
            panic!("criteo is sparse")
        };
        assert_eq!((d.len(), d.features()), (100, 4096));
        let direct = criteo(&CriteoOptions {
            rows: 100,
            bits: 12,
            seed: 3,
            ..CriteoOptions::default()
        })
        .unwrap();
        assert_eq!(d, direct.data);
        let n = by_name("synthetic:netflix?users=50&items=40&ratings=300&rank=3&noise=0.1&seed=2")
            .unwrap();
        let Dataset::Ratings(r) = n else {
            panic!("netflix is ratings")
        };
        assert_eq!((r.len(), r.users, r.items), (300, 50, 40));
        assert_eq!(
            by_name("synthetic:netflix?users=60&items=60&ratings=10")
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn unknown_names_and_keys_are_clear_errors() {
        let e = by_name("synthetic:criteo?rows=10&color=red")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown dataset query key \"color\"") && e.contains("bits"),
            "{e}"
        );
        let e = by_name("synthetic:criteo?rows=ten")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rows=\"ten\""), "{e}");
        let e = by_name("synthetic:criteo?rows").unwrap_err().to_string();
        assert!(e.contains("not key=value"), "{e}");
        let e = by_name("synthetic:avazu").unwrap_err().to_string();
        assert!(e.contains("unknown synthetic dataset \"avazu\""), "{e}");
        let e = by_name("no-such-dataset").unwrap_err().to_string();
        assert!(
            e.contains("neither a dataset name") && e.contains("heart_scale"),
            "{e}"
        );
    }

    #[test]
    fn paths_load_by_extension() {
        let dir = std::env::temp_dir().join(format!("fccl-named-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("r.csv");
        std::fs::write(&csv, "user,item,rating\n7,8,4\n9,8,2\n").unwrap();
        let svm = dir.join("d.svm");
        std::fs::write(&svm, "+1 2:1\n-1 1:1\n").unwrap();
        let Dataset::Ratings(r) = by_name(csv.to_str().unwrap()).unwrap() else {
            panic!(".csv is ratings")
        };
        assert_eq!((r.len(), r.users, r.items), (2, 2, 1));
        let Dataset::Sparse(d) = by_name(svm.to_str().unwrap()).unwrap() else {
            panic!("LIBSVM is sparse")
        };
        assert_eq!((d.len(), d.features()), (2, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
