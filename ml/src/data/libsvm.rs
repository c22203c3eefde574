//! The LIBSVM (svmlight) text format: one row a line, `label idx:val idx:val ...`.
//!
//! Indices are 1-based and strictly increasing in the file and 0-based in memory. Labels
//! are any number (`+1`, `-1`, `0`, `2`, ...) and are kept as they are. `#` starts a
//! comment; blank lines are skipped; an svmlight `qid:N` token is ignored. Files ending in
//! `.gz` (or starting with the gzip magic) are inflated on the fly.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;

use super::SparseDataset;
use crate::error::{MlError, Result};

/// Reads a LIBSVM file from `reader`; `source_name` names it in errors.
///
/// With `features: None` the dataset has one feature past the largest index seen; with
/// `Some(d)`, a (0-based) index of `d` or more is an error naming the line.
pub fn read_libsvm(
    reader: impl BufRead,
    source_name: &str,
    features: Option<usize>,
) -> Result<SparseDataset> {
    let mut data = SparseDataset::new(features.unwrap_or(u32::MAX as usize + 1));
    let mut max_index: Option<u32> = None;
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| MlError::io(format!("reading {source_name}"), e))?;
        let fail = |message: String| MlError::Parse {
            source_name: source_name.to_string(),
            line: number + 1,
            message,
        };
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut tokens = content.split_ascii_whitespace();
        let label_text = tokens.next().unwrap_or("");
        let label: f32 = label_text
            .parse()
            .map_err(|_| fail(format!("the label {label_text:?} is not a number")))?;
        indices.clear();
        values.clear();
        for token in tokens {
            let (index_text, value_text) = token
                .split_once(':')
                .ok_or_else(|| fail(format!("{token:?} is not of the form index:value")))?;
            if index_text == "qid" {
                continue;
            }
            let index: u64 = index_text.parse().map_err(|_| {
                fail(format!(
                    "the index {index_text:?} is not a positive integer"
                ))
            })?;
            if index == 0 {
                return Err(fail("index 0: LIBSVM indices start at 1".to_string()));
            }
            let index = u32::try_from(index - 1)
                .map_err(|_| fail(format!("the index {index} does not fit in 32 bits")))?;
            if let Some(d) = features
                && index as usize >= d
            {
                return Err(fail(format!(
                    "the index {} is beyond the {d} features (1-based indices go up to {d})",
                    u64::from(index) + 1
                )));
            }
            if let Some(&previous) = indices.last()
                && index <= previous
            {
                return Err(fail(format!(
                    "indices must be strictly increasing, but {} follows {}",
                    u64::from(index) + 1,
                    u64::from(previous) + 1
                )));
            }
            let value: f32 = value_text
                .parse()
                .map_err(|_| fail(format!("the value {value_text:?} is not a number")))?;
            indices.push(index);
            values.push(value);
        }
        if let Some(&last) = indices.last() {
            max_index = max_index.max(Some(last));
        }
        data.push(label, &indices, &values)
            .map_err(|e| fail(e.to_string()))?;
    }
    if features.is_none() {
        data.set_features(max_index.map_or(0, |m| m as usize + 1))?;
    }
    Ok(data)
}

/// Reads the LIBSVM file at `path` (gzipped if it ends in `.gz` or starts with the gzip
/// magic); `features` as in [`read_libsvm`].
pub fn load_libsvm(path: impl AsRef<Path>, features: Option<usize>) -> Result<SparseDataset> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let mut file =
        BufReader::new(File::open(path).map_err(|e| MlError::io(format!("opening {name}"), e))?);
    let gzipped = file
        .fill_buf()
        .map_err(|e| MlError::io(format!("reading {name}"), e))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzipped {
        Box::new(GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    read_libsvm(BufReader::new(reader), &name, features)
}

/// Writes `data` in LIBSVM format (1-based indices; values printed so they parse back to
/// the same `f32`).
pub fn write_libsvm(data: &SparseDataset, mut writer: impl Write) -> Result<()> {
    let io = |e| MlError::io("writing LIBSVM", e);
    for row in data.rows() {
        write!(writer, "{}", row.label).map_err(io)?;
        for (&index, &value) in row.indices.iter().zip(row.values) {
            write!(writer, " {}:{value}", u64::from(index) + 1).map_err(io)?;
        }
        writeln!(writer).map_err(io)?;
    }
    writer.flush().map_err(io)
}

/// Writes `data` to a LIBSVM file at `path` (not compressed).
pub fn save_libsvm(data: &SparseDataset, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        File::create(path).map_err(|e| MlError::io(format!("creating {}", path.display()), e))?;
    write_libsvm(data, BufWriter::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, features: Option<usize>) -> Result<SparseDataset> {
        read_libsvm(text.as_bytes(), "inline", features)
    }

    #[test]
    fn parses_labels_indices_values_comments_and_blank_lines() {
        let text = "# a comment line\n+1 1:0.5 3:-2 # trailing\n\n-1\n0 2:1e-3\n2 qid:7 4:4\n";
        let d = parse(text, None).unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d.features(), 4);
        assert_eq!(d.labels(), &[1.0, -1.0, 0.0, 2.0]);
        assert_eq!(d.row(0).indices, &[0, 2]);
        assert_eq!(d.row(0).values, &[0.5, -2.0]);
        assert!(d.row(1).indices.is_empty());
        assert_eq!(d.row(2).indices, &[1]);
        assert_eq!(d.row(2).values, &[0.001]);
        assert_eq!(d.row(3).indices, &[3]);
    }

    #[test]
    fn explicit_features_are_kept_and_enforced() {
        assert_eq!(parse("1 2:1\n", Some(10)).unwrap().features(), 10);
        let err = parse("1 1:1\n-1 2:1 6:1\n", Some(5)).unwrap_err();
        let MlError::Parse { line, message, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 2);
        assert!(message.contains("beyond the 5 features"), "{message}");
        assert!(err.to_string().starts_with("inline:2:"), "{err}");
        assert!(parse("1 5:1\n", Some(5)).is_ok());
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for (text, line, needle) in [
            ("1 1:1\nx 1:1\n", 2, "label"),
            ("1 1:1\n\n1 2\n", 3, "index:value"),
            ("1 0:1\n", 1, "index 0"),
            ("1 1:1\n1 1:z\n", 2, "value"),
            ("1 3:1 2:1\n", 1, "strictly increasing"),
            ("1 1:1\n# c\n1 2:1 2:1\n", 3, "strictly increasing"),
            ("1 -1:1\n", 1, "positive integer"),
        ] {
            match parse(text, None) {
                Err(MlError::Parse {
                    source_name,
                    line: got,
                    message,
                }) => {
                    assert_eq!(source_name, "inline");
                    assert_eq!(got, line, "{text:?}: {message}");
                    assert!(message.contains(needle), "{text:?}: {message}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn write_then_read_round_trips() {
        let mut d = SparseDataset::new(8);
        d.push(1.0, &[0, 7], &[0.1, -3.25e-7]).unwrap();
        d.push(-1.0, &[], &[]).unwrap();
        d.push(2.0, &[3], &[f32::MAX]).unwrap();
        let mut bytes = Vec::new();
        write_libsvm(&d, &mut bytes).unwrap();
        assert!(String::from_utf8_lossy(&bytes).starts_with("1 1:0.1 8:"));
        assert_eq!(read_libsvm(&bytes[..], "written", Some(8)).unwrap(), d);
    }

    #[test]
    fn loads_plain_and_gzipped_files() {
        let dir = std::env::temp_dir().join(format!("fccl-libsvm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "+1 1:1 2:0.5\n-1 3:2\n";
        let plain = dir.join("a.txt");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.join("a.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let a = load_libsvm(&plain, None).unwrap();
        assert_eq!(a, load_libsvm(&gz, None).unwrap());
        assert_eq!((a.len(), a.features()), (2, 3));
        save_libsvm(&a, dir.join("b.txt")).unwrap();
        assert_eq!(load_libsvm(dir.join("b.txt"), Some(3)).unwrap(), a);
        let missing = load_libsvm(dir.join("missing"), None).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
