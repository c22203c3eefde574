//! How the ranks of a job of functions ended.

use std::fmt;
use std::time::Duration;

use fccl_collectives::Rank;

/// How one rank's invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RankStatus {
    /// The rank's job succeeded.
    Succeeded,
    /// The rank's job failed, or the function did (a panic, a function error): why.
    Failed(String),
    /// The rank ran out of time: it stopped at its invocation's deadline, the function was
    /// ended at its timeout, or the launcher stopped waiting. Why.
    TimedOut(String),
    /// The invocation itself failed, so the rank never ran (the function missing, the
    /// endpoint unreachable, a throttled request): why. It fails the job at once.
    NotInvoked(String),
    /// The launcher stopped waiting for this rank when another could not be invoked; it
    /// ends on its own by the job's set-up timeout (the payload here says which).
    Abandoned(Duration),
}

/// One rank's end, with what it printed and the tail of its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankReport {
    /// The rank.
    pub rank: Rank,
    /// How it ended.
    pub status: RankStatus,
    /// The end of what the rank's job printed.
    pub output: String,
    /// The end of the invocation's log (Lambda returns its last 4 KiB), if there was one.
    pub log_tail: Option<String>,
}

impl RankReport {
    /// A report of `status` with no output and no log.
    pub fn new(rank: Rank, status: RankStatus) -> RankReport {
        RankReport {
            rank,
            status,
            output: String::new(),
            log_tail: None,
        }
    }

    /// The report of a rank the launcher stopped waiting for after `waited`.
    pub(super) fn timed_out_waiting(rank: Rank, waited: Duration) -> RankReport {
        RankReport::new(
            rank,
            RankStatus::TimedOut(format!(
                "no answer from its invocation within {} s",
                waited.as_secs()
            )),
        )
    }

    /// The report of a rank abandoned when the job failed; it ends within `setup`.
    pub(super) fn abandoned(rank: Rank, setup: Duration) -> RankReport {
        RankReport::new(rank, RankStatus::Abandoned(setup))
    }

    /// Whether the rank succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == RankStatus::Succeeded
    }
}

impl fmt::Display for RankReport {
    /// `rank R succeeded`, `rank R failed: why`, `rank R timed out: why`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rank = self.rank;
        match &self.status {
            RankStatus::Succeeded => write!(f, "rank {rank} succeeded"),
            RankStatus::Failed(why) => write!(f, "rank {rank} failed: {why}"),
            RankStatus::TimedOut(why) => write!(f, "rank {rank} timed out: {why}"),
            RankStatus::NotInvoked(why) => write!(f, "rank {rank} could not be invoked: {why}"),
            RankStatus::Abandoned(setup) => write!(
                f,
                "rank {rank} was abandoned when the job failed (it gives up by the job's \
                 set-up timeout, {} s)",
                setup.as_secs()
            ),
        }
    }
}

/// How a job of functions ended: every rank's report, in rank order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaOutcome {
    /// The reports, rank 0 first.
    pub ranks: Vec<RankReport>,
}

impl LambdaOutcome {
    /// Whether every rank succeeded.
    pub fn success(&self) -> bool {
        self.ranks.iter().all(RankReport::succeeded)
    }

    /// Whether some rank could not be invoked (the job could not start as a whole).
    pub fn not_invoked(&self) -> bool {
        self.ranks
            .iter()
            .any(|r| matches!(r.status, RankStatus::NotInvoked(_)))
    }

    /// The exit code for a launcher: 0 if every rank succeeded, 2 if one could not be
    /// invoked, else 1.
    pub fn exit_code(&self) -> u8 {
        if self.success() {
            0
        } else if self.not_invoked() {
            2
        } else {
            1
        }
    }

    /// One line that counts the ranks by how they ended.
    pub fn summary(&self) -> String {
        let count = |f: fn(&RankStatus) -> bool| self.ranks.iter().filter(|r| f(&r.status)).count();
        let mut parts = vec![format!(
            "{} succeeded",
            count(|s| *s == RankStatus::Succeeded)
        )];
        for (n, what) in [
            (count(|s| matches!(s, RankStatus::Failed(_))), "failed"),
            (count(|s| matches!(s, RankStatus::TimedOut(_))), "timed out"),
            (
                count(|s| matches!(s, RankStatus::NotInvoked(_))),
                "not invoked",
            ),
            (
                count(|s| matches!(s, RankStatus::Abandoned(_))),
                "abandoned",
            ),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!("{} ranks: {}", self.ranks.len(), parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_and_exit_by_the_worst_rank() {
        let ok = RankReport::new(0, RankStatus::Succeeded);
        let failed = RankReport::new(1, RankStatus::Failed("boom".into()));
        let late = RankReport::new(2, RankStatus::TimedOut("late".into()));
        let outcome = LambdaOutcome {
            ranks: vec![ok.clone(), failed.clone(), late.clone()],
        };
        assert_eq!(outcome.exit_code(), 1);
        assert_eq!(
            outcome.summary(),
            "3 ranks: 1 succeeded, 1 failed, 1 timed out"
        );
        assert_eq!(failed.to_string(), "rank 1 failed: boom");
        assert_eq!(late.to_string(), "rank 2 timed out: late");
        let outcome = LambdaOutcome {
            ranks: vec![
                RankReport::new(0, RankStatus::NotInvoked("no such function".into())),
                RankReport::abandoned(1, Duration::from_secs(60)),
            ],
        };
        assert_eq!(outcome.exit_code(), 2);
        assert_eq!(
            outcome.summary(),
            "2 ranks: 0 succeeded, 1 not invoked, 1 abandoned"
        );
        assert!(outcome.ranks[1].to_string().contains("60 s"));
        assert_eq!(LambdaOutcome { ranks: vec![ok] }.exit_code(), 0);
    }
}
