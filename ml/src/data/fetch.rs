//! Real datasets, fetched at run time from package registries and never committed
//! (research/ml.md §5):
//!
//! - heart_scale (Statlog heart, 270 rows × 13 features, labels ±1) from Debian's
//!   `liblinear-tools`, which installs it under `/usr/share/doc/liblinear-tools/examples/`
//!   (plain or gzipped);
//! - MovieLens-100k (100,000 ratings of 1,682 items by 943 users) as the CSV
//!   `neighbors/data/movielens100k.csv` (`User,Item,Rating,Timestamp`) inside the PyPI
//!   wheel `neighbors==0.2.1`, which `pip download` puts in the cache directory
//!   ([`data_dir`]). MovieLens' terms forbid redistribution: keep it in the cache.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::SparseDataset;
use super::libsvm::load_libsvm;
use super::ratings::{LoadedRatings, read_ratings};
use crate::error::{MlError, Result};

/// Where `liblinear-tools` installs heart_scale (possibly with `.gz` appended).
pub const HEART_SCALE: &str = "/usr/share/doc/liblinear-tools/examples/heart_scale";
/// The pinned wheel holding MovieLens-100k.
pub const NEIGHBORS_WHEEL: &str = "neighbors-0.2.1-py3-none-any.whl";
/// The requirement `pip download` is given.
const NEIGHBORS_REQUIREMENT: &str = "neighbors==0.2.1";
/// The CSV inside the wheel.
const MOVIELENS_MEMBER: &str = "neighbors/data/movielens100k.csv";

/// The cache directory for downloads: `$FCCL_DATA_DIR`, else `~/.cache/fccl`, else
/// `fccl-data` in the system's temporary directory.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FCCL_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("fccl"),
        None => std::env::temp_dir().join("fccl-data"),
    }
}

/// Loads heart_scale from `liblinear-tools`' examples (plain or `.gz`).
pub fn heart_scale() -> Result<SparseDataset> {
    let plain = PathBuf::from(HEART_SCALE);
    let gz = PathBuf::from(format!("{HEART_SCALE}.gz"));
    match [plain, gz].into_iter().find(|p| p.is_file()) {
        Some(path) => load_libsvm(path, None),
        None => Err(MlError::invalid(format!(
            "heart_scale is not installed (looked for {HEART_SCALE} and {HEART_SCALE}.gz): \
             run `apt-get install liblinear-tools`"
        ))),
    }
}

/// Loads MovieLens-100k from the `neighbors` wheel, downloading it first if the cache
/// ([`data_dir`]) does not have it. Ids are renumbered densely; the original ones are in
/// the result.
pub fn movielens100k() -> Result<LoadedRatings> {
    movielens100k_in(&data_dir())
}

/// [`movielens100k`] with the wheel cached in `dir`.
pub fn movielens100k_in(dir: &Path) -> Result<LoadedRatings> {
    let wheel = neighbors_wheel_in(dir)?;
    let bytes = read_zip_member(&wheel, MOVIELENS_MEMBER)?;
    read_ratings(
        &bytes[..],
        &format!("{}!{MOVIELENS_MEMBER}", wheel.display()),
    )
}

/// The path of the `neighbors` wheel cached in `dir`, downloaded with `pip download` if
/// missing.
pub fn neighbors_wheel_in(dir: &Path) -> Result<PathBuf> {
    let wheel = dir.join(NEIGHBORS_WHEEL);
    if wheel.is_file() {
        return Ok(wheel);
    }
    // Download into a directory of our own and rename, so a concurrent reader never sees
    // a half-written wheel (and concurrent downloads, even in one process, never mix).
    static DOWNLOADS: AtomicUsize = AtomicUsize::new(0);
    let staging = dir.join(format!(
        ".download-{}-{}",
        std::process::id(),
        DOWNLOADS.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&staging)
        .map_err(|e| MlError::io(format!("creating {}", staging.display()), e))?;
    let result = pip_download(&staging).and_then(|()| {
        fs::rename(staging.join(NEIGHBORS_WHEEL), &wheel)
            .map_err(|e| MlError::io(format!("moving the wheel to {}", wheel.display()), e))
    });
    let _ = fs::remove_dir_all(&staging);
    result.map(|()| wheel)
}

/// Runs `pip download neighbors==0.2.1 --no-deps -d dir` with the first pip found.
fn pip_download(dir: &Path) -> Result<()> {
    let pips: [&[&str]; 3] = [&["pip"], &["pip3"], &["python3", "-m", "pip"]];
    let mut tried = Vec::new();
    for pip in pips {
        let output = Command::new(pip[0])
            .args(&pip[1..])
            .args([
                "download",
                NEIGHBORS_REQUIREMENT,
                "--no-deps",
                "--only-binary=:all:",
            ])
            .arg("-d")
            .arg(dir)
            .output();
        match output {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tried.push(pip.join(" ")),
            Err(e) => return Err(MlError::io(format!("running {}", pip.join(" ")), e)),
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                return Err(MlError::invalid(format!(
                    "`{} download {NEIGHBORS_REQUIREMENT}` failed ({}), so MovieLens-100k is \
                     unavailable; put {NEIGHBORS_WHEEL} in {} by hand to work offline: {}",
                    pip.join(" "),
                    out.status,
                    dir.parent().unwrap_or(dir).display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )));
            }
        }
    }
    Err(MlError::invalid(format!(
        "no pip to download MovieLens-100k with (tried {}); install python3-pip",
        tried.join(", ")
    )))
}

/// The bytes of `member` in the zip archive at `path`.
fn read_zip_member(path: &Path, member: &str) -> Result<Vec<u8>> {
    let name = path.display();
    let corrupt = |e: zip::result::ZipError| {
        MlError::invalid(format!(
            "{name}: {e} (delete the file to download it again)"
        ))
    };
    let file = File::open(path).map_err(|e| MlError::io(format!("opening {name}"), e))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(corrupt)?;
    let mut entry = archive.by_name(member).map_err(corrupt)?;
    // The size is the archive's claim: trust it only up to a sane bound.
    let mut bytes = Vec::with_capacity(entry.size().min(1 << 26) as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| MlError::io(format!("inflating {member} from {name}"), e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_cached_wheel_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("fccl-fetch-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(NEIGHBORS_WHEEL), b"not a zip").unwrap();
        let e = movielens100k_in(&dir).unwrap_err().to_string();
        assert!(
            e.contains(NEIGHBORS_WHEEL) && e.contains("delete the file"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
