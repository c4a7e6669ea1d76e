//! The typed journaled call: each durable host function is a type naming its
//! persistent name ([`revenant_types::host`]) and the Rust types of its request
//! and response; [`super::Journal::read`] journals it and hands back the typed
//! response, so no host function encodes or decodes a `HostValue` by hand.

use revenant_types::host;
use revenant_types::oplog::{HostValue, HttpRequestRecord, HttpResponseRecord};

/// A value as it is journaled.
pub trait Recorded: Sized {
    fn into_host(self) -> HostValue;
    /// The value, or what the journal held instead.
    fn from_host(value: HostValue) -> Result<Self, HostValue>;
}

impl Recorded for () {
    fn into_host(self) -> HostValue {
        HostValue::Unit
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Unit => Ok(()),
            other => Err(other),
        }
    }
}

impl Recorded for u64 {
    fn into_host(self) -> HostValue {
        HostValue::U64(self)
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::U64(v) => Ok(v),
            other => Err(other),
        }
    }
}

impl Recorded for Vec<u8> {
    fn into_host(self) -> HostValue {
        HostValue::Bytes(self)
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Bytes(v) => Ok(v),
            other => Err(other),
        }
    }
}

impl Recorded for String {
    fn into_host(self) -> HostValue {
        HostValue::Text(self)
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Text(v) => Ok(v),
            other => Err(other),
        }
    }
}

/// A wall-clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    pub seconds: u64,
    pub nanoseconds: u32,
}

impl Recorded for WallTime {
    fn into_host(self) -> HostValue {
        HostValue::Datetime {
            seconds: self.seconds,
            nanoseconds: self.nanoseconds,
        }
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Datetime {
                seconds,
                nanoseconds,
            } => Ok(Self {
                seconds,
                nanoseconds,
            }),
            other => Err(other),
        }
    }
}

/// An HTTP exchange as journaled: the full response, or the error it ended with.
impl Recorded for Result<HttpResponseRecord, String> {
    fn into_host(self) -> HostValue {
        match self {
            Ok(response) => HostValue::HttpResponse(response),
            Err(message) => HostValue::Error(message),
        }
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::HttpResponse(response) => Ok(Ok(response)),
            HostValue::Error(message) => Ok(Err(message)),
            other => Err(other),
        }
    }
}

impl Recorded for HttpRequestRecord {
    fn into_host(self) -> HostValue {
        HostValue::HttpRequest(self)
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::HttpRequest(request) => Ok(request),
            other => Err(other),
        }
    }
}

/// The indexes of the ready pollables of a `wasi:io/poll.poll`, journaled as text
/// (`"0,2"`) so the oplog viewer shows it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyList(pub Vec<u32>);

impl Recorded for ReadyList {
    fn into_host(self) -> HostValue {
        let text: Vec<String> = self.0.iter().map(u32::to_string).collect();
        HostValue::Text(text.join(","))
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Text(text) if text.is_empty() => Ok(Self(vec![])),
            HostValue::Text(text) => text
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map(Self)
                .map_err(|_| HostValue::Text(text)),
            other => Err(other),
        }
    }
}

impl Recorded for bool {
    fn into_host(self) -> HostValue {
        HostValue::U64(self.into())
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::U64(v @ (0 | 1)) => Ok(v == 1),
            other => Err(other),
        }
    }
}

/// A payload that may not be there yet: `Unit` when absent.
impl Recorded for Option<Vec<u8>> {
    fn into_host(self) -> HostValue {
        self.map_or(HostValue::Unit, HostValue::Bytes)
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Unit => Ok(None),
            HostValue::Bytes(v) => Ok(Some(v)),
            other => Err(other),
        }
    }
}

/// A call that succeeds with a flag or fails with a message the guest sees.
impl Recorded for Result<bool, String> {
    fn into_host(self) -> HostValue {
        match self {
            Ok(flag) => flag.into_host(),
            Err(message) => HostValue::Error(message),
        }
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Error(message) => Ok(Err(message)),
            other => bool::from_host(other).map(Ok),
        }
    }
}

/// A call that succeeds with a text or fails with a message the guest sees.
impl Recorded for Result<String, String> {
    fn into_host(self) -> HostValue {
        match self {
            Ok(text) => HostValue::Text(text),
            Err(message) => HostValue::Error(message),
        }
    }
    fn from_host(value: HostValue) -> Result<Self, HostValue> {
        match value {
            HostValue::Text(text) => Ok(Ok(text)),
            HostValue::Error(message) => Ok(Err(message)),
            other => Err(other),
        }
    }
}

/// A journaled host function (see the module docs).
pub trait JournaledCall {
    /// The persistent name the oplog records.
    const NAME: &'static str;
    type Request: Recorded;
    type Response: Recorded;
}

macro_rules! journaled {
    ($($(#[$doc:meta])* $ty:ident = $name:path, $req:ty => $resp:ty;)*) => {$(
        $(#[$doc])*
        pub struct $ty;
        impl JournaledCall for $ty {
            const NAME: &'static str = $name;
            type Request = $req;
            type Response = $resp;
        }
    )*};
}

journaled! {
    /// `wasi:clocks/wall-clock.now`.
    WallClockNow = host::WALL_CLOCK_NOW, () => WallTime;
    /// `wasi:clocks/monotonic-clock.now`, in nanoseconds.
    MonotonicClockNow = host::MONOTONIC_CLOCK_NOW, () => u64;
    /// `wasi:random/random.get-random-bytes(len)`.
    RandomBytes = host::RANDOM_BYTES, u64 => Vec<u8>;
    /// `wasi:random/random.get-random-u64`.
    RandomU64 = host::RANDOM_U64, () => u64;
    /// `wasi:random/insecure.get-insecure-random-bytes(len)`.
    InsecureRandomBytes = host::INSECURE_RANDOM_BYTES, u64 => Vec<u8>;
    /// `wasi:random/insecure.get-insecure-random-u64`.
    InsecureRandomU64 = host::INSECURE_RANDOM_U64, () => u64;
    /// `revenant:api/durability.oplog-index`.
    OplogIndex = host::OPLOG_INDEX, () => u64;
    /// `revenant:api/durability.generate-idempotency-key`.
    GenerateIdempotencyKey = host::GENERATE_IDEMPOTENCY_KEY, () => String;
    /// `wasi:http/outgoing-handler.handle`: a remote write (begun, then ended).
    HttpHandle = host::HTTP_HANDLE, HttpRequestRecord => Result<HttpResponseRecord, String>;
    /// `wasi:clocks/monotonic-clock.subscribe-duration(ns)` → when it fires (wall ms).
    SubscribeDuration = host::SUBSCRIBE_DURATION, u64 => u64;
    /// `wasi:clocks/monotonic-clock.subscribe-instant(ns)` → when it fires (wall ms).
    SubscribeInstant = host::SUBSCRIBE_INSTANT, u64 => u64;
    /// `wasi:io/poll.poll(n pollables)` → the ready ones.
    Poll = host::POLL, u64 => ReadyList;
    /// `wasi:io/poll.[method]pollable.ready`.
    PollableReady = host::POLLABLE_READY, () => bool;
    /// `revenant:api/promises.create` → the promise's index (this entry's own).
    PromiseCreate = host::PROMISE_CREATE, () => u64;
    /// `revenant:api/promises.poll(index)` → its payload once completed.
    PromisePoll = host::PROMISE_POLL, u64 => Option<Vec<u8>>;
    /// `revenant:api/promises.complete(id)`: a remote write (begun, then ended).
    PromiseComplete = host::PROMISE_COMPLETE, String => Result<bool, String>;
    /// A call that waits for its outcome (`RpcStarted`): the call (JSON) → its key once
    /// published (`RpcSent`). A remote write.
    RpcAwait = host::RPC_INVOKE_AND_AWAIT, String => String;
    /// A fire-and-forget call: the call (JSON) → its key once published. A remote write.
    RpcSend = host::RPC_INVOKE, String => String;
    /// A call whose outcome is awaited later: the call (JSON) → its key. A remote write.
    RpcAsync = host::RPC_INVOKE_ASYNC, String => String;
    /// Whether the outcome of the call begun at this index had arrived, and what it was.
    RpcFutureGet = host::RPC_FUTURE_GET, u64 => Option<Vec<u8>>;
    /// A scheduled call: the call (JSON, with its time) → the schedule id, or why not.
    RpcSchedule = host::RPC_SCHEDULE, String => Result<String, String>;
    /// A cancelled schedule: `<c>/<w>/<id>` → whether it was pending, or why not.
    RpcCancelSchedule = host::RPC_CANCEL_SCHEDULE, String => Result<bool, String>;
    /// A durable publish: the message (MessagePack of [`crate::durable::messaging::Outgoing`])
    /// → the stream sequence (decimal text; empty on core NATS), or why a stream refused it.
    MessagingPublish = host::MESSAGING_PUBLISH, Vec<u8> => Result<String, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_round_trip_and_a_mismatch_returns_what_the_journal_held() {
        let t = WallTime {
            seconds: 5,
            nanoseconds: 6,
        };
        assert_eq!(WallTime::from_host(t.into_host()), Ok(t));
        assert_eq!(u64::from_host(7u64.into_host()), Ok(7));
        assert_eq!(
            String::from_host("k".to_owned().into_host()),
            Ok("k".into())
        );
        assert_eq!(Vec::<u8>::from_host(vec![1u8].into_host()), Ok(vec![1]));
        assert_eq!(u64::from_host(HostValue::Unit), Err(HostValue::Unit));
        let ready = ReadyList(vec![0, 2]);
        assert_eq!(ready.clone().into_host(), HostValue::Text("0,2".into()));
        assert_eq!(ReadyList::from_host(ready.clone().into_host()), Ok(ready));
        assert_eq!(
            ReadyList::from_host(HostValue::Text(String::new())),
            Ok(ReadyList(vec![]))
        );
        assert_eq!(bool::from_host(true.into_host()), Ok(true));
        assert_eq!(bool::from_host(HostValue::U64(2)), Err(HostValue::U64(2)));
        assert_eq!(
            Option::<Vec<u8>>::from_host(None::<Vec<u8>>.into_host()),
            Ok(None)
        );
        let failed: Result<bool, String> = Err("no such promise".into());
        assert_eq!(
            Result::<bool, String>::from_host(failed.clone().into_host()),
            Ok(failed)
        );
    }
}
