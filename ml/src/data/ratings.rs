//! Ratings files: one `user,item,rating[,timestamp]` a line.
//!
//! The separator is found on the first non-blank line: `::` (MovieLens 1M/10M), else a
//! tab (MovieLens 100k's `u.data`), else a comma. That first line is a header, and is
//! skipped, when its rating field is not a number. User and item ids are arbitrary
//! integers, renumbered densely from 0 in order of first appearance; the original ids are
//! returned so results can be reported in them. Timestamps are ignored. Blank lines are
//! skipped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::Ratings;
use crate::error::{MlError, Result};

/// Ratings with dense ids and the original id of each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadedRatings {
    /// The ratings, with users and items numbered densely from 0.
    pub ratings: Ratings,
    /// `user_ids[u]` is the original id of dense user `u`.
    pub user_ids: Vec<i64>,
    /// `item_ids[i]` is the original id of dense item `i`.
    pub item_ids: Vec<i64>,
}

/// Gives each new original id the next dense number.
#[derive(Default)]
struct Renumber {
    dense: HashMap<i64, u32>,
    original: Vec<i64>,
}

impl Renumber {
    fn get(&mut self, id: i64) -> u32 {
        let next = self.original.len() as u32;
        *self.dense.entry(id).or_insert_with(|| {
            self.original.push(id);
            next
        })
    }
}

/// The separators, in the order they are tried.
const SEPARATORS: [&str; 3] = ["::", "\t", ","];

/// Reads a ratings file from `reader`; `source_name` names it in errors.
pub fn read_ratings(reader: impl BufRead, source_name: &str) -> Result<LoadedRatings> {
    let (mut users, mut items) = (Renumber::default(), Renumber::default());
    let mut ratings = Ratings::default();
    let mut separator: Option<&str> = None;
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| MlError::io(format!("reading {source_name}"), e))?;
        let fail = |message: String| MlError::Parse {
            source_name: source_name.to_string(),
            line: number + 1,
            message,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let first = separator.is_none();
        let sep = *separator.get_or_insert_with(|| {
            SEPARATORS
                .into_iter()
                .find(|s| line.contains(s))
                .unwrap_or(",")
        });
        let fields: Vec<&str> = line.split(sep).map(str::trim).collect();
        if !(3..=4).contains(&fields.len()) {
            return Err(fail(format!(
                "expected user{sep}item{sep}rating[{sep}timestamp], found {} fields",
                fields.len()
            )));
        }
        let Ok(rating) = fields[2].parse::<f32>() else {
            if first {
                continue; // a header such as `User,Item,Rating,Timestamp`
            }
            return Err(fail(format!("the rating {:?} is not a number", fields[2])));
        };
        let id = |what: &str, text: &str| {
            text.parse::<i64>()
                .map_err(|_| fail(format!("the {what} id {text:?} is not an integer")))
        };
        let (user, item) = (id("user", fields[0])?, id("item", fields[1])?);
        ratings.user.push(users.get(user));
        ratings.item.push(items.get(item));
        ratings.rating.push(rating);
    }
    ratings.users = users.original.len();
    ratings.items = items.original.len();
    Ok(LoadedRatings {
        ratings,
        user_ids: users.original,
        item_ids: items.original,
    })
}

/// Reads the ratings file at `path`.
pub fn load_ratings(path: impl AsRef<Path>) -> Result<LoadedRatings> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| MlError::io(format!("opening {name}"), e))?;
    read_ratings(BufReader::new(file), &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_is_renumbered_in_order_of_appearance() {
        let text =
            "User,Item,Rating,Timestamp\n196,242,3.0,881250949\n\n186,302,3,1\n196,-5,4.5,2\n";
        let got = read_ratings(text.as_bytes(), "inline").unwrap();
        assert_eq!(got.user_ids, vec![196, 186]);
        assert_eq!(got.item_ids, vec![242, 302, -5]);
        let r = &got.ratings;
        assert_eq!(
            (r.user.as_slice(), r.item.as_slice()),
            (&[0, 1, 0][..], &[0, 1, 2][..])
        );
        assert_eq!(r.rating, vec![3.0, 3.0, 4.5]);
        assert_eq!((r.users, r.items), (2, 3));
    }

    #[test]
    fn movielens_tab_and_double_colon_styles() {
        let tab = read_ratings("1\t10\t5\t0\n2\t10\t1\t0\n".as_bytes(), "u.data").unwrap();
        let colons = read_ratings("1::10::5::0\n2::10::1::0\n".as_bytes(), "r.dat").unwrap();
        let plain = read_ratings("1,10,5\n2,10,1\n".as_bytes(), "r.csv").unwrap();
        assert_eq!(tab, colons);
        assert_eq!(tab, plain);
        assert_eq!(tab.ratings.rating, vec![5.0, 1.0]);
        assert_eq!((tab.ratings.users, tab.ratings.items), (2, 1));
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, line, needle) in [
            ("1,2,3\n1,2,x\n", 2, "rating"),
            ("u,i,r\n1,2\n", 2, "found 2 fields"),
            ("1,2,3\n1.5,2,3\n", 2, "user id"),
            ("1,2,3\n\n1,b,3\n", 3, "item id"),
            ("1,2,3,4,5\n", 1, "found 5 fields"),
        ] {
            match read_ratings(text.as_bytes(), "inline") {
                Err(MlError::Parse {
                    line: got, message, ..
                }) => {
                    assert_eq!(got, line, "{text:?}: {message}");
                    assert!(message.contains(needle), "{text:?}: {message}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
