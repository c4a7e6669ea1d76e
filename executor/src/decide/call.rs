//! The worker-to-worker call protocol's pure parts (ARCHITECTURE.md
//! "Worker-to-worker RPC"): a call's key ([`call_key`]) is derived from the caller and
//! the oplog index of the call's `RpcStarted` entry, so a replay re-publishes the same
//! key (deduplicated by the callee) and the result names the call it answers;
//! `RpcStarted` records the call as a [`CallSpec`]; a call's outcome is kept in the
//! worker's promise book as JSON ([`encode_outcome`]).

use revenant_types::oplog::{ErrorBody, HostValue, InvocationOutcome, OplogEntry, OplogIndex};
use revenant_types::{ErrorKind, WorkerId, host};
use serde::{Deserialize, Serialize};

/// The idempotency key of the call `caller` began at oplog index `index`:
/// `rpc-<index>-<uuid v5 of caller and index>` (deterministic across replays, distinct
/// between workers and calls).
pub fn call_key(caller: &WorkerId, index: OplogIndex) -> String {
    let name = format!("revenant-rpc/{caller}/{index}");
    let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    format!("rpc-{index}-{uuid}")
}

/// The `Nats-Msg-Id` of the durable publish journaled at `index` by `worker`: the same
/// for every replay of it, different for every other publish.
pub fn publish_key(worker: &WorkerId, index: OplogIndex) -> String {
    let name = format!("revenant-publish/{worker}/{index}");
    let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    format!("pub-{index}-{uuid}")
}

/// The call index of a key [`call_key`] made for `caller`; `None` for any other key.
pub fn call_index(caller: &WorkerId, key: &str) -> Option<OplogIndex> {
    let index = key.strip_prefix("rpc-")?.split_once('-')?.0.parse().ok()?;
    (call_key(caller, index) == key).then_some(index)
}

/// What `RpcStarted` records of a call (as JSON text, so `worker oplog` shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSpec {
    /// `<component>/<worker>`.
    pub target: String,
    pub function: String,
    /// The JSON arguments as given.
    pub args: String,
    /// A scheduled call's time (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
}

/// The target of an entry that begins a call whose outcome comes back (`None` for
/// any other entry).
pub fn awaited_target(entry: &OplogEntry) -> Option<String> {
    match entry {
        OplogEntry::BeginRemoteWrite {
            function,
            request: HostValue::Text(text),
        } if function == host::RPC_INVOKE_AND_AWAIT || function == host::RPC_INVOKE_ASYNC => {
            serde_json::from_str::<CallSpec>(text)
                .ok()
                .map(|s| s.target)
        }
        _ => None,
    }
}

/// A call's outcome as the promise book keeps it (JSON).
pub fn encode_outcome(outcome: &InvocationOutcome) -> Vec<u8> {
    serde_json::to_vec(outcome).unwrap_or_default()
}

/// The outcome [`encode_outcome`] kept.
pub fn decode_outcome(payload: &[u8]) -> InvocationOutcome {
    serde_json::from_slice(payload).unwrap_or_else(|e| {
        InvocationOutcome::Err(ErrorBody::new(
            ErrorKind::InvalidReply,
            format!("a call's recorded outcome does not decode: {e}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_key_is_stable_names_its_index_and_differs_between_callers_and_calls() {
        let a = WorkerId::parse("order", "7").unwrap();
        let b = WorkerId::parse("order", "70").unwrap();
        assert_eq!(call_key(&a, 12), call_key(&a, 12));
        assert_ne!(call_key(&a, 12), call_key(&a, 13));
        assert_ne!(call_key(&a, 12), call_key(&b, 12));
        assert!(call_key(&a, 12).starts_with("rpc-12-"));
        assert_eq!(call_index(&a, &call_key(&a, 12)), Some(12));
        assert_eq!(call_index(&b, &call_key(&a, 12)), None);
        assert_eq!(call_index(&a, "key-1"), None);
    }

    #[test]
    fn only_calls_that_await_are_remembered_with_their_target() {
        let spec = serde_json::to_string(&CallSpec {
            target: "payment/7".into(),
            function: "charge".into(),
            args: "[5]".into(),
            at: None,
        })
        .unwrap();
        let begin = |function: &str| OplogEntry::BeginRemoteWrite {
            function: function.into(),
            request: HostValue::Text(spec.clone()),
        };
        assert_eq!(
            awaited_target(&begin(host::RPC_INVOKE_AND_AWAIT)),
            Some("payment/7".into())
        );
        assert_eq!(
            awaited_target(&begin(host::RPC_INVOKE_ASYNC)),
            Some("payment/7".into())
        );
        assert_eq!(awaited_target(&begin(host::RPC_INVOKE)), None);
        assert_eq!(awaited_target(&begin(host::HTTP_HANDLE)), None);
    }

    #[test]
    fn an_outcome_survives_the_book_and_garbage_is_an_invalid_reply() {
        let ok = InvocationOutcome::Ok("[1]".into());
        assert_eq!(decode_outcome(&encode_outcome(&ok)), ok);
        let InvocationOutcome::Err(e) = decode_outcome(b"{") else {
            panic!("an error");
        };
        assert_eq!(e.kind, ErrorKind::InvalidReply);
    }
}
