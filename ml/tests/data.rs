//! The real datasets, fetched at test time: skipped with a message when unavailable,
//! except under `CI`, where unavailability fails.

use fccl_ml::data::fetch;
use fccl_ml::data::{Dataset, by_name};

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`).
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `Some(value)`, or `None` after printing why the test is skipped (a panic under CI).
fn or_skip<T>(what: &str, result: fccl_ml::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) if under_ci() => panic!("{what} is unavailable under CI: {e}"),
        Err(e) => {
            eprintln!("skipping: {what} is unavailable: {e}");
            None
        }
    }
}

#[test]
fn heart_scale_is_270_rows_of_13_features_with_120_positive() {
    let Some(d) = or_skip("heart_scale", fetch::heart_scale()) else {
        return;
    };
    assert_eq!((d.len(), d.features()), (270, 13));
    assert_eq!(d.labels().iter().filter(|&&y| y == 1.0).count(), 120);
    assert_eq!(d.labels().iter().filter(|&&y| y == -1.0).count(), 150);
    // The first line is `+1 1:0.708333 2:1 3:1 4:-0.320755 ... 12:1 13:-1` (no 11).
    let first = d.row(0);
    assert_eq!(first.label, 1.0);
    assert_eq!(first.indices, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
    assert_eq!(first.values[0], 0.708333);
    assert_eq!(first.values[3], -0.320755);
    assert!(
        d.rows()
            .all(|r| r.values.iter().all(|v| (-1.0..=1.0).contains(v)))
    );
    assert!(matches!(by_name("heart_scale").unwrap(), Dataset::Sparse(s) if s == d));
}

#[test]
fn movielens100k_is_100000_ratings_by_943_users_of_1682_items() {
    let Some(loaded) = or_skip("MovieLens-100k", fetch::movielens100k()) else {
        return;
    };
    let r = &loaded.ratings;
    assert_eq!((r.len(), r.users, r.items), (100_000, 943, 1682));
    // The CSV's first rating is `196,242,3.0,881250949`.
    assert_eq!(
        (loaded.user_ids[0], loaded.item_ids[0], r.rating[0]),
        (196, 242, 3.0)
    );
    let mut users = loaded.user_ids.clone();
    users.sort_unstable();
    assert_eq!(
        users,
        (1..=943).collect::<Vec<i64>>(),
        "ids 1..=943 in u.data"
    );
    assert!(
        r.rating
            .iter()
            .all(|&x| [1.0, 2.0, 3.0, 4.0, 5.0].contains(&x))
    );
    // The global mean of ml-100k is 3.52986.
    assert!((r.mean() - 3.52986).abs() < 1e-4, "{}", r.mean());
    assert_eq!(by_name("movielens100k").unwrap().len(), 100_000);
}
