//! Chooses an algorithm for a call: a forced one (per call, then `FCCL_ALGO_<COLLECTIVE>`),
//! else the cheapest by the cost model.

use super::Algorithm;
use crate::collective::Collective;
use crate::error::{Error, Result};

/// The environment variable that forces `collective`'s algorithm, e.g. `FCCL_ALGO_ALLREDUCE`.
pub fn env_var(collective: Collective) -> String {
    format!("FCCL_ALGO_{}", collective.name().to_ascii_uppercase())
}

/// Picks from `offered` (the collective's algorithms): `forced` if given, else the one in
/// the environment, else the lowest `cost`. `cost` returns `None` where an algorithm cannot
/// run the call (a non-commutative op, say); forcing such an algorithm is `InvalidArgument`.
pub fn select(
    collective: Collective,
    offered: &[Algorithm],
    forced: Option<Algorithm>,
    cost: impl Fn(Algorithm) -> Option<f64>,
) -> Result<Algorithm> {
    let var = env_var(collective);
    let (forced, source) = match forced {
        Some(a) => (Some(a), "the call's options".to_string()),
        None => match std::env::var(&var) {
            Ok(name) if !name.is_empty() => (Some(name.parse::<Algorithm>()?), var),
            _ => (None, String::new()),
        },
    };
    let names = || {
        offered
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(a) = forced {
        if !offered.contains(&a) {
            return Err(Error::invalid(format!(
                "{source} asks for {a}, which is not a {collective} algorithm (offered: {})",
                names()
            )));
        }
        if cost(a).is_none() {
            return Err(Error::invalid(format!(
                "{source} asks for {a}, which cannot run this {collective} call \
                 (a non-commutative reduction needs an order-preserving algorithm)"
            )));
        }
        return Ok(a);
    }
    offered
        .iter()
        .filter_map(|&a| cost(a).map(|c| (a, c)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(a, _)| a)
        .ok_or_else(|| Error::invalid(format!("no {collective} algorithm can run this call")))
}
