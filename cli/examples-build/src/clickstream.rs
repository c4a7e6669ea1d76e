//! The clickstream example's data (`examples/clickstream`): a seeded generator of
//! realistic clicks and the offline computation of the daily totals the pipeline
//! must produce (sessions end at a gap over [`GAP_MS`], as stage 1 ends them). Used
//! by `revenant example clickstream-load | clickstream-check`, the tests and the bench.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

/// A gap longer than this between two clicks of a user ends a session (as stage 1).
pub const GAP_MS: u64 = 30 * 60 * 1000;
/// 2026-11-01T00:00:00Z: where the generated clicks start.
const START_MS: u64 = 1_793_491_200_000;

/// One day's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Totals {
    pub sessions: u64,
    pub duration_ms: u64,
    pub pages: u64,
}

/// `YYYY-MM-DD` (UTC) of `ms` since the epoch.
pub fn day(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The daily totals of the finished sessions in `clicks` (`(user, ts)` in stream order),
/// as stage 1 and 2 compute them: a session ends at a gap over [`GAP_MS`]; the last
/// session of each user is still open, so it is not counted.
pub fn offline<'a>(clicks: impl IntoIterator<Item = (&'a str, u64)>) -> BTreeMap<String, Totals> {
    // user → (start, last, pages)
    let mut open: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut days: BTreeMap<String, Totals> = BTreeMap::new();
    for (user, ts) in clicks {
        match open.get_mut(user) {
            Some(s) if ts > s.1 + GAP_MS => {
                let t = days.entry(day(s.0)).or_default();
                t.sessions += 1;
                t.duration_ms += s.1 - s.0;
                t.pages += s.2;
                *s = (ts, ts, 1);
            }
            Some(s) => {
                s.1 = s.1.max(ts);
                s.2 += 1;
            }
            None => {
                open.insert(user, (ts, ts, 1));
            }
        }
    }
    days
}

/// A click message (`clicks.<user>`, JSON `{"page", "ts"}`) as `(user, ts)`; `None`
/// for anything else.
pub fn parse_click(subject: &str, payload: &[u8]) -> Option<(String, u64)> {
    let user = subject.strip_prefix("clicks.")?;
    let ts = std::str::from_utf8(payload).ok()?;
    // `"ts": <digits>` — the generator's own format, read without a JSON dependency.
    let at = ts.find("\"ts\"")?;
    let digits: String = ts[at + 4..]
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((user.to_owned(), digits.parse().ok()?))
}

/// `events` clicks over `users` users: each user's clock moves on by a few seconds to
/// minutes, and one click in seven starts a new session (a gap of 31 min to 3 h).
pub fn generate(users: u32, events: u64, seed: u64) -> Vec<(String, u64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut clocks: Vec<u64> = (0..users)
        .map(|_| START_MS + rng.random_range(0..86_400_000))
        .collect();
    (0..events)
        .map(|_| {
            let u = rng.random_range(0..users.max(1)) as usize;
            let gap = if rng.random_ratio(1, 7) {
                rng.random_range(31 * 60_000..180 * 60_000)
            } else {
                rng.random_range(5_000..600_000)
            };
            clocks[u] += gap;
            (format!("u{u:05}"), clocks[u])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_at_a_gap_over_30_minutes_and_the_open_ones_are_not_counted() {
        let h = 3_600_000;
        let clicks = [
            ("a", START_MS),
            ("b", START_MS),
            ("a", START_MS + 60_000),
            ("a", START_MS + 60_000 + GAP_MS + 1), // a's first session ends: 1 min, 2 pages
            ("b", START_MS + GAP_MS),              // b goes on (not over the gap)
            ("b", START_MS + 30 * h),              // b's first session ends, the next day
        ];
        let days = offline(clicks);
        assert_eq!(
            days.get("2026-11-01"),
            Some(&Totals {
                sessions: 2,
                duration_ms: 60_000 + GAP_MS,
                pages: 4
            })
        );
        assert_eq!(days.len(), 1);
        assert_eq!(day(START_MS + 30 * h), "2026-11-02");
    }

    #[test]
    fn click_messages_are_read_back() {
        assert_eq!(
            parse_click("clicks.u1", br#"{"page":"/p","ts":1793491200000}"#),
            Some(("u1".to_owned(), 1_793_491_200_000))
        );
        assert_eq!(parse_click("other.u1", br#"{"ts":1}"#), None);
        assert_eq!(parse_click("clicks.u1", b"not json"), None);
    }

    #[test]
    fn the_generator_is_seeded_and_each_users_clock_moves_forward() {
        let a = generate(10, 500, 1);
        assert_eq!(a, generate(10, 500, 1));
        assert_ne!(a, generate(10, 500, 2));
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for (u, ts) in &a {
            assert!(last.insert(u, *ts).is_none_or(|prev| prev < *ts));
        }
        assert!(
            offline(a.iter().map(|(u, t)| (u.as_str(), *t)))
                .values()
                .map(|t| t.sessions)
                .sum::<u64>()
                > 0
        );
    }
}
