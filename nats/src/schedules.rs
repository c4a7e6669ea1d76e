//! Scheduled invocations and cron on the wire (ARCHITECTURE.md "Scheduled
//! invocations and cron"). A schedule is one JetStream message-schedule
//! **holder** in `RVN_INVOKE` on `<ns>.schedule.<c>.<w>.<id>` (`i-<key>`
//! one-off, `c-<name>` cron; durable timers use `t-<index>`, [`crate::timers`]):
//!
//! | header | value |
//! | --- | --- |
//! | `Nats-Schedule` | `@at <RFC3339>`, a 6-field cron expression (seconds first), `@hourly` …, `@every <dur>` |
//! | `Nats-Schedule-Time-Zone` | IANA zone, cron expressions only |
//! | `Nats-Schedule-Target` | `<ns>.invoke.<c>.<w>` |
//! | `Nats-TTL` | `never` (exempt from the stream's max age) |
//! | `Rvn-Function`, `Content-Type` | as on any invocation; the body is the arguments |
//! | `Rvn-Idempotency-Key` | one-off only: the firing's key (a cron firing's is `<holder>@<Nats-Schedule-Next>`) |
//! | `Rvn-Scheduled-At` | one-off only: its time, for lateness and catch-up |
//! | `Rvn-Overlap` | `skip` to skip a firing while another invocation of the worker runs (default `queue`) |
//! | `Rvn-Catchup` | seconds: a firing later than that after its time is skipped and recorded |
//!
//! The server copies every `Rvn-*` header and the body onto each fired copy
//! and adds `Nats-Scheduler` (the holder) and `Nats-Schedule-Next`; so any
//! NATS client can schedule an invocation by publishing such a holder.
//! Publishing it again replaces it (one schedule per subject); purging its
//! subject cancels it ([`cancel`]). One publisher of holders serves timers and
//! schedules ([`Nats::publish_holder`]).
//!
//! Cron forms need nats-server 2.14 or later: [`put`] refuses them on an older
//! server with a message naming its version. The executor records each
//! schedule's last firing in KV `RVN_SCHEDULES` (`<c>.<w>.<id>`,
//! [`record_firing`]), which [`list`] shows beside the holder.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use revenant_types::WorkerId;
use revenant_types::codec;
use revenant_types::schedule::{self, FiringRecord, Overlap, ScheduleSpec, When};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::Namespace;
use crate::{Nats, headers};

/// The first nats-server version with cron schedules (`@every`, cron expressions, time zones).
pub const CRON_MIN_VERSION: (u64, u64) = (2, 14);

/// A schedule as stored: its holder, and its last firing if it fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScheduleInfo {
    /// `<component>/<worker>`.
    pub worker: String,
    pub id: String,
    /// The `Nats-Schedule` value (`@at …`, a cron expression, `@every …`); none when the
    /// holder is gone (a one-off that fired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The arguments as published (JSON array or WAVE text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// When it fires next (RFC 3339): a one-off's time; for a repeating schedule the
    /// `Nats-Schedule-Next` of its last firing (none before its first firing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub overlap: Overlap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup_secs: Option<u64>,
    /// Pending (its holder exists) or done (a one-off that fired, or cancelled).
    pub pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_firing: Option<FiringRecord>,
}

/// What [`put`] stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PutSchedule {
    pub id: String,
    /// The holder's subject.
    pub subject: String,
    /// The holder's stream sequence.
    pub sequence: u64,
    /// A one-off's firing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Parses `major.minor[.patch…]` of a server version.
fn version_of(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.trim_start_matches('v').split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether a nats-server of `version` runs cron schedules (2.14 or later).
pub fn supports_cron(version: &str) -> bool {
    version_of(version).is_some_and(|v| v >= CRON_MIN_VERSION)
}

/// Publishes (or replaces) the holder of `spec`; returns where it is. Cron forms are
/// refused on a server older than 2.14; a cron expression or time zone the server
/// rejects is [`Error::BadSchedule`] saying what was expected.
pub async fn put(nats: &Nats, spec: &ScheduleSpec) -> Result<PutSchedule> {
    schedule::check_id(&spec.id).map_err(|e| Error::BadSchedule(e.0))?;
    if spec.when.is_cron() {
        let version = nats.client().server_info().version;
        if !supports_cron(&version) {
            return Err(Error::BadSchedule(format!(
                "cron schedules need nats-server {}.{} or later, but the server is {version}; \
                 upgrade it, or schedule one-off invocations (--at / --in)",
                CRON_MIN_VERSION.0, CRON_MIN_VERSION.1
            )));
        }
    }
    let ns = nats.namespace();
    let subject = ns.schedule_subject(&spec.worker, &spec.id)?;
    let pattern = spec
        .when
        .nats_schedule()
        .map_err(|e| Error::BadSchedule(e.0))?;
    let mut h = HeaderMap::new();
    h.insert(headers::FUNCTION, spec.function.as_str());
    if let Some(c) = &spec.content_type {
        h.insert(headers::CONTENT_TYPE, c.as_str());
    }
    let time_zone = match &spec.when {
        When::At(at) => {
            let key = spec.idempotency_key.as_deref().ok_or_else(|| {
                Error::BadSchedule("a one-off schedule needs its idempotency key".into())
            })?;
            h.insert(headers::IDEMPOTENCY_KEY, key);
            h.insert(headers::SCHEDULED_AT, schedule::rfc3339_ms(*at).as_str());
            None
        }
        When::Cron { time_zone, .. } => time_zone.as_deref(),
    };
    if spec.overlap == Overlap::Skip {
        h.insert(headers::OVERLAP, Overlap::Skip.as_str());
    }
    if let Some(secs) = spec.catchup_secs {
        h.insert(headers::CATCHUP, secs.to_string().as_str());
    }
    // Copied onto every firing: each continues the trace the schedule was made in.
    crate::invocations::insert_trace(&mut h, &spec.trace);
    let sequence = nats
        .publish_holder(
            subject.clone(),
            &pattern,
            time_zone,
            &ns.invoke_subject(&spec.worker),
            h,
            Bytes::from(spec.args.clone().into_bytes()),
        )
        .await
        .map_err(|e| explain(e, &pattern, time_zone))?;
    Ok(PutSchedule {
        id: spec.id.clone(),
        subject,
        sequence,
        idempotency_key: spec.idempotency_key.clone(),
    })
}

/// A publish the server refused for its pattern or time zone, said for a user.
fn explain(e: Error, pattern: &str, time_zone: Option<&str>) -> Error {
    let code = match &e {
        Error::Nats { source, .. } => jetstream_code(source.as_ref()),
        _ => None,
    };
    match code {
        Some(c) if c == ErrorCode::MESSAGE_SCHEDULES_PATTERN_INVALID => {
            Error::BadSchedule(format!(
                "the server refused schedule {pattern:?}: expected 6 cron fields, seconds first, with values in range \
                 (seconds 0-59, minutes 0-59, hours 0-23, day 1-31, month 1-12 or JAN-DEC, weekday 0-6 or SUN-SAT), \
                 @hourly/@daily/@weekly/@monthly/@yearly, @every <duration of at least 1s>, or @at <RFC 3339 time>"
            ))
        }
        // JSMessageSchedulesTimeZoneInvalidErr (no async-nats constant yet).
        Some(ErrorCode(10223)) => Error::BadSchedule(format!(
            "the server does not know time zone {:?}; expected an IANA name such as Europe/Paris or America/New_York",
            time_zone.unwrap_or_default()
        )),
        _ => e,
    }
}

fn jetstream_code(e: &(dyn std::error::Error + 'static)) -> Option<ErrorCode> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(js) = err.downcast_ref::<async_nats::jetstream::Error>() {
            return Some(js.error_code());
        }
        cur = err.source();
    }
    None
}

/// Cancels schedule `id` of worker `w` (purges its holder): it never fires again.
/// Returns whether it was pending.
pub async fn cancel(nats: &Nats, w: &WorkerId, id: &str) -> Result<bool> {
    let subject = nats.namespace().schedule_subject(w, id)?;
    let pending = holder(nats, &subject).await?.is_some();
    nats.purge_schedules(subject).await?;
    Ok(pending)
}

/// The schedules of worker `w` (every worker's when `None`), pending ones first by id,
/// with their last firing. Durable timers (`t-…`) are not listed.
pub async fn list(nats: &Nats, w: Option<&WorkerId>) -> Result<Vec<ScheduleInfo>> {
    let ns = nats.namespace();
    let filter = w.map_or_else(
        || ns.schedule_wildcard(),
        |w| ns.schedule_worker_wildcard(w),
    );
    let stream = nats
        .jetstream()
        .get_stream_no_info(ns.invoke_stream())
        .await
        .map_err(|e| Error::nats("get invoke stream", e))?;
    let subjects: Vec<String> = stream
        .info_with_subjects(&filter)
        .await
        .map_err(|e| Error::nats("list schedule holders", e))?
        .map_ok(|(subject, _)| subject)
        .try_collect()
        .await
        .map_err(|e| Error::nats("list schedule holders", e))?;
    let wanted: Vec<(WorkerId, String)> = subjects
        .iter()
        .filter_map(|subject| ns.parse_schedule_subject(subject))
        .filter(|(_, id)| !id.starts_with("t-"))
        .collect();
    let mut found: Vec<ScheduleInfo> = futures::stream::iter(wanted)
        .map(|(w, id)| async move { get(nats, &w, &id).await })
        .buffer_unordered(64)
        .filter_map(|r| async move { r.transpose() })
        .try_collect()
        .await?;
    found.sort_by(|a, b| (&a.worker, &a.id).cmp(&(&b.worker, &b.id)));
    Ok(found)
}

/// Schedule `id` of worker `w`: its holder if pending, its last firing if it fired;
/// `None` when neither exists.
pub async fn get(nats: &Nats, w: &WorkerId, id: &str) -> Result<Option<ScheduleInfo>> {
    let ns = nats.namespace();
    let subject = ns.schedule_subject(w, id)?;
    let (held, last) = tokio::join!(holder(nats, &subject), last_firing(nats, w, id));
    let (held, last) = (held?, last?);
    if held.is_none() && last.is_none() {
        return Ok(None);
    }
    let h = held.as_ref().map(|(h, _)| h);
    let get_h = |name: &str| {
        h.and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
            .filter(|v| !v.is_empty())
    };
    let pattern = get_h(headers::SCHEDULE);
    let next = match pattern.as_deref().and_then(|p| p.strip_prefix("@at ")) {
        Some(at) => Some(at.to_owned()),
        None if held.is_some() => last.as_ref().and_then(|l| l.next.clone()),
        None => None,
    };
    Ok(Some(ScheduleInfo {
        worker: w.to_string(),
        id: id.to_owned(),
        time_zone: get_h(headers::SCHEDULE_TIME_ZONE),
        function: get_h(headers::FUNCTION),
        args: held
            .as_ref()
            .map(|(_, body)| String::from_utf8_lossy(body).into_owned()),
        next,
        overlap: get_h(headers::OVERLAP)
            .and_then(|o| Overlap::parse(&o).ok())
            .unwrap_or_default(),
        catchup_secs: get_h(headers::CATCHUP).and_then(|c| c.parse().ok()),
        pending: held.is_some(),
        schedule: pattern,
        last_firing: last,
    }))
}

async fn holder(nats: &Nats, subject: &str) -> Result<Option<(HeaderMap, Bytes)>> {
    let stream = nats
        .jetstream()
        .get_stream_no_info(nats.namespace().invoke_stream())
        .await
        .map_err(|e| Error::nats("get invoke stream", e))?;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(Some((m.headers, m.payload))),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(Error::nats("read schedule holder", e)),
    }
}

/// The last firing of schedule `id` of worker `w`, as the executor recorded it.
pub async fn last_firing(nats: &Nats, w: &WorkerId, id: &str) -> Result<Option<FiringRecord>> {
    let kv = nats.kv_bucket(nats.namespace().schedules_bucket()).await?;
    let value = kv
        .get(Namespace::schedule_key(w, id))
        .await
        .map_err(|e| Error::nats("read a schedule's last firing", e))?;
    value
        .map(|v| codec::decode(&v).map_err(Error::from))
        .transpose()
}

/// Records the last firing of schedule `id` of worker `w` (the executor, once it is
/// applied or skipped).
pub async fn record_firing(
    nats: &Nats,
    w: &WorkerId,
    id: &str,
    record: &FiringRecord,
) -> Result<()> {
    let kv = nats.kv_bucket(nats.namespace().schedules_bucket()).await?;
    kv.put(
        Namespace::schedule_key(w, id),
        codec::encode(record)?.into(),
    )
    .await
    .map_err(|e| Error::nats("record a schedule's last firing", e))?;
    Ok(())
}

impl Nats {
    /// Publishes (or replaces) a schedule holder on `subject` that fires `pattern`
    /// (`@at …`, cron) to `target`, with `extra` headers and `body` copied onto each
    /// firing; returns its stream sequence. Holders never expire (`Nats-TTL: never`,
    /// exempt from the stream's max age). The one publisher of holders: durable timers
    /// ([`crate::timers`]) and scheduled invocations ([`put`]).
    pub(crate) async fn publish_holder(
        &self,
        subject: String,
        pattern: &str,
        time_zone: Option<&str>,
        target: &str,
        mut extra: HeaderMap,
        body: Bytes,
    ) -> Result<u64> {
        extra.insert(headers::SCHEDULE, pattern);
        if let Some(tz) = time_zone {
            extra.insert(headers::SCHEDULE_TIME_ZONE, tz);
        }
        extra.insert(headers::SCHEDULE_TARGET, target);
        extra.insert(headers::MSG_TTL, "never");
        let ack = self
            .jetstream()
            .publish_with_headers(subject, extra, body)
            .await
            .map_err(|e| Error::nats("publish a schedule holder", e))?
            .await
            .map_err(|e| Error::nats("publish a schedule holder", e))?;
        Ok(ack.sequence)
    }

    /// Purges every message on `subject` (a holder, or a wildcard of holders) in `RVN_INVOKE`.
    pub(crate) async fn purge_schedules(&self, subject: String) -> Result<()> {
        let stream = self
            .jetstream()
            .get_stream_no_info(self.namespace().invoke_stream())
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        stream
            .purge()
            .filter(subject)
            .await
            .map_err(|e| Error::nats("purge a schedule holder", e))?;
        Ok(())
    }
}

/// How long a firing waited after its time: `scheduled_at` (a one-off's
/// `Rvn-Scheduled-At`) or else `fired_at` (when the server stored the fired copy).
pub fn lateness(scheduled_at: Option<&str>, fired_at: Option<u64>, now: u64) -> Option<Duration> {
    let due = scheduled_at
        .and_then(|s| schedule::parse_at(s).ok())
        .or(fired_at)?;
    Some(Duration::from_millis(now.saturating_sub(due)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_needs_a_2_14_server() {
        assert!(supports_cron("2.14.0"));
        assert!(supports_cron("2.15.1"));
        assert!(supports_cron("3.0.0-beta"));
        assert!(!supports_cron("2.12.8"));
        assert!(!supports_cron("2.11.0"));
        assert!(!supports_cron(""));
    }

    #[test]
    fn lateness_counts_from_the_scheduled_time_else_from_the_firing() {
        let at = "2023-11-14T22:13:20Z";
        assert_eq!(
            lateness(Some(at), Some(1_700_000_009_000), 1_700_000_001_500),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(
            lateness(None, Some(1_700_000_000_000), 1_700_000_000_040),
            Some(Duration::from_millis(40))
        );
        assert_eq!(lateness(None, None, 5), None);
    }
}
