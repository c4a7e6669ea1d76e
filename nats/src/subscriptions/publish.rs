//! Guests' durable publishes (`revenant:api/messaging.publish`) on the wire.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind};
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::{Nats, headers};

impl Nats {
    /// A guest's durable publish (`revenant:api/messaging.publish`): a JetStream publish
    /// with `Nats-Msg-Id: msg_id`, so a stream that captures the subject stores it once
    /// however often a replay sends it; `Some(sequence)` is where it was stored. A subject
    /// no stream captures is published on core NATS (`None`). `Err(reason)` when a stream
    /// refused it (limits, an expected-sequence header).
    pub async fn publish_message(
        &self,
        subject: &str,
        mut h: HeaderMap,
        payload: Bytes,
        msg_id: &str,
    ) -> Result<std::result::Result<Option<u64>, String>> {
        h.insert(headers::MSG_ID, msg_id);
        let sent = self
            .jetstream()
            .publish_with_headers(subject.to_owned(), h.clone(), payload.clone())
            .await
            .map_err(|e| Error::nats("publish", e))?
            .await;
        match sent {
            Ok(ack) => Ok(Ok(Some(ack.sequence))),
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                // "No responders": no stream captures the subject — or JetStream is not
                // serving right now (a server restarting). Only the first is answered with
                // a core publish; for the second the caller tries again (a trap).
                match self.jetstream().stream_by_subject(subject).await {
                    Ok(stream) => Err(Error::nats(
                        "publish",
                        format!("stream {stream} captures {subject} but did not answer"),
                    )),
                    Err(lookup)
                        if lookup.kind()
                            == jetstream::context::GetStreamByNameErrorKind::NotFound =>
                    {
                        self.client()
                            .publish_with_headers(subject.to_owned(), h, payload)
                            .await
                            .map_err(|e| Error::nats("publish", e))?;
                        Ok(Ok(None))
                    }
                    Err(lookup) => Err(Error::nats("publish", lookup)),
                }
            }
            // The stream refused it (its limits, its size caps): the guest's to handle.
            Err(e)
                if matches!(
                    e.kind(),
                    PublishErrorKind::WrongLastMessageId | PublishErrorKind::WrongLastSequence
                ) || std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<jetstream::Error>())
                    .is_some_and(|j| refused(j.error_code())) =>
            {
                Ok(Err(e.to_string()))
            }
            // No answer (a timeout, a broken connection): the caller tries again.
            Err(e) => Err(Error::nats("publish", e)),
        }
    }
}

/// Whether a JetStream error answering a publish is the stream refusing the message
/// (its limits, its size caps), which a retry cannot change, rather than JetStream
/// being unavailable for a moment.
fn refused(code: jetstream::ErrorCode) -> bool {
    use jetstream::ErrorCode as C;
    [
        C::STREAM_STORE_FAILED,
        C::STREAM_MESSAGE_EXCEEDS_MAXIMUM,
        C::STREAM_HEADER_EXCEEDS_MAXIMUM,
        C::STORAGE_RESOURCES_EXCEEDED,
        C::MEMORY_RESOURCES_EXCEEDED,
        C::ACCOUNT_RESOURCES_EXCEEDED,
    ]
    .contains(&code)
}
