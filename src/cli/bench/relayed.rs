//! Which pairs of a job's ranks talk through a relay: the line `fccl bench` adds after its
//! table when some tcp pairs could not connect directly.

use fccl::Rank;

/// The pairs of ranks `(i, j)`, `i < j`, whose messages go through a relay rather than
/// directly (tcp pairs that could not punch through), as every rank of `comm` sees them:
/// each rank says which of its peers it relays to, and every rank learns all of it.
pub(super) async fn relayed_pairs(
    comm: &mut fccl::Communicator,
) -> fccl::Result<Vec<(Rank, Rank)>> {
    let p = comm.size();
    let mut mine = vec![0u8; p];
    for medium in comm.media() {
        for peer in medium.relayed_peers() {
            mine[peer] = 1;
        }
    }
    let mut all = vec![0u8; p * p];
    comm.all_gather(&mine, &mut all).await?;
    Ok((0..p)
        .flat_map(|i| (i + 1..p).map(move |j| (i, j)))
        .filter(|&(i, j)| all[i * p + j] == 1 || all[j * p + i] == 1)
        .collect())
}

/// The report's line on relayed pairs; none when every pair is direct.
pub(super) fn relayed_note(pairs: &[(Rank, Rank)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let list: Vec<String> = pairs.iter().map(|(i, j)| format!("{i}-{j}")).collect();
    Some(format!(
        "# relayed pairs (through the fallback medium, not direct): {}",
        list.join(" ")
    ))
}
