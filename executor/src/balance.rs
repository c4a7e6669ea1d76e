//! Shard balancing: which shards an executor should hold, hand over and claim,
//! and when it should look again — from the live executors, the leases and the
//! time. Pure: [`crate::shards`] reads the heartbeats and leases, calls these,
//! and performs the claims and hand-overs.
//!
//! Rules (ARCHITECTURE.md "Shards and ownership"):
//! - each executor aims for an even share: ⌊shards / live⌋, plus one for the
//!   first `shards % live` executors in id order (the shares add up to `shards`);
//!   an executor that does not see itself among the live ones aims for its
//!   plain share, as if it were last;
//! - surplus shards are handed over, highest numbers first;
//! - a shard is claimed when no lease holds it or its lease has expired; shards
//!   this executor is letting go of — handed over, or lost (its lease was not
//!   renewed in time) — are not claimed back until their old task has ended
//!   ([`LettingGo`]): two tasks of one executor never run one shard;
//! - the manager wakes when a peer's heartbeat or a lease is about to lapse
//!   (one millisecond after), not one renewal interval later, so failover is
//!   not delayed by the tick.

use std::collections::BTreeSet;

use revenant_types::ExecutorId;
use revenant_types::oplog::TimestampMs;

/// A live executor as its heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: ExecutorId,
    pub heartbeat_at: TimestampMs,
}

/// What this executor should do about its share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// How many shards it should hold.
    pub target: usize,
    /// Held shards to hand over now.
    pub release: Vec<u32>,
    /// How many more shards to claim.
    pub need: usize,
    /// When a silent peer's heartbeat lapses, if one does.
    pub wake_at: Option<TimestampMs>,
}

/// The share of executor `me` among `live` (sorted by id), holding `held`.
pub fn share(
    me: &ExecutorId,
    shards: u32,
    live: &[Peer],
    held: &BTreeSet<u32>,
    ttl_ms: u64,
) -> Share {
    let n = live.len().max(1) as u32;
    let rank = live
        .iter()
        .position(|p| &p.id == me)
        .map_or(u32::MAX, |p| p as u32);
    let target = (shards / n + u32::from(rank < shards % n)) as usize;
    let release = held
        .iter()
        .rev()
        .take(held.len().saturating_sub(target))
        .copied()
        .collect();
    let wake_at = live
        .iter()
        .filter(|p| &p.id != me)
        .map(|p| p.heartbeat_at + ttl_ms + 1)
        .min();
    Share {
        target,
        release,
        need: target.saturating_sub(held.len()),
        wake_at,
    }
}

/// The shards worth looking at for a claim: neither held nor being let go of.
pub fn candidates(shards: u32, held: &BTreeSet<u32>, letting_go: &LettingGo) -> Vec<u32> {
    (0..shards)
        .filter(|s| !held.contains(s) && !letting_go.0.contains(s))
        .collect()
}

/// The shards whose task was told to stop (handed over, or its lease lost) and has
/// not ended yet: not claimable by this executor meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LettingGo(BTreeSet<u32>);

impl LettingGo {
    /// The shard's task was told to stop, whether it is handed over or its lease was lost.
    pub fn stopping(&mut self, shard: u32) {
        self.0.insert(shard);
    }

    /// The shard's old task ended: it may be claimed again.
    pub fn ended(&mut self, shard: u32) {
        self.0.remove(&shard);
    }
}

/// A candidate's lease, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// No lease.
    Free,
    /// Held by `owner` until `expires_at`.
    Leased {
        owner: ExecutorId,
        expires_at: TimestampMs,
    },
}

/// A shard to claim, with the holder whose lease lapsed (a failover), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub shard: u32,
    pub lapsed: Option<(ExecutorId, TimestampMs)>,
}

/// Which of the `looked` candidates to claim (at most `need`, in shard order as
/// given), and when the earliest live lease among them lapses.
pub fn claims(
    looked: Vec<(u32, Holder)>,
    need: usize,
    now: TimestampMs,
) -> (Vec<Claim>, Option<TimestampMs>) {
    let mut claim = Vec::new();
    let mut wake_at: Option<TimestampMs> = None;
    for (shard, holder) in looked {
        match holder {
            Holder::Leased { expires_at, .. } if expires_at > now => {
                wake_at = earliest(wake_at, Some(expires_at + 1));
            }
            Holder::Leased { owner, expires_at } => claim.push(Claim {
                shard,
                lapsed: Some((owner, expires_at)),
            }),
            Holder::Free => claim.push(Claim {
                shard,
                lapsed: None,
            }),
        }
    }
    claim.truncate(need);
    (claim, wake_at)
}

/// The earlier of two optional times.
pub fn earliest(a: Option<TimestampMs>, b: Option<TimestampMs>) -> Option<TimestampMs> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long to sleep instead of the regular tick, when `wake_at` comes before it.
pub fn wake_in(wake_at: Option<TimestampMs>, now: TimestampMs, every_ms: u64) -> Option<u64> {
    wake_at
        .filter(|&at| at > now && at < now + every_ms)
        .map(|at| at - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ExecutorId {
        ExecutorId::new(s.to_owned()).unwrap()
    }
    fn peers(ids: &[&str]) -> Vec<Peer> {
        ids.iter()
            .map(|s| Peer {
                id: id(s),
                heartbeat_at: 1_000,
            })
            .collect()
    }
    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn the_shares_of_all_live_executors_add_up_to_every_shard() {
        for n in 1..=7 {
            let names: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let live = peers(&refs);
            let total: usize = refs
                .iter()
                .map(|me| share(&id(me), 64, &live, &set(&[]), 1_000).target)
                .sum();
            assert_eq!(total, 64, "{n} executors");
        }
    }

    #[test]
    fn the_first_executors_by_id_take_the_remainder() {
        let live = peers(&["a", "b", "c"]);
        assert_eq!(share(&id("a"), 64, &live, &set(&[]), 1_000).target, 22);
        assert_eq!(share(&id("b"), 64, &live, &set(&[]), 1_000).target, 21);
        assert_eq!(share(&id("c"), 64, &live, &set(&[]), 1_000).target, 21);
    }

    #[test]
    fn an_executor_missing_from_the_live_list_aims_for_the_plain_share() {
        let live = peers(&["a", "b", "c"]);
        assert_eq!(share(&id("z"), 64, &live, &set(&[]), 1_000).target, 21);
        // Nobody live (heartbeats not read yet): it aims for everything.
        assert_eq!(share(&id("z"), 64, &[], &set(&[]), 1_000).target, 64);
    }

    #[test]
    fn surplus_shards_are_handed_over_highest_first() {
        let live = peers(&["a", "b"]);
        let s = share(&id("a"), 4, &live, &set(&[0, 1, 2, 3]), 1_000);
        assert_eq!(s.target, 2);
        assert_eq!(s.release, vec![3, 2]);
        assert_eq!(s.need, 0);
    }

    #[test]
    fn an_executor_short_of_its_share_needs_the_difference() {
        let live = peers(&["a", "b"]);
        let s = share(&id("b"), 4, &live, &set(&[3]), 1_000);
        assert_eq!((s.release.len(), s.need), (0, 1));
    }

    #[test]
    fn it_wakes_one_millisecond_after_the_first_peer_heartbeat_lapses() {
        let mut live = peers(&["a", "b", "c"]);
        live[1].heartbeat_at = 500;
        let s = share(&id("a"), 4, &live, &set(&[]), 1_000);
        assert_eq!(s.wake_at, Some(1_501));
        // Its own heartbeat does not count.
        let s = share(&id("b"), 4, &live, &set(&[]), 1_000);
        assert_eq!(s.wake_at, Some(2_001));
    }

    #[test]
    fn shards_held_or_being_handed_over_are_not_candidates() {
        let mut letting_go = LettingGo::default();
        letting_go.stopping(3);
        assert_eq!(candidates(5, &set(&[1]), &letting_go), vec![0, 2, 4]);
    }

    #[test]
    fn a_lost_shard_is_not_claimed_again_until_its_old_task_ended() {
        // Shard 2's lease was lost: its task is told to stop, and it is no longer held.
        let mut letting_go = LettingGo::default();
        letting_go.stopping(2);
        assert_eq!(candidates(4, &set(&[0]), &letting_go), vec![1, 3]);
        letting_go.ended(2);
        assert_eq!(candidates(4, &set(&[0]), &letting_go), vec![1, 2, 3]);
    }

    #[test]
    fn free_and_expired_shards_are_claimed_up_to_the_need_and_live_leases_set_the_wake() {
        let looked = vec![
            (
                0,
                Holder::Leased {
                    owner: id("x"),
                    expires_at: 2_000,
                },
            ),
            (1, Holder::Free),
            (
                2,
                Holder::Leased {
                    owner: id("y"),
                    expires_at: 900,
                },
            ),
            (
                3,
                Holder::Leased {
                    owner: id("x"),
                    expires_at: 1_500,
                },
            ),
            (4, Holder::Free),
        ];
        let (claim, wake) = claims(looked, 2, 1_000);
        assert_eq!(
            claim,
            vec![
                Claim {
                    shard: 1,
                    lapsed: None
                },
                Claim {
                    shard: 2,
                    lapsed: Some((id("y"), 900))
                },
            ]
        );
        assert_eq!(wake, Some(1_501));
    }

    #[test]
    fn a_wake_inside_the_tick_shortens_the_sleep_and_others_do_not() {
        assert_eq!(wake_in(Some(1_100), 1_000, 250), Some(100));
        assert_eq!(
            wake_in(Some(1_300), 1_000, 250),
            None,
            "the tick comes first"
        );
        assert_eq!(wake_in(Some(900), 1_000, 250), None, "already past");
        assert_eq!(wake_in(None, 1_000, 250), None);
        assert_eq!(earliest(Some(3), Some(2)), Some(2));
        assert_eq!(earliest(None, Some(2)), Some(2));
    }
}
