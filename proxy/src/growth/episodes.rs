//! Stable flags: one episode per fingerprint and database from the round it is first flagged
//! until it has stayed below its thresholds for [`CLEAR_AFTER_ROUNDS`] rounds in a row.
//!
//! While an episode is open its `first_flagged_ms` does not change (not even when the class
//! does) and it is logged once, when it opens. A round below the thresholds does not drop the
//! flag: it is published as it last stood, with `rounds_below` counting. Cleared episodes are
//! kept, most recent first, up to [`CLEARED_KEPT`], so the API shows what came and went.
//!
//! A "slower without growth" verdict opens an episode only once it is *confirmed*: it held in
//! every round while [`CONFIRM_WINDOWS`] distinct newest windows came in (first seen, then
//! with two newer ones). The detector tests every round over a sliding set of windows, so one
//! test at level `alpha` is many looks at the same noise, and a burst of load lasting a window
//! or two moves a whole late side's median; a false alarm of that kind vanishes within the next
//! windows, a regression of the query's own does not. Growth verdicts are not held back: their plan check and thresholds
//! on the typical call are their guard, and a window's delay is what a DBA would pay there.

use std::collections::{HashMap, VecDeque};

use pgscope_exporters::growth::{ClearedFlag, Flag};

/// Consecutive rounds below the thresholds after which a flag clears.
pub const CLEAR_AFTER_ROUNDS: u32 = 3;
/// Distinct newest windows a "slower without growth" verdict must hold over, in every round in
/// between, before it opens a flag: first seen, then again as two newer windows come in.
pub const CONFIRM_WINDOWS: u32 = 3;
/// Cleared flags kept for the API.
pub const CLEARED_KEPT: usize = 100;

/// An open episode.
#[derive(Debug)]
struct Episode {
    flag: Flag,
    last_flagged_ms: u64,
}

/// Open episodes and the history of cleared ones.
#[derive(Debug, Default)]
pub struct Episodes {
    open: HashMap<(String, String), Episode>,
    cleared: VecDeque<ClearedFlag>,
    /// Unconfirmed verdicts.
    pending: HashMap<(String, String), Pending>,
}

/// A verdict held back until confirmed.
#[derive(Debug)]
struct Pending {
    /// The newest window it was seen with, start ms.
    newest_ms: u64,
    /// Distinct newest windows it has held over, every round in between.
    windows: u32,
    /// Whether seen this round.
    seen: bool,
}

/// What one round publishes.
#[derive(Debug, Default)]
pub struct Round {
    /// Every open episode's flag: this round's, or the last one while below the thresholds.
    pub flags: Vec<Flag>,
    /// Flags whose episode opened this round (to log, once).
    pub opened: Vec<Flag>,
}

impl Episodes {
    /// When the episode of `fingerprint` in `database` began, if one is open.
    pub fn first_flagged(&self, fingerprint: &str, database: &str) -> Option<u64> {
        self.open
            .get(&(fingerprint.to_owned(), database.to_owned()))
            .map(|e| e.flag.first_flagged_ms)
    }

    /// Whether a verdict that needs confirmation on `fingerprint` in `database`, whose newest
    /// window started at `newest_window_ms`, may be published this round: its episode is open,
    /// or it has held in every round since it was first seen and over [`CONFIRM_WINDOWS`]
    /// distinct newest windows. Otherwise it is (still) pending; a pending verdict not seen
    /// again in the next round is forgotten.
    pub fn confirmed(&mut self, fingerprint: &str, database: &str, newest_window_ms: u64) -> bool {
        let key = (fingerprint.to_owned(), database.to_owned());
        if self.open.contains_key(&key) {
            return true;
        }
        let pending = self.pending.entry(key).or_insert(Pending {
            newest_ms: newest_window_ms,
            windows: 1,
            seen: false,
        });
        pending.seen = true;
        if newest_window_ms > pending.newest_ms {
            pending.newest_ms = newest_window_ms;
            pending.windows += 1;
        }
        pending.windows >= CONFIRM_WINDOWS
    }

    /// Closes a round at `now` in which `current` were flagged.
    pub fn round(&mut self, now: u64, current: Vec<Flag>) -> Round {
        self.pending.retain(|_, p| std::mem::take(&mut p.seen));
        let mut round = Round::default();
        let mut seen = std::collections::HashSet::new();
        for mut flag in current {
            let key = (flag.fingerprint.clone(), flag.database.clone());
            flag.rounds_below = 0;
            match self.open.get_mut(&key) {
                Some(episode) => {
                    flag.first_flagged_ms = episode.flag.first_flagged_ms;
                    episode.flag = flag;
                    episode.last_flagged_ms = now;
                }
                None => {
                    round.opened.push(flag.clone());
                    self.open.insert(
                        key.clone(),
                        Episode {
                            flag,
                            last_flagged_ms: now,
                        },
                    );
                }
            }
            seen.insert(key);
        }
        let mut closing = Vec::new();
        for (key, episode) in self.open.iter_mut() {
            if seen.contains(key) {
                continue;
            }
            episode.flag.rounds_below += 1;
            if episode.flag.rounds_below >= CLEAR_AFTER_ROUNDS {
                closing.push(key.clone());
            }
        }
        for key in closing {
            if let Some(Episode {
                flag,
                last_flagged_ms,
            }) = self.open.remove(&key)
            {
                self.cleared.push_front(ClearedFlag {
                    fingerprint: flag.fingerprint,
                    database: flag.database,
                    summary: flag.summary,
                    class: flag.class,
                    table: flag.table,
                    explanation: flag.explanation,
                    first_flagged_ms: flag.first_flagged_ms,
                    last_flagged_ms,
                    cleared_ms: now,
                });
                self.cleared.truncate(CLEARED_KEPT);
            }
        }
        round.flags = self.open.values().map(|e| e.flag.clone()).collect();
        round
            .flags
            .sort_by(|a: &Flag, b: &Flag| b.impact.total_cmp(&a.impact));
        round
    }

    /// Cleared episodes, most recent first.
    pub fn cleared(&self) -> Vec<ClearedFlag> {
        self.cleared.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(fp: &str, class: &str, at: u64) -> Flag {
        Flag {
            fingerprint: fp.to_owned(),
            database: "app".to_owned(),
            class: class.to_owned(),
            first_flagged_ms: at,
            ..Flag::default()
        }
    }

    #[test]
    fn one_round_below_does_not_drop_or_restart_a_flag() {
        let mut episodes = Episodes::default();
        let r = episodes.round(1000, vec![flag("a", "scan_growth", 1000)]);
        assert_eq!(r.opened.len(), 1);
        let r = episodes.round(2000, vec![]);
        assert_eq!(r.flags.len(), 1, "held while below");
        assert_eq!(r.flags[0].rounds_below, 1);
        let r = episodes.round(3000, vec![flag("a", "scan_growth", 3000)]);
        assert!(r.opened.is_empty(), "logged once per episode");
        assert_eq!(r.flags[0].first_flagged_ms, 1000);
        assert_eq!(r.flags[0].rounds_below, 0);
        assert!(episodes.cleared().is_empty());
    }

    #[test]
    fn a_flag_clears_after_several_rounds_below_and_is_kept_in_the_history() {
        let mut episodes = Episodes::default();
        episodes.round(1000, vec![flag("a", "scan_growth", 1000)]);
        episodes.round(2000, vec![flag("a", "result_growth", 2000)]);
        for (i, now) in [3000, 4000].into_iter().enumerate() {
            let r = episodes.round(now, vec![]);
            assert_eq!(r.flags[0].rounds_below, i as u32 + 1);
        }
        let r = episodes.round(5000, vec![]);
        assert!(r.flags.is_empty());
        let cleared = episodes.cleared();
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].class, "result_growth");
        assert_eq!(
            (
                cleared[0].first_flagged_ms,
                cleared[0].last_flagged_ms,
                cleared[0].cleared_ms
            ),
            (1000, 2000, 5000)
        );
        // A new episode after clearing starts afresh and is logged again.
        let r = episodes.round(6000, vec![flag("a", "scan_growth", 6000)]);
        assert_eq!(r.opened.len(), 1);
        assert_eq!(episodes.first_flagged("a", "app"), Some(6000));
    }

    #[test]
    fn a_verdict_needing_confirmation_opens_only_when_it_holds_over_two_newer_windows() {
        let mut episodes = Episodes::default();
        // Seen in two rounds over the same windows: still pending.
        assert!(!episodes.confirmed("a", "app", 10_000));
        episodes.round(1000, vec![]);
        assert!(!episodes.confirmed("a", "app", 10_000));
        episodes.round(2000, vec![]);
        // One newer window: still pending.
        assert!(!episodes.confirmed("a", "app", 12_000));
        episodes.round(3000, vec![]);
        // A second newer window: confirmed.
        assert!(episodes.confirmed("a", "app", 14_000));
        let r = episodes.round(3000, vec![flag("a", "slower_without_growth", 3000)]);
        assert_eq!(r.opened.len(), 1);
        // While open it needs no new confirmation.
        assert!(episodes.confirmed("a", "app", 12_000));
    }

    #[test]
    fn a_pending_verdict_that_lapses_for_a_round_starts_over() {
        let mut episodes = Episodes::default();
        assert!(!episodes.confirmed("b", "app", 10_000));
        episodes.round(1000, vec![]);
        // Not seen in this round: forgotten.
        episodes.round(2000, vec![]);
        assert!(!episodes.confirmed("b", "app", 12_000));
        episodes.round(3000, vec![]);
        assert!(!episodes.confirmed("b", "app", 14_000));
        episodes.round(4000, vec![]);
        assert!(episodes.confirmed("b", "app", 16_000));
    }
}
