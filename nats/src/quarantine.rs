//! Invocations the client library cannot read. async-nats drops its whole
//! connection when a delivered message's subject or header block is not UTF-8
//! (or not a header block at all), and JetStream would redeliver it after the
//! ack wait — dropping the connection again, up to the delivery limit. Shard
//! consumers therefore take invocations through a connection of their own
//! ([`Nats::intake`](crate::Nats)): a drop costs the deliveries in flight on it
//! (they come again after the ack wait), never the replies of lease renewals,
//! oplog appends or results. After every reconnect the executor looks at what each of its shard
//! consumers delivered and has not had acknowledged, reading each message
//! through the JetStream API's JSON form (`STREAM.MSG.GET`: headers arrive as
//! base64, so nothing can break the connection) and, for each one the client
//! could not parse ([`header_block_readable`]): answers `invalid-header` to its
//! `Rvn-Reply-To` when that passes the ingress rules, dead-letters it (its
//! header block kept as base64 in `Rvn-Original-Headers-Base64`) and deletes it
//! from `RVN_INVOKE`, so it is never delivered again. The error is not stored in
//! `RVN_RESULTS`: the key is part of the unreadable block.
//!
//! Messages on the core `call` subjects have no stored copy to find: one costs
//! the executor's connection one reconnect and no answer.

use async_nats::HeaderMap;
use base64::Engine;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};

use crate::error::{Error, Result};
use crate::{Nats, headers, ingress};

/// Most unacknowledged deliveries looked at per shard and reconnect.
const MAX_LOOKED_AT: u64 = 10_000;

/// A stored message as `STREAM.MSG.GET` returns it.
#[derive(Debug, serde::Deserialize)]
struct Stored {
    message: StoredMessage,
}

#[derive(Debug, serde::Deserialize)]
struct StoredMessage {
    subject: String,
    #[serde(default)]
    hdrs: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

/// Whether async-nats can parse `block` as the header block of a delivered message
/// (the same steps its protocol parser takes; any failure there drops the connection).
pub fn header_block_readable(block: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(block) else {
        return false;
    };
    let mut lines = text.lines().peekable();
    let Some(suffix) = lines
        .next()
        .and_then(|v| v.strip_prefix("NATS/1.0"))
        .map(str::trim)
    else {
        return false;
    };
    let status = suffix.split_once(' ').map_or(suffix, |(s, _)| s.trim());
    let status_ok = status.len() == 3 && status.parse::<u16>().is_ok_and(|s| s >= 100);
    if !status.is_empty() && !status_ok {
        return false;
    }
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || name.contains(|c: char| !c.is_ascii_graphic() || c == ':') {
            return false;
        }
        while lines
            .next_if(|s| s.starts_with(char::is_whitespace))
            .is_some()
        {}
    }
    true
}

/// The value of header `name` in a header block, read leniently (lossy UTF-8).
fn lenient_header(block: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(block)
        .lines()
        .skip(1)
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
}

impl Nats {
    /// Finds, answers, dead-letters and deletes the messages shard `shard`'s consumer
    /// delivered that the client cannot parse (see the module docs); returns how many.
    pub async fn quarantine_unreadable(&self, shard: u32) -> Result<usize> {
        let ns = self.namespace();
        let stream_name = ns.invoke_stream();
        let stream = self
            .jetstream()
            .get_stream_no_info(&stream_name)
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        let info = stream
            .consumer_info(crate::invocations::consumer_name(shard))
            .await
            .map_err(|e| Error::nats("read shard consumer", e))?;
        let from = info.ack_floor.stream_sequence + 1;
        let to = info
            .delivered
            .stream_sequence
            .min(from.saturating_add(MAX_LOOKED_AT));
        let mut found = 0;
        for seq in from..=to {
            let got: async_nats::jetstream::response::Response<Stored> = self
                .jetstream()
                .request(
                    format!("STREAM.MSG.GET.{stream_name}"),
                    &serde_json::json!({ "seq": seq }),
                )
                .await
                .map_err(|e| Error::nats("read an invocation as JSON", e))?;
            // Acknowledged, deleted or never stored: nothing to look at.
            let async_nats::jetstream::response::Response::Ok(Stored { message }) = got else {
                continue;
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            let block = message
                .hdrs
                .as_deref()
                .and_then(|h| b64.decode(h).ok())
                .unwrap_or_default();
            // The server writes a subject that is not UTF-8 with replacement characters.
            let subject_ok = !message.subject.contains('\u{FFFD}');
            let headers_ok = block.is_empty() || header_block_readable(&block);
            if subject_ok && headers_ok {
                continue;
            }
            let error = ingress::not_utf8(if subject_ok {
                "header block"
            } else {
                "subject"
            });
            let body = message
                .data
                .as_deref()
                .and_then(|d| b64.decode(d).ok())
                .unwrap_or_default();
            self.refuse_unreadable(seq, &message.subject, &block, body, &error)
                .await?;
            stream
                .delete_message(seq)
                .await
                .map_err(|e| Error::nats("delete an unreadable invocation", e))?;
            found += 1;
        }
        Ok(found)
    }

    /// Answers (when its reply subject passes the ingress rules) and dead-letters an
    /// unreadable message.
    async fn refuse_unreadable(
        &self,
        seq: u64,
        subject: &str,
        block: &[u8],
        body: Vec<u8>,
        error: &ErrorBody,
    ) -> Result<()> {
        tracing::info!(sequence = seq, subject, reason = %error.message, "unreadable invocation quarantined");
        if let Some(reply) = lenient_header(block, headers::REPLY_TO)
            && ingress::reply_subject(self.namespace(), &reply).is_ok()
            && let Err(e) = self
                .reply_outcome(&reply, &InvocationOutcome::Err(error.clone()))
                .await
        {
            tracing::warn!(error = %e, "could not answer an unreadable invocation");
        }
        let worker = self
            .namespace()
            .parse_stored_invoke_subject(subject)
            .map(|(_, w)| w);
        let mut h = HeaderMap::new();
        h.insert(
            headers::ORIGINAL_HEADERS_BASE64,
            base64::engine::general_purpose::STANDARD
                .encode(block)
                .as_str(),
        );
        let printable: String = subject
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        self.dead_letter_raw(worker.as_ref(), Some(&h), &printable, body.into(), error)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_header_block_is_readable() {
        assert!(header_block_readable(
            b"NATS/1.0\r\nRvn-Function: add\r\nNats-Msg-Id: k1\r\n\r\n"
        ));
        assert!(header_block_readable(b"NATS/1.0 503\r\n\r\n"));
        assert!(header_block_readable(
            b"NATS/1.0\r\nX-Long: a\r\n  continued\r\n\r\n"
        ));
    }

    #[test]
    fn what_the_client_cannot_parse_is_unreadable() {
        for block in [
            &b"NATS/1.0\r\nRvn-Function: \xff\xfe\r\n\r\n"[..],
            b"HTTP/1.1\r\n\r\n",
            b"NATS/1.0\r\nno colon here\r\n\r\n",
            b"NATS/1.0\r\nBad Name: v\r\n\r\n",
            b"NATS/1.0 abc\r\n\r\n",
        ] {
            assert!(
                !header_block_readable(block),
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }

    #[test]
    fn the_reply_subject_of_an_unreadable_block_is_read_leniently() {
        let block = b"NATS/1.0\r\nX: \xff\r\nRvn-Reply-To: _INBOX.a\r\n\r\n";
        assert_eq!(
            lenient_header(block, headers::REPLY_TO).as_deref(),
            Some("_INBOX.a")
        );
    }
}
