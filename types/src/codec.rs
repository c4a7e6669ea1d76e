//! The versioned envelope every internal record travels in: a MessagePack map
//! `{ "v": <schema version>, "d": <record with named fields> }`.
//!
//! Named fields (rmp-serde's `to_vec_named`) let a record grow optional fields
//! and enums grow variants while old bytes still decode; `v` lets a future
//! breaking change migrate old records explicitly instead of misreading them.
//! A record written by a newer schema than this build knows is refused with
//! [`CodecError::TooNew`] rather than half-decoded.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::oplog::{OplogEntry, OplogIndex};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("could not encode record: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("could not decode record (expected a Revenant MessagePack envelope): {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error(
        "record has schema version {found}, newer than this build understands ({max}); upgrade Revenant"
    )]
    TooNew { found: u16, max: u16 },
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: u16,
    d: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    d: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u16,
}

/// Encodes `record` in the current envelope.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(&EnvelopeOut {
        v: SCHEMA_VERSION,
        d: record,
    })?)
}

/// Decodes a record written by this or any older schema version.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let VersionOnly { v } = rmp_serde::from_slice(bytes)?;
    if v > SCHEMA_VERSION {
        return Err(CodecError::TooNew {
            found: v,
            max: SCHEMA_VERSION,
        });
    }
    // Version 1 is the only one so far; a v2 would match on `v` here and migrate.
    let env: EnvelopeIn<T> = rmp_serde::from_slice(bytes)?;
    Ok(env.d)
}

/// A batch of consecutive oplog entries as stored in one NATS message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OplogBatch {
    /// Index of `entries[0]`.
    pub first: OplogIndex,
    pub entries: Vec<OplogEntry>,
}

impl OplogBatch {
    /// The index one past the last entry.
    pub fn next_index(&self) -> OplogIndex {
        self.first + self.entries.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_newer_versions() {
        let batch = OplogBatch {
            first: 7,
            entries: vec![OplogEntry::Suspended {
                at: 1,
                waiting: vec!["timer:3".into()],
            }],
        };
        let bytes = encode(&batch).unwrap();
        assert_eq!(decode::<OplogBatch>(&bytes).unwrap(), batch);

        let newer = rmp_serde::to_vec_named(&EnvelopeOut {
            v: SCHEMA_VERSION + 1,
            d: &batch,
        })
        .unwrap();
        assert!(matches!(
            decode::<OplogBatch>(&newer),
            Err(CodecError::TooNew { .. })
        ));
        assert!(matches!(
            decode::<OplogBatch>(b"not msgpack"),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn older_records_without_new_fields_still_decode() {
        // A record written before `trace` existed on InvocationStarted.
        #[derive(Serialize)]
        #[serde(rename_all = "kebab-case")]
        enum Old {
            InvocationStarted {
                at: u64,
                idempotency_key: String,
                function: String,
                args: String,
            },
        }
        let old = Old::InvocationStarted {
            at: 1,
            idempotency_key: "k".into(),
            function: "f".into(),
            args: "[]".into(),
        };
        let bytes = rmp_serde::to_vec_named(&EnvelopeOut { v: 1, d: &old }).unwrap();
        let entry: OplogEntry = decode(&bytes).unwrap();
        assert!(
            matches!(entry, OplogEntry::InvocationStarted { trace, .. } if trace == Default::default())
        );
    }
}
