//! Subscriptions (ARCHITECTURE.md "Subscriptions: durable pipelines and stream
//! processing"), IO-free: what a subscription is ([`SubscriptionSpec`]: the
//! source stream and its subject filters, where to start, the component
//! function each message invokes, the worker-name template, the window and the
//! failure policy), the template over subject tokens and headers
//! ([`WorkerTemplate`]), the invocation key of a source message
//! ([`message_key`]) and the status a forwarder reports ([`SubscriptionStatus`]).
//! Every parse error says what was expected.
//!
//! It does not read or publish anything: definitions are stored by
//! `revenant_nats::subscriptions`, and what a forwarder does with each message
//! and outcome is decided by the executor (`decide::subscription`).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::names::{self, ComponentName, WorkerName};
use crate::oplog::TimestampMs;

/// A bad subscription input; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubscriptionError(pub String);

fn bad(msg: impl Into<String>) -> SubscriptionError {
    SubscriptionError(msg.into())
}

/// The standard export a subscription calls with the whole message.
pub const SUBSCRIBER_HANDLE: &str = "revenant:api/subscriber@0.2.0.{handle}";

/// Messages held unacknowledged at most, when not set.
pub const DEFAULT_WINDOW: u32 = 256;
/// The largest window (JetStream's `max_ack_pending` of the source consumer).
pub const MAX_WINDOW: u32 = 100_000;

/// Where a new subscription starts reading its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// Only messages stored after the subscription was created.
    #[default]
    New,
    /// Every message the stream holds.
    All,
    /// From this stream sequence on.
    Sequence(u64),
    /// From the first message stored at or after this time (ms since the epoch).
    Time(TimestampMs),
}

impl Start {
    /// `new`, `all`, a stream sequence (`seq:<n>` or `<n>`), or an RFC 3339 time.
    pub fn parse(s: &str) -> Result<Self, SubscriptionError> {
        let s = s.trim();
        match s {
            "new" => return Ok(Self::New),
            "all" => return Ok(Self::All),
            _ => {}
        }
        let digits = s.strip_prefix("seq:").unwrap_or(s);
        if let Ok(n) = digits.parse::<u64>() {
            return if n == 0 {
                Err(bad(
                    "stream sequences start at 1: expected --start seq:<n> with n ≥ 1",
                ))
            } else {
                Ok(Self::Sequence(n))
            };
        }
        match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) => Ok(Self::Time(
                u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            )),
            Err(_) => Err(bad(format!(
                "start {s:?} is not understood; expected new, all, seq:<n> (a stream sequence) or an RFC 3339 time such as 2026-11-30T12:00:00Z"
            ))),
        }
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New => f.write_str("new"),
            Self::All => f.write_str("all"),
            Self::Sequence(n) => write!(f, "seq:{n}"),
            Self::Time(ms) => {
                let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(*ms) * 1_000_000)
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok());
                f.write_str(t.as_deref().unwrap_or("?"))
            }
        }
    }
}

/// What happens to a message whose invocation ends in an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// The message's worker (its key) stops: its later messages wait until the failed one
    /// is retried or skipped (`revenant subscription retry | skip`). Other keys go on.
    #[default]
    BlockKey,
    /// The message goes to `RVN_DEAD` with the error, and its key goes on.
    DeadLetter,
}

impl OnFailure {
    pub fn parse(s: &str) -> Result<Self, SubscriptionError> {
        match s.trim() {
            "block-key" => Ok(Self::BlockKey),
            "dead-letter" => Ok(Self::DeadLetter),
            other => Err(bad(format!(
                "on-failure {other:?} is not a policy; expected block-key or dead-letter"
            ))),
        }
    }
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BlockKey => "block-key",
            Self::DeadLetter => "dead-letter",
        })
    }
}

/// How a message becomes the function's arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// The payload is the invocation's JSON body: an array of arguments, or an object
    /// keyed by parameter name.
    #[default]
    Arguments,
    /// The function is [`SUBSCRIBER_HANDLE`]: it gets the whole message (subject, headers,
    /// payload bytes, stream, sequence, time).
    Message,
}

/// One part of a worker-name template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A subject token: 1-based from the start, or negative from the end (`-1` = last).
    Token(i32),
    Header(String),
}

/// A worker-name template over a message's subject tokens and headers:
/// `orders-{token:2}`, `{header:Tenant}`, `{token:-1}` (the last token). What it
/// renders must be a worker name (`[A-Za-z0-9_-]{1,128}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTemplate {
    text: String,
    parts: Vec<Part>,
}

impl WorkerTemplate {
    pub fn parse(text: &str) -> Result<Self, SubscriptionError> {
        let expected = "expected literal name characters ([A-Za-z0-9_-]) and placeholders {token:N} (N from 1, or -1 for the last token) or {header:Name}, e.g. orders-{token:2}";
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').ok_or_else(|| {
                        bad(format!(
                            "worker template {text:?} has an unclosed {{; {expected}"
                        ))
                    })?;
                    let inner = &rest[1..end];
                    let part = if let Some(n) = inner.strip_prefix("token:") {
                        match n.trim().parse::<i32>() {
                            Ok(n) if n != 0 => Part::Token(n),
                            _ => {
                                return Err(bad(format!(
                                    "worker template {text:?}: {{{inner}}} is not a token number; {expected}"
                                )));
                            }
                        }
                    } else if let Some(h) = inner.strip_prefix("header:") {
                        let h = h.trim();
                        if h.is_empty() || h.chars().any(|c| c.is_whitespace() || c == ':') {
                            return Err(bad(format!(
                                "worker template {text:?}: {{{inner}}} does not name a header; {expected}"
                            )));
                        }
                        Part::Header(h.to_owned())
                    } else {
                        return Err(bad(format!(
                            "worker template {text:?}: {{{inner}}} is not a placeholder; {expected}"
                        )));
                    };
                    parts.push(part);
                    rest = &rest[end + 1..];
                }
                found => {
                    let end = found.unwrap_or(rest.len());
                    let literal = &rest[..end];
                    if let Some(c) = literal
                        .chars()
                        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
                    {
                        return Err(bad(format!(
                            "worker template {text:?} has {c:?} outside a placeholder; {expected}"
                        )));
                    }
                    parts.push(Part::Text(literal.to_owned()));
                    rest = &rest[end..];
                }
            }
        }
        if parts.is_empty() {
            return Err(bad(format!("the worker template is empty; {expected}")));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// The worker a message goes to; `Err` says why it has none (a missing token or
    /// header, or a value that is not a worker name).
    pub fn render<'a>(
        &self,
        subject: &str,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<WorkerName, String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut name = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => name.push_str(t),
                Part::Token(n) => {
                    let i = if *n > 0 {
                        usize::try_from(*n - 1).ok()
                    } else {
                        tokens.len().checked_sub(n.unsigned_abs() as usize)
                    };
                    let token = i.and_then(|i| tokens.get(i)).ok_or_else(|| {
                        format!(
                            "subject {subject:?} has {} tokens, so the template {:?} has no {{token:{n}}}",
                            tokens.len(),
                            self.text
                        )
                    })?;
                    name.push_str(token);
                }
                Part::Header(h) => {
                    let v = header(h).filter(|v| !v.is_empty()).ok_or_else(|| {
                        format!(
                            "the message has no header {h}, so the template {:?} names no worker",
                            self.text
                        )
                    })?;
                    name.push_str(v);
                }
            }
        }
        WorkerName::new(name.clone()).map_err(|e| {
            format!(
                "the template {:?} gives {name:?} for this message, which is not a worker name: {e}",
                self.text
            )
        })
    }
}

impl fmt::Display for WorkerTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for WorkerTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for WorkerTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A subscription: each message of `stream` matching `filters` becomes one invocation
/// of `function` on worker `worker` (rendered per message) of `component`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SubscriptionSpec {
    /// `[A-Za-z0-9_-]{1,128}`.
    pub name: String,
    /// The source JetStream stream (it must exist).
    pub stream: String,
    /// Subject filters within the stream; empty = every subject of the stream.
    #[serde(default)]
    pub filters: Vec<String>,
    pub component: ComponentName,
    pub worker: WorkerTemplate,
    /// The export's full name (resolved when the subscription is added).
    pub function: String,
    #[serde(default)]
    pub input: Input,
    /// Whether the function returns a `result`: an `err` value counts as a failure.
    #[serde(default)]
    pub returns_result: bool,
    /// Messages delivered and not yet applied, at most (the source consumer's `max_ack_pending`).
    pub window: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
    #[serde(default)]
    pub start: Start,
    /// Paused: no new message is delivered (those in flight finish).
    #[serde(default)]
    pub paused: bool,
    /// Bumped by `revenant subscription retry`: every blocked key tries its failed
    /// message again, under a new key.
    #[serde(default)]
    pub retries: u64,
    /// Bumped by `revenant subscription skip`: every blocked key dead-letters its failed
    /// message and goes on.
    #[serde(default)]
    pub skips: u64,
    pub created_at: TimestampMs,
}

impl SubscriptionSpec {
    /// Checks what does not depend on the stream or the component: the name, the
    /// window and the filters.
    pub fn check(&self) -> Result<(), SubscriptionError> {
        names::validate("subscription", &self.name).map_err(|e| bad(e.to_string()))?;
        if self.stream.is_empty()
            || self
                .stream
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
        {
            return Err(bad(format!(
                "stream {:?} is not a JetStream stream name; expected a name without spaces, '.', '*', '>', '/' or '\\'",
                self.stream
            )));
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(bad(format!(
                "window {} is out of range; expected 1 to {MAX_WINDOW} messages in flight",
                self.window
            )));
        }
        for f in &self.filters {
            if f.is_empty() || f.split('.').any(str::is_empty) || f.chars().any(char::is_whitespace)
            {
                return Err(bad(format!(
                    "filter {f:?} is not a NATS subject; expected tokens separated by '.', with * and > wildcards, e.g. clicks.>"
                )));
            }
        }
        Ok(())
    }
}

/// The idempotency key of the invocation a source message becomes: `sub-<name>-<seq>`,
/// or after the operator's `n`-th retry of it, `sub-<name>-<seq>-r<n>`. The same message
/// always gets the same key, so it is applied once, whoever forwards it how often.
pub fn message_key(subscription: &str, sequence: u64, retry: u64) -> String {
    if retry == 0 {
        format!("sub-{subscription}-{sequence}")
    } else {
        format!("sub-{subscription}-{sequence}-r{retry}")
    }
}

/// A key blocked by a failed message (policy `block-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockedKey {
    pub worker: String,
    pub sequence: u64,
    pub error: String,
}

/// What the forwarder of a subscription reports (`RVN_SUBSCRIPTIONS` `status.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SubscriptionStatus {
    /// The executor running it.
    pub owner: String,
    pub updated_at: TimestampMs,
    /// Messages of the stream not yet delivered to the forwarder.
    pub pending: u64,
    /// Messages delivered and not yet applied (at most the window).
    pub in_flight: u64,
    /// Age of the oldest message not yet applied, ms (0 when there is none).
    pub oldest_age_ms: u64,
    /// Messages applied since this forwarder took the subscription.
    pub applied: u64,
    /// Messages dead-lettered since this forwarder took the subscription.
    pub dead_lettered: u64,
    #[serde(default)]
    pub blocked: Vec<BlockedKey>,
    /// Why the forwarder cannot run (e.g. the stream is gone), when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, subject: &str, headers: &[(&str, &str)]) -> Result<String, String> {
        WorkerTemplate::parse(template)
            .unwrap()
            .render(subject, |h| {
                headers.iter().find(|(n, _)| *n == h).map(|(_, v)| *v)
            })
            .map(|w| w.to_string())
    }

    #[test]
    fn templates_take_tokens_from_either_end_and_headers() {
        assert_eq!(
            render("orders-{token:2}", "orders.eu.42", &[]).unwrap(),
            "orders-eu"
        );
        assert_eq!(render("{token:-1}", "clicks.u7", &[]).unwrap(), "u7");
        assert_eq!(
            render("t-{header:Tenant}-{token:1}", "a.b", &[("Tenant", "acme")]).unwrap(),
            "t-acme-a"
        );
        assert_eq!(render("fixed", "x", &[]).unwrap(), "fixed");
    }

    #[test]
    fn a_message_without_the_token_or_header_or_with_a_bad_value_names_no_worker() {
        assert!(
            render("{token:3}", "a.b", &[])
                .unwrap_err()
                .contains("has 2 tokens")
        );
        assert!(
            render("{token:-3}", "a.b", &[])
                .unwrap_err()
                .contains("has 2 tokens")
        );
        assert!(
            render("{header:Day}", "a", &[])
                .unwrap_err()
                .contains("no header Day")
        );
        assert!(
            render("{header:Day}", "a", &[("Day", "2026/11/30")])
                .unwrap_err()
                .contains("not a worker name")
        );
    }

    #[test]
    fn bad_templates_say_what_was_expected() {
        for t in [
            "",
            "a.{token:1}",
            "{token:0}",
            "{token:x}",
            "{head:x}",
            "{token:1",
            "{header:}",
        ] {
            let e = WorkerTemplate::parse(t).unwrap_err().0;
            assert!(e.contains("expected"), "{t}: {e}");
        }
    }

    #[test]
    fn starts_and_policies_parse_and_print() {
        assert_eq!(Start::parse("new").unwrap(), Start::New);
        assert_eq!(Start::parse("all").unwrap(), Start::All);
        assert_eq!(Start::parse("seq:42").unwrap(), Start::Sequence(42));
        assert_eq!(Start::parse("42").unwrap(), Start::Sequence(42));
        assert_eq!(
            Start::parse("2026-11-30T00:00:00Z").unwrap(),
            Start::Time(1_795_996_800_000)
        );
        assert_eq!(
            Start::Time(1_795_996_800_000).to_string(),
            "2026-11-30T00:00:00Z"
        );
        assert!(Start::parse("seq:0").is_err());
        assert!(
            Start::parse("yesterday")
                .unwrap_err()
                .0
                .contains("expected")
        );
        assert_eq!(
            OnFailure::parse("dead-letter").unwrap(),
            OnFailure::DeadLetter
        );
        assert!(OnFailure::parse("drop").unwrap_err().0.contains("expected"));
    }

    #[test]
    fn keys_are_per_message_and_per_retry() {
        assert_eq!(message_key("orders", 7, 0), "sub-orders-7");
        assert_eq!(message_key("orders", 7, 2), "sub-orders-7-r2");
    }

    #[test]
    fn a_spec_round_trips_and_is_checked() {
        let spec = SubscriptionSpec {
            name: "orders".into(),
            stream: "ORDERS".into(),
            filters: vec!["orders.>".into()],
            component: ComponentName::new("shop").unwrap(),
            worker: WorkerTemplate::parse("o-{token:2}").unwrap(),
            function: "place".into(),
            input: Input::Arguments,
            returns_result: false,
            window: 10,
            on_failure: OnFailure::DeadLetter,
            start: Start::All,
            paused: false,
            retries: 0,
            skips: 0,
            created_at: 1,
        };
        spec.check().unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            serde_json::from_str::<SubscriptionSpec>(&json).unwrap(),
            spec
        );
        for bad in [
            SubscriptionSpec {
                window: 0,
                ..spec.clone()
            },
            SubscriptionSpec {
                stream: "A.B".into(),
                ..spec.clone()
            },
            SubscriptionSpec {
                filters: vec!["a..b".into()],
                ..spec.clone()
            },
            SubscriptionSpec {
                name: "a b".into(),
                ..spec
            },
        ] {
            assert!(bad.check().is_err());
        }
    }
}
