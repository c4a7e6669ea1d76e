//! Scheduled invocations and cron (ARCHITECTURE.md "Scheduled invocations and
//! cron"), IO-free: what a schedule is ([`ScheduleSpec`]: when, what, overlap
//! and catch-up policy), how its user-facing inputs are read (RFC 3339 times,
//! durations like `90s` or `1h30m`, 6-field cron with seconds first, `@hourly`
//! …, `@every <duration>`), schedule ids (`i-<key>` one-off, `c-<name>` cron),
//! and the last-firing record the executor keeps per schedule. Every parse
//! error says what was expected.
//!
//! It does not publish or read anything: the holder message is built and
//! published by `revenant_nats::schedules`, and whether a firing is applied or
//! skipped is decided by the executor (`decide::schedule`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::names::{self, WorkerId};
use crate::oplog::{TimestampMs, TraceContext};

/// A bad schedule input; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn bad(msg: impl Into<String>) -> ScheduleError {
    ScheduleError(msg.into())
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// Once, at this time (ms since the epoch; the server fires at its whole second,
    /// rounded down). A past time fires at once.
    At(TimestampMs),
    /// Repeatedly: a 6-field cron expression (seconds first), `@yearly` … `@hourly`, or
    /// `@every <duration>` (at least 1 s); `time_zone` (IANA) for cron expressions only.
    Cron {
        expr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
}

impl When {
    /// A cron form (anything but a one-off `@at`): needs nats-server 2.14 or later.
    pub fn is_cron(&self) -> bool {
        matches!(self, Self::Cron { .. })
    }

    /// The `Nats-Schedule` header value.
    pub fn nats_schedule(&self) -> Result<String, ScheduleError> {
        match self {
            Self::At(at) => Ok(format!("@at {}", rfc3339_second(*at)?)),
            Self::Cron { expr, .. } => Ok(expr.trim().to_owned()),
        }
    }

    /// A cron schedule, its expression and time zone checked ([`check_cron`],
    /// [`check_time_zone`]).
    pub fn cron(expr: &str, time_zone: Option<&str>) -> Result<Self, ScheduleError> {
        check_cron(expr)?;
        if let Some(tz) = time_zone {
            check_time_zone(tz)?;
            if expr.trim_start().starts_with("@every") {
                return Err(bad(format!(
                    "a time zone ({tz}) applies to cron expressions only, not to {expr:?}: drop --tz"
                )));
            }
        }
        Ok(Self::Cron {
            expr: expr.trim().to_owned(),
            time_zone: time_zone.map(str::to_owned),
        })
    }
}

/// What a firing does while another invocation of the worker runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Waits its turn in the worker's order (default).
    #[default]
    Queue,
    /// Is skipped (and recorded as skipped).
    Skip,
}

impl Overlap {
    /// The `Rvn-Overlap` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Skip => "skip",
        }
    }

    /// Reads `queue` or `skip`.
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        match s.trim() {
            "queue" => Ok(Self::Queue),
            "skip" => Ok(Self::Skip),
            other => Err(bad(format!(
                "overlap {other:?} is not understood; expected queue (wait for the running invocation) or skip"
            ))),
        }
    }
}

/// A scheduled invocation: the holder `<ns>.schedule.<c>.<w>.<id>` says all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScheduleSpec {
    pub worker: WorkerId,
    /// `i-<key>` (one-off) or `c-<name>` (cron); see [`one_off_id`], [`cron_id`].
    pub id: String,
    pub when: When,
    /// The exported function (as for any invocation).
    pub function: String,
    /// The arguments: a JSON array (or WAVE text with `content_type`).
    pub args: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// One-off only: the firing's idempotency key (`Rvn-Idempotency-Key`). A cron
    /// firing's key is `<holder>@<next fire time>`, its own per firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub overlap: Overlap,
    /// Firings later than this (seconds after their time) are skipped and recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup_secs: Option<u64>,
    /// The trace context every firing carries (`traceparent` on the holder): a new trace
    /// linked to what made the schedule (ARCHITECTURE.md "Tracing").
    #[serde(default, skip_serializing_if = "TraceContext::is_empty")]
    pub trace: TraceContext,
}

/// What a user asks for (CLI flags, the REST body): exactly one of `at`, `in`, `cron`.
/// [`ScheduleRequest::spec`] checks it and makes the [`ScheduleSpec`]; CLI and router
/// share it, so they accept and refuse the same things.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScheduleRequest {
    /// Once, at this RFC 3339 time.
    #[serde(default)]
    pub at: Option<String>,
    /// Once, after this duration (`90s`, `1h30m`).
    #[serde(default, rename = "in")]
    pub in_: Option<String>,
    /// Repeatedly: a 6-field cron expression, `@hourly` …, `@every <duration>`.
    #[serde(default)]
    pub cron: Option<String>,
    /// The IANA time zone of `cron` (default UTC).
    #[serde(default)]
    pub tz: Option<String>,
    /// The schedule's name: publishing the same name again replaces it.
    #[serde(default)]
    pub name: Option<String>,
    /// `queue` (default) or `skip`.
    #[serde(default)]
    pub overlap: Option<String>,
    /// Skip firings later than this after their time (`5m`; default: no bound).
    #[serde(default)]
    pub catchup: Option<String>,
    /// A one-off's idempotency key (default `<id>@<time>`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl ScheduleRequest {
    /// Whether any schedule field is set (`invoke` without one runs at once).
    pub fn is_scheduled(&self) -> bool {
        self.at.is_some() || self.in_.is_some() || self.cron.is_some()
    }

    /// Checks the request and makes the schedule of `function(args)` at `worker`; `fresh`
    /// names it when it has no name (e.g. a new UUID), `now` is the time `in` counts from.
    #[allow(clippy::too_many_arguments)]
    pub fn spec(
        &self,
        worker: WorkerId,
        function: String,
        args: String,
        content_type: Option<String>,
        fresh: &str,
        now: TimestampMs,
    ) -> Result<ScheduleSpec, ScheduleError> {
        // Schedules have second resolution: a one-off's time is rounded up to its whole
        // second, so it never fires before the time asked for.
        let whole = |ms: TimestampMs| ms.div_ceil(1_000).saturating_mul(1_000);
        let when = match (&self.at, &self.in_, &self.cron) {
            (Some(at), None, None) => When::At(whole(parse_at(at)?)),
            (None, Some(d), None) => When::At(whole(now.saturating_add(parse_duration_ms(d)?))),
            (None, None, Some(expr)) => When::cron(expr, self.tz.as_deref())?,
            _ => {
                return Err(bad(
                    "say when with exactly one of at (an RFC 3339 time), in (a duration) or cron (an expression)",
                ));
            }
        };
        if self.tz.is_some() && !when.is_cron() {
            return Err(bad(
                "a time zone (tz) applies to cron expressions only; one-off times carry their own offset",
            ));
        }
        let name = self.name.as_deref().unwrap_or(fresh);
        let (id, idempotency_key) = match &when {
            When::At(at) => {
                let id = one_off_id(name)?;
                let key = match &self.idempotency_key {
                    Some(k) => k.clone(),
                    None => format!("{id}@{}", rfc3339_second(*at)?),
                };
                (id, Some(key))
            }
            When::Cron { .. } => {
                if self.idempotency_key.is_some() {
                    return Err(bad(
                        "a cron schedule cannot take an idempotency key: each firing has its own (<holder>@<fire time>)",
                    ));
                }
                (cron_id(name)?, None)
            }
        };
        let catchup_secs = self
            .catchup
            .as_deref()
            .map(|c| parse_duration_ms(c).map(|ms| ms.div_ceil(1_000)))
            .transpose()?;
        Ok(ScheduleSpec {
            worker,
            id,
            when,
            function,
            args,
            content_type,
            idempotency_key,
            overlap: self
                .overlap
                .as_deref()
                .map(Overlap::parse)
                .transpose()?
                .unwrap_or_default(),
            catchup_secs,
            trace: TraceContext::default(),
        })
    }
}

/// The id of a one-off schedule with idempotency key `key`.
pub fn one_off_id(key: &str) -> Result<String, ScheduleError> {
    let id = format!("i-{key}");
    check_id(&id)?;
    Ok(id)
}

/// The id of the named (cron) schedule `name`.
pub fn cron_id(name: &str) -> Result<String, ScheduleError> {
    let id = format!("c-{name}");
    check_id(&id)?;
    Ok(id)
}

/// A schedule id is one NATS token (`[A-Za-z0-9_-]{1,128}`) starting `i-`, `c-` or `t-`.
pub fn check_id(id: &str) -> Result<(), ScheduleError> {
    names::validate("schedule id", id).map_err(|e| bad(e.to_string()))?;
    if !(id.starts_with("i-") || id.starts_with("c-") || id.starts_with("t-")) {
        return Err(bad(format!(
            "schedule id {id:?} must start with i- (one-off), c- (cron) or t- (a durable timer)"
        )));
    }
    Ok(())
}

/// Reads an RFC 3339 time (`2026-12-01T09:30:00Z`, `…+02:00`).
pub fn parse_at(s: &str) -> Result<TimestampMs, ScheduleError> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
        bad(format!(
            "{s:?} is not an RFC 3339 time ({e}); expected e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00"
        ))
    })?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| bad(format!("{s:?} is before 1970; expected a time to come")))
}

/// Reads a duration: numbers with units `ms`, `s`, `m`, `h`, `d`, e.g. `90s`, `1h30m`, `2d`.
pub fn parse_duration_ms(s: &str) -> Result<u64, ScheduleError> {
    let expected = || {
        bad(format!(
            "{s:?} is not a duration; expected numbers with units ms, s, m, h or d, e.g. 90s, 5m, 1h30m, 2d"
        ))
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(expected());
    }
    let (mut total, mut rest) = (0u64, text);
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(expected());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(expected()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(per)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(expected)?;
    }
    Ok(total)
}

const CRON_EXPECTED: &str = "expected 6 fields, seconds first (\"0 30 9 * * 1-5\": 09:30:00 on weekdays), \
     @yearly, @monthly, @weekly, @daily, @hourly, or @every <duration of at least 1s> (e.g. @every 1m30s)";

/// Checks the form of a cron schedule (the server checks the values of each field).
pub fn check_cron(expr: &str) -> Result<(), ScheduleError> {
    let e = expr.trim();
    if let Some(every) = e.strip_prefix("@every ") {
        // Go durations (the server parses them): no `d` unit.
        let ms = parse_duration_ms(every.trim())
            .ok()
            .filter(|_| !every.contains('d'))
            .ok_or_else(|| {
                bad(format!(
                    "@every {:?} is not a duration; expected e.g. @every 1s, @every 5m, @every 1h30m",
                    every.trim()
                ))
            })?;
        if ms < 1_000 {
            return Err(bad(format!(
                "{e:?} is too frequent: @every needs at least 1s"
            )));
        }
        return Ok(());
    }
    if e.starts_with('@') {
        return match e {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            _ => Err(bad(format!(
                "cron expression {e:?} is not understood; {CRON_EXPECTED}"
            ))),
        };
    }
    let fields: Vec<&str> = e.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(bad(format!(
            "cron expression {e:?} has {} fields; {CRON_EXPECTED}",
            fields.len()
        )));
    }
    let ok = |f: &str| {
        f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/' | '?'))
    };
    if let Some(f) = fields.iter().find(|f| !ok(f)) {
        return Err(bad(format!(
            "cron field {f:?} of {e:?} is not understood; each field is *, ?, numbers, names, ranges a-b, steps /n and lists a,b; {CRON_EXPECTED}"
        )));
    }
    Ok(())
}

/// Checks the form of an IANA time zone name (`Europe/Paris`, `UTC`); the server
/// knows which exist.
pub fn check_time_zone(tz: &str) -> Result<(), ScheduleError> {
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{tz:?} is not a time zone; expected an IANA name such as Europe/Paris, America/New_York or UTC"
        )))
    }
}

/// `at` (ms) as RFC 3339 UTC at its whole second, rounded down (schedules have second
/// resolution).
pub fn rfc3339_second(at: TimestampMs) -> Result<String, ScheduleError> {
    let t = OffsetDateTime::from_unix_timestamp(i64::try_from(at / 1_000).unwrap_or(i64::MAX))
        .map_err(|e| bad(format!("{at} ms is not a time: {e}")))?;
    t.format(&Rfc3339)
        .map_err(|e| bad(format!("{at} ms cannot be written as RFC 3339: {e}")))
}

/// `at` (ms) as RFC 3339 UTC with milliseconds, for display.
pub fn rfc3339_ms(at: TimestampMs) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{at} ms"))
}

/// What became of a schedule's last firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FiringOutcome {
    Ok,
    Error,
    /// Not applied: overlap `skip` while another invocation ran, or later than the
    /// catch-up bound.
    Skipped,
}

/// The last firing of a schedule (KV `RVN_SCHEDULES`, key `<c>.<w>.<id>`), written by
/// the executor that applied or skipped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FiringRecord {
    /// When the executor settled it (ms since the epoch).
    pub at: TimestampMs,
    pub idempotency_key: String,
    pub outcome: FiringOutcome,
    /// The error, or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How late it arrived after its time (ms), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness_ms: Option<u64>,
    /// The schedule's next fire time (`Nats-Schedule-Next` of this firing), RFC 3339;
    /// none for a one-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_combine_and_a_bad_one_says_what_was_expected() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        for wrong in ["", "10", "s", "5 minutes", "1.5h", "-3s"] {
            let e = parse_duration_ms(wrong).unwrap_err();
            assert!(e.0.contains("expected numbers with units"), "{wrong}: {e}");
        }
    }

    #[test]
    fn an_rfc3339_time_is_read_with_its_offset_and_a_bad_one_shows_an_example() {
        assert_eq!(parse_at("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_at("2023-11-14T23:13:20.5+01:00"),
            Ok(1_700_000_000_500)
        );
        let e = parse_at("tomorrow at nine").unwrap_err();
        assert!(
            e.0.contains("RFC 3339") && e.0.contains("2026-12-01T09:30:00Z"),
            "{e}"
        );
    }

    #[test]
    fn a_one_off_is_an_at_schedule_at_its_whole_second() {
        let when = When::At(1_700_000_000_999);
        assert_eq!(when.nats_schedule().unwrap(), "@at 2023-11-14T22:13:20Z");
        assert!(!when.is_cron());
    }

    #[test]
    fn cron_takes_six_fields_or_a_macro_or_every_of_at_least_a_second() {
        for good in [
            "0 30 9 * * 1-5",
            "*/5 * * * * *",
            "@hourly",
            "@every 1s",
            "@every 1m30s",
        ] {
            assert_eq!(check_cron(good), Ok(()), "{good}");
        }
        let e = check_cron("30 9 * * *").unwrap_err();
        assert!(
            e.0.contains("has 5 fields") && e.0.contains("seconds first"),
            "{e}"
        );
        let e = check_cron("@every 500ms").unwrap_err();
        assert!(e.0.contains("at least 1s"), "{e}");
        let e = check_cron("@every 1d").unwrap_err();
        assert!(e.0.contains("not a duration"), "{e}");
        let e = check_cron("@fortnightly").unwrap_err();
        assert!(e.0.contains("@hourly"), "{e}");
        let e = check_cron("0 0 9 * * $").unwrap_err();
        assert!(e.0.contains("\"$\""), "{e}");
    }

    #[test]
    fn a_time_zone_is_an_iana_name_and_applies_to_cron_expressions_only() {
        assert!(
            When::cron("0 0 9 * * *", Some("Europe/Paris"))
                .unwrap()
                .is_cron()
        );
        let e = When::cron("0 0 9 * * *", Some("Paris time")).unwrap_err();
        assert!(e.0.contains("IANA"), "{e}");
        let e = When::cron("@every 5s", Some("UTC")).unwrap_err();
        assert!(e.0.contains("cron expressions only"), "{e}");
    }

    #[test]
    fn a_request_says_when_exactly_once_and_names_its_schedule_and_key() {
        let w = WorkerId::parse_path("counter/c1").unwrap();
        let make = |r: &ScheduleRequest| {
            r.spec(
                w.clone(),
                "add".into(),
                "[1]".into(),
                None,
                "fresh",
                1_700_000_000_000,
            )
        };
        let one = make(&ScheduleRequest {
            in_: Some("90s".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(one.when, When::At(1_700_000_090_000));
        let rounded = make(&ScheduleRequest {
            in_: Some("1500ms".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            rounded.when,
            When::At(1_700_000_002_000),
            "never before its time"
        );
        assert_eq!(one.id, "i-fresh");
        assert_eq!(
            one.idempotency_key.as_deref(),
            Some("i-fresh@2023-11-14T22:14:50Z")
        );
        let cron = make(&ScheduleRequest {
            cron: Some("0 0 9 * * 1-5".into()),
            tz: Some("Europe/Paris".into()),
            name: Some("daily".into()),
            overlap: Some("skip".into()),
            catchup: Some("5m".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (cron.id.as_str(), cron.overlap, cron.catchup_secs),
            ("c-daily", Overlap::Skip, Some(300))
        );
        assert_eq!(cron.idempotency_key, None);
        for (r, expected) in [
            (ScheduleRequest::default(), "exactly one of"),
            (
                ScheduleRequest {
                    at: Some("x".into()),
                    in_: Some("1s".into()),
                    ..Default::default()
                },
                "exactly one of",
            ),
            (
                ScheduleRequest {
                    in_: Some("1s".into()),
                    tz: Some("UTC".into()),
                    ..Default::default()
                },
                "cron expressions only",
            ),
            (
                ScheduleRequest {
                    at: Some("noon".into()),
                    ..Default::default()
                },
                "RFC 3339",
            ),
            (
                ScheduleRequest {
                    cron: Some("@every 1s".into()),
                    idempotency_key: Some("k".into()),
                    ..Default::default()
                },
                "its own",
            ),
        ] {
            let e = make(&r).unwrap_err();
            assert!(e.0.contains(expected), "{r:?}: {e}");
        }
    }

    #[test]
    fn schedule_ids_are_one_token_with_their_kind_prefix() {
        assert_eq!(one_off_id("pay-42").unwrap(), "i-pay-42");
        assert_eq!(cron_id("daily").unwrap(), "c-daily");
        assert!(cron_id("a.b").is_err());
        assert!(check_id("x-1").unwrap_err().0.contains("i- (one-off)"));
        assert_eq!(Overlap::parse("skip"), Ok(Overlap::Skip));
        assert!(
            Overlap::parse("drop")
                .unwrap_err()
                .0
                .contains("expected queue")
        );
    }
}
