//! `revenant:api/messaging`: durable publishes from guests (ARCHITECTURE.md
//! "Subscriptions"). A publish is a remote write:
//!
//! 1. Refuse a subject inside the namespace or a system subject, and bad headers
//!    ([`check`]): pure, so a replay refuses the same way; nothing is journaled.
//! 2. Journal the message (`BeginRemoteWrite` of `revenant:api/messaging.publish`) and
//!    commit: nothing leaves that a crash could undo.
//! 3. Publish with `Nats-Msg-Id` = [`crate::decide::publish_key`] of this worker and
//!    the entry's index, then journal where it was stored (`EndRemoteWrite`). A replay
//!    that finds the end hands back what it recorded; one that does not publishes the
//!    same message with the same id again, which the stream deduplicates (within its
//!    duplicate window). A publish NATS does not acknowledge is tried again in place for
//!    up to a minute, not trapped: a retried attempt would journal it anew.

use revenant_nats::async_nats::HeaderMap;
use revenant_nats::names::Namespace;
use serde::{Deserialize, Serialize};
use wasmtime::component::{HasData, Linker};

use super::api::bindings::revenant::api::messaging;
use super::journaled::MessagingPublish;
use super::waits::{CanWait, WaitParts};

/// How long a publish NATS does not acknowledge is tried again before the invocation
/// traps.
const PUBLISH_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Header names and values a guest may set, at most this long each.
const MAX_HEADER_LEN: usize = 4096;

/// A publish as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub subject: String,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Step 1: whether a guest may publish this; the error the guest sees otherwise.
pub fn check(ns: &Namespace, out: &Outgoing) -> Result<(), messaging::PublishError> {
    revenant_nats::ingress::publish_subject(ns, &out.subject)
        .map_err(messaging::PublishError::Denied)?;
    for (name, value) in &out.headers {
        let bad_name = name.is_empty()
            || name.len() > MAX_HEADER_LEN
            || name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ':');
        if bad_name {
            return Err(messaging::PublishError::Invalid(format!(
                "header name {name:?} is not acceptable; expected 1 to {MAX_HEADER_LEN} bytes without spaces, control characters or ':'"
            )));
        }
        if name.to_ascii_lowercase().starts_with("nats-") {
            return Err(messaging::PublishError::Invalid(format!(
                "header {name} is JetStream's (Nats-*); the publish sets Nats-Msg-Id itself"
            )));
        }
        if value.len() > MAX_HEADER_LEN || value.chars().any(|c| c == '\r' || c == '\n') {
            return Err(messaging::PublishError::Invalid(format!(
                "the value of header {name} is not acceptable; expected at most {MAX_HEADER_LEN} bytes without line breaks"
            )));
        }
    }
    Ok(())
}

/// Steps 2–3 (see the module docs). A NATS failure is a trap: the invocation is
/// retried, and the retry publishes the same message with the same id.
async fn publish(
    parts: &mut WaitParts<'_>,
    out: Outgoing,
) -> wasmtime::Result<Result<Option<u64>, messaging::PublishError>> {
    let nats = parts.waits.nats.clone();
    if let Err(e) = check(nats.namespace(), &out) {
        return Ok(Err(e));
    }
    let journal = parts.journal;
    let request = rmp_serde::to_vec_named(&out)?;
    let (index, recorded) = journal.begin_write::<MessagingPublish>(request)?;
    let answer = match recorded {
        Some(recorded) => recorded,
        None => {
            journal.commit().await?;
            let id = crate::decide::publish_key(journal.worker(), index);
            let mut h = HeaderMap::new();
            for (name, value) in &out.headers {
                h.append(name.as_str(), value.as_str());
            }
            let payload = bytes::Bytes::from(out.payload);
            // NATS away (a server restarting): the same message with the same id again,
            // not a trap — a retried attempt would journal the publish anew, under
            // another index and so another id, and the stream would store it twice.
            let mut delay = std::time::Duration::from_millis(100);
            let started = std::time::Instant::now();
            let answer = loop {
                match nats
                    .publish_message(&out.subject, h.clone(), payload.clone(), &id)
                    .await
                {
                    Ok(answer) => break answer,
                    Err(e) if started.elapsed() < PUBLISH_RETRY_FOR => {
                        tracing::warn!(subject = %out.subject, error = %e, "publish failed; trying again");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(std::time::Duration::from_secs(2));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            .map(|seq| seq.map(|s| s.to_string()).unwrap_or_default());
            journal.end_write::<MessagingPublish>(index, answer.clone());
            answer
        }
    };
    Ok(match answer {
        Ok(seq) if seq.is_empty() => Ok(None),
        Ok(seq) => Ok(Some(seq.parse().map_err(|_| {
            wasmtime::Error::msg(format!("the journal holds {seq:?} as a stream sequence"))
        })?)),
        Err(why) => Err(messaging::PublishError::Rejected(why)),
    })
}

pub struct Messaging<'a> {
    parts: WaitParts<'a>,
}

impl messaging::Host for Messaging<'_> {
    async fn publish(
        &mut self,
        subject: String,
        headers: Vec<(String, String)>,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Option<u64>, messaging::PublishError>> {
        let out = Outgoing {
            subject,
            headers,
            payload,
        };
        publish(&mut self.parts, out).await
    }
}

struct HasMessaging;

impl HasData for HasMessaging {
    type Data<'a> = Messaging<'a>;
}

/// Registers `revenant:api/messaging`.
pub fn add_to_linker<T: CanWait>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    messaging::add_to_linker::<T, HasMessaging>(linker, |t: &mut T| Messaging {
        parts: t.wait_parts(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(subject: &str, headers: &[(&str, &str)]) -> Outgoing {
        Outgoing {
            subject: subject.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            payload: b"{}".to_vec(),
        }
    }

    #[test]
    fn guests_publish_outside_the_namespace_with_their_own_headers_only() {
        let ns = Namespace::new("rvn").unwrap();
        assert!(check(&ns, &out("sessions.u1", &[("Day", "2026-11-30")])).is_ok());
        for denied in [
            "rvn.invoke.c.w",
            "$JS.API.STREAM.LIST",
            "a.*",
            "a..b",
            "x.>",
        ] {
            assert!(
                matches!(
                    check(&ns, &out(denied, &[])),
                    Err(messaging::PublishError::Denied(_))
                ),
                "{denied}"
            );
        }
        for (n, v) in [("Nats-Msg-Id", "x"), ("a b", "x"), ("", "x"), ("A", "x\ny")] {
            assert!(
                matches!(
                    check(&ns, &out("s.a", &[(n, v)])),
                    Err(messaging::PublishError::Invalid(_))
                ),
                "{n}: {v}"
            );
        }
    }

    #[test]
    fn a_publish_is_journaled_as_messagepack_and_reads_back() {
        let o = out("s.a", &[("K", "V")]);
        let bytes = rmp_serde::to_vec_named(&o).unwrap();
        assert_eq!(rmp_serde::from_slice::<Outgoing>(&bytes).unwrap(), o);
    }
}
