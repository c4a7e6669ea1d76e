//! Promises: their id, their record in `RVN_PROMISES` and the pure decisions
//! about them (what a completion does to a record; how a payload is shown).
//!
//! A promise belongs to the worker that created it; its id is
//! `<component>/<worker>/<oplog index>`, the index of the worker's
//! `PromiseCreated` oplog entry (ARCHITECTURE.md, "Waiting: suspension,
//! timers, promises"). Its record is created `pending` when the guest creates
//! it and turns `completed` once, with the first completer's payload: a
//! promise is never completed twice and its payload never changes.
//!
//! Not here: the KV bucket, the CAS and the wake message (`revenant-nats`
//! `promises`), the guest interface (WIT) and the oplog entries.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{NameError, WorkerId};
use crate::oplog::{OplogIndex, TimestampMs};

/// Bytes of a message that are not the promise's payload: the wake message's
/// headers and the record's envelope. A payload may be at most the configured
/// max payload minus this, so that the completion record and the wake message
/// both fit in one NATS message.
pub const PAYLOAD_HEADROOM: usize = 1024;

/// The largest payload a promise accepts when messages may carry `max_payload` bytes.
pub fn max_promise_payload(max_payload: usize) -> usize {
    max_payload.saturating_sub(PAYLOAD_HEADROOM)
}

/// A promise's id: the worker that created it and the oplog index of its
/// `PromiseCreated` entry. Written and parsed as `<component>/<worker>/<index>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromiseId {
    pub worker: WorkerId,
    pub index: OplogIndex,
}

/// A promise id that is not `<component>/<worker>/<index>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromiseIdError {
    #[error(
        "promise id {id:?} has {parts} part(s); expected <component>/<worker>/<index>, e.g. approval/a1/5"
    )]
    Shape { id: String, parts: usize },
    #[error("promise id {id:?}: {source}")]
    Name {
        id: String,
        #[source]
        source: NameError,
    },
    #[error(
        "promise id {id:?} has index {index:?}; expected the oplog index of the promise as a whole number (1 or more), e.g. approval/a1/5"
    )]
    Index { id: String, index: String },
}

impl PromiseId {
    pub fn new(worker: WorkerId, index: OplogIndex) -> Self {
        Self { worker, index }
    }

    /// Validates the three parts as they come from a URL path or a subject.
    pub fn parse_parts(component: &str, worker: &str, index: &str) -> Result<Self, PromiseIdError> {
        let id = || format!("{component}/{worker}/{index}");
        let worker = WorkerId::parse(component, worker)
            .map_err(|source| PromiseIdError::Name { id: id(), source })?;
        // Only plain digits: `u64::from_str` would also take "+5".
        let parsed = (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
            .then(|| index.parse::<u64>().ok())
            .flatten()
            .filter(|i| *i > 0)
            .ok_or_else(|| PromiseIdError::Index {
                id: id(),
                index: index.to_owned(),
            })?;
        Ok(Self::new(worker, parsed))
    }

    /// `<component>.<worker>.<index>`: the form of KV keys and subject tokens.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.worker.dotted(), self.index)
    }
}

impl fmt::Display for PromiseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.worker, self.index)
    }
}

impl std::str::FromStr for PromiseId {
    type Err = PromiseIdError;
    fn from_str(s: &str) -> Result<Self, PromiseIdError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [c, w, i] => Self::parse_parts(c, w, i),
            _ => Err(PromiseIdError::Shape {
                id: s.to_owned(),
                parts: parts.len(),
            }),
        }
    }
}

impl TryFrom<String> for PromiseId {
    type Error = PromiseIdError;
    fn try_from(s: String) -> Result<Self, PromiseIdError> {
        s.parse()
    }
}

impl From<PromiseId> for String {
    fn from(id: PromiseId) -> String {
        id.to_string()
    }
}

/// Whether a promise has been completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromiseState {
    Pending,
    Completed,
}

impl PromiseState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
        }
    }
}

/// The value of `<c>.<w>.<index>` in `RVN_PROMISES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PromiseRecord {
    pub state: PromiseState,
    pub created_at: TimestampMs,
    #[serde(default)]
    pub completed_at: Option<TimestampMs>,
    /// The first completer's payload (usually JSON); `None` while pending.
    #[serde(default, with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
}

/// What a completion does, decided from the stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteStep {
    /// No record: nobody created this promise.
    Unknown,
    /// Someone completed it first; the stored payload stays.
    AlreadyCompleted,
    /// Write this record (CAS on the revision it was read at).
    Write(PromiseRecord),
}

impl PromiseRecord {
    /// A new pending promise.
    pub fn pending(now: TimestampMs) -> Self {
        Self {
            state: PromiseState::Pending,
            created_at: now,
            completed_at: None,
            payload: None,
        }
    }

    /// What completing `stored` with `payload` at `now` does.
    pub fn complete_step(stored: Option<&Self>, payload: &[u8], now: TimestampMs) -> CompleteStep {
        match stored {
            None => CompleteStep::Unknown,
            Some(r) if r.state == PromiseState::Completed => CompleteStep::AlreadyCompleted,
            Some(r) => CompleteStep::Write(Self {
                state: PromiseState::Completed,
                created_at: r.created_at,
                completed_at: Some(now),
                payload: Some(payload.to_vec()),
            }),
        }
    }

    /// The JSON form shown by HTTP and the CLI's `--json`:
    /// `{"id", "state", "created-at", "completed-at"}` plus the payload as
    /// `"payload": <JSON>` when it is JSON, else as `"payload-base64": "<standard base64>"`.
    /// A pending promise has neither.
    pub fn to_json(&self, id: &PromiseId) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": id.to_string(),
            "state": self.state,
            "created-at": self.created_at,
            "completed-at": self.completed_at,
        });
        if let Some(payload) = &self.payload {
            match serde_json::from_slice::<serde_json::Value>(payload) {
                Ok(json) => v["payload"] = json,
                Err(_) => v["payload-base64"] = base64_standard(payload).into(),
            }
        }
        v
    }
}

/// Standard base64 (RFC 4648, with padding).
fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PromiseId {
        s.parse().unwrap()
    }

    #[test]
    fn an_id_reads_back_what_it_writes() {
        let p = id("approval/a-1/17");
        assert_eq!(p.worker, WorkerId::parse("approval", "a-1").unwrap());
        assert_eq!(p.index, 17);
        assert_eq!(p.to_string(), "approval/a-1/17");
        assert_eq!(p.dotted(), "approval.a-1.17");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"approval/a-1/17\"");
        assert_eq!(serde_json::from_str::<PromiseId>(&json).unwrap(), p);
    }

    #[test]
    fn an_id_without_three_parts_says_what_was_expected() {
        for bad in ["approval/a1", "approval", "a/b/1/2", ""] {
            let err = bad.parse::<PromiseId>().unwrap_err();
            assert!(matches!(err, PromiseIdError::Shape { .. }), "{bad}: {err}");
            assert!(
                err.to_string()
                    .contains("expected <component>/<worker>/<index>"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_id_with_a_bad_name_names_the_rule() {
        let err = "appro.val/a1/3".parse::<PromiseId>().unwrap_err();
        assert!(matches!(err, PromiseIdError::Name { .. }), "{err}");
        assert!(err.to_string().contains("[A-Za-z0-9_-]"), "{err}");
        assert!(err.to_string().contains("appro.val/a1/3"), "{err}");
    }

    #[test]
    fn an_index_must_be_a_positive_whole_number() {
        for bad in ["x", "-1", "+5", "0", "1.5", "", "99999999999999999999999"] {
            let err = PromiseId::parse_parts("c", "w", bad).unwrap_err();
            assert!(matches!(err, PromiseIdError::Index { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("whole number"), "{err}");
        }
        assert_eq!(PromiseId::parse_parts("c", "w", "007").unwrap().index, 7);
    }

    #[test]
    fn a_record_travels_with_kebab_case_names() {
        let r = PromiseRecord {
            state: PromiseState::Completed,
            created_at: 5,
            completed_at: Some(9),
            payload: Some(b"\"yes\"".to_vec()),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["state"], "completed");
        assert_eq!(v["created-at"], 5);
        assert_eq!(v["completed-at"], 9);
        let bytes = crate::codec::encode(&r).unwrap();
        assert_eq!(crate::codec::decode::<PromiseRecord>(&bytes).unwrap(), r);
        let pending = PromiseRecord::pending(3);
        let bytes = crate::codec::encode(&pending).unwrap();
        assert_eq!(
            crate::codec::decode::<PromiseRecord>(&bytes).unwrap(),
            pending
        );
    }

    #[test]
    fn completing_a_pending_promise_writes_the_payload_once() {
        let pending = PromiseRecord::pending(1);
        let CompleteStep::Write(done) = PromiseRecord::complete_step(Some(&pending), b"42", 7)
        else {
            panic!("a pending promise is written")
        };
        assert_eq!(done.state, PromiseState::Completed);
        assert_eq!(
            (done.created_at, done.completed_at),
            (1, Some(7)),
            "creation time kept"
        );
        assert_eq!(done.payload.as_deref(), Some(&b"42"[..]));
        assert_eq!(
            PromiseRecord::complete_step(Some(&done), b"43", 8),
            CompleteStep::AlreadyCompleted
        );
    }

    #[test]
    fn completing_a_promise_nobody_created_is_unknown() {
        assert_eq!(
            PromiseRecord::complete_step(None, b"1", 1),
            CompleteStep::Unknown
        );
    }

    #[test]
    fn a_json_payload_is_shown_as_json_and_anything_else_as_base64() {
        let p = id("c/w/2");
        let mut r = PromiseRecord::pending(1);
        let v = r.to_json(&p);
        assert_eq!(v["id"], "c/w/2");
        assert_eq!(v["state"], "pending");
        assert!(v.get("payload").is_none() && v.get("payload-base64").is_none());
        r.payload = Some(br#"{"ok": true}"#.to_vec());
        assert_eq!(r.to_json(&p)["payload"], serde_json::json!({"ok": true}));
        r.payload = Some(vec![0xff, 0x00, b'a']);
        let v = r.to_json(&p);
        assert_eq!(v["payload-base64"], "/wBh");
        assert!(v.get("payload").is_none());
    }

    #[test]
    fn the_payload_limit_leaves_room_for_headers() {
        assert_eq!(max_promise_payload(1 << 20), (1 << 20) - PAYLOAD_HEADROOM);
        assert_eq!(max_promise_payload(10), 0);
    }
}
