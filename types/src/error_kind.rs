//! Every error `kind` Revenant puts on a wire: the `kind` of the JSON error
//! object `{ "kind": "...", "message": "..." }` in an `Rvn-Status: error` reply,
//! in `RVN_RESULTS` and in an HTTP error body, and the `Rvn-Error-Kind` header
//! of a dead letter. [`ErrorKind`] is the one owner of these strings: code
//! names a variant, never a string, and a caller that branches on a kind (the
//! router's HTTP status, a test) matches the enum.
//!
//! Compatibility: a kind is persisted (oplog `InvocationCompleted`, result
//! records), so its string never changes. Decoding accepts every string:
//! one this build does not know (written by a newer or an older Revenant, or by
//! another client) becomes [`ErrorKind::Other`] holding the string as it was,
//! and is written back unchanged, so nothing is lost. Adding a kind is adding a
//! line to the table below.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// An error kind; its wire form is the kebab-case string of [`ErrorKind::as_str`].
        /// Equality and hashing are by that string.
        #[derive(Debug, Clone)]
        pub enum ErrorKind {
            $( $(#[$doc])* $variant, )*
            /// A kind this build does not know, kept as written (see the module docs).
            /// Never construct it for a kind listed above: parse with [`ErrorKind::parse`].
            Other(String),
        }

        impl ErrorKind {
            /// Every kind this build knows, in table order.
            pub const KNOWN: &'static [ErrorKind] = &[ $( ErrorKind::$variant, )* ];

            /// The wire string, e.g. `"worker-failed"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(s) => s,
                }
            }

            /// The kind a wire string names (a renamed kind's old string too, see
            /// [`RENAMED`]); an unknown string is kept as [`ErrorKind::Other`].
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )*
                    other => match RENAMED.iter().find(|(old, _)| *old == other) {
                        Some((_, new)) => Self::parse(new),
                        None => Self::Other(other.to_owned()),
                    },
                }
            }
        }
    };
}

error_kinds! {
    // --- an invocation (or control request) rejected before it ran ---
    /// A component, worker or API name is not `[A-Za-z0-9_-]{1,128}`.
    InvalidName = "invalid-name",
    /// The invocation has no `Rvn-Function` header.
    MissingFunction = "missing-function",
    /// No component of that name is uploaded.
    UnknownComponent = "unknown-component",
    /// The component exports no such function.
    UnknownFunction = "unknown-function",
    /// The worker does not exist.
    UnknownWorker = "unknown-worker",
    /// A promise id that is not `<component>/<worker>/<index>`.
    InvalidPromiseId = "invalid-promise-id",
    /// No promise of that id was created (or it belongs to a deleted worker).
    UnknownPromise = "unknown-promise",
    /// The promise was completed before; its payload stays the first one.
    PromiseAlreadyCompleted = "promise-already-completed",
    /// The body is not the JSON that was expected.
    InvalidJson = "invalid-json",
    /// The body is not WAVE text.
    InvalidWave = "invalid-wave",
    /// The arguments do not fit the function's signature.
    InvalidArguments = "invalid-arguments",
    /// A `Content-Type` other than JSON or WAVE.
    UnsupportedContentType = "unsupported-content-type",
    /// The payload is over the configured limit.
    PayloadTooLarge = "payload-too-large",
    /// A control request's body is not `{"action": "interrupt" | "resume" | "delete"}`.
    InvalidControl = "invalid-control",
    /// The guest called `wasi:cli/exit` during this invocation: the worker is over.
    WorkerExited = "worker-exited",
    /// The function returned a value larger than the configured maximum
    /// (`max-result-bytes`): its effects are discarded, deterministically.
    ResultTooLarge = "result-too-large",
    /// An inbox message whose `Rvn-Kind` (or the header that kind needs) is not understood.
    InvalidMessage = "invalid-message",
    /// An `Rvn-Reply-To` outside the ingress rules (inside the namespace, a system or
    /// JetStream subject, a wildcard, too long).
    InvalidReplyTo = "invalid-reply-to",
    /// A header over its length cap, or a subject or header block that is not UTF-8.
    InvalidHeader = "invalid-header",
    /// The idempotency key was already used for another worker (keys belong to a worker).
    KeyConflict = "key-conflict",
    /// The invocation was delivered the configured maximum number of times without
    /// being answered (e.g. its worker could not be recovered): it is dead-lettered.
    DeliveryExhausted = "delivery-exhausted",

    // --- an invocation that ran and failed, or could not be answered ---
    /// The guest trapped.
    Trap = "trap",
    /// Replay found calls that do not match the journal.
    Divergence = "divergence",
    /// The invocation ran past its deadline.
    DeadlineExceeded = "deadline-exceeded",
    /// The worker is failed (retries exhausted or diverged); every invocation gets this.
    WorkerFailed = "worker-failed",
    /// The invocation was sent to a worker that has been deleted since: it is never run.
    WorkerDeleted = "worker-deleted",
    /// A scheduled invocation's firing was skipped (overlap `skip` while another
    /// invocation ran, or past its catch-up bound): it never runs.
    FiringSkipped = "firing-skipped",
    /// A subscription's message whose invocation failed (or that names no worker), in
    /// `RVN_DEAD` under the policy `dead-letter` or skipped by the operator.
    SubscriptionFailed = "subscription-failed",
    /// A worker update to another component version did not apply (the new version
    /// diverged on the history, or refused the snapshot): the worker stays on its version.
    UpdateFailed = "update-failed",
    /// A result did not arrive in time (e.g. a duplicate call waiting for the original).
    Timeout = "timeout",
    /// NATS or the executor could not be reached or refused the operation.
    Unavailable = "unavailable",
    /// A fault of Revenant itself.
    Internal = "internal",
    /// A reply that does not follow the NATS contract (`Rvn-Status` and a JSON body).
    InvalidReply = "invalid-reply",

    // --- the HTTP router's own ---
    /// A request to a user-defined route that does not map to an invocation.
    InvalidRequest = "invalid-request",
    /// A request body that cannot be read.
    InvalidBody = "invalid-body",
    /// A component upload that is not the expected multipart form.
    InvalidMultipart = "invalid-multipart",
    /// An uploaded binary that is not a usable component.
    InvalidComponent = "invalid-component",
    /// A component upload without the binary.
    MissingComponent = "missing-component",
    /// No such component version.
    UnknownVersion = "unknown-version",
    /// A worker status filter that is not a status.
    InvalidStatus = "invalid-status",
    /// An `Idempotency-Key` header that is empty or too long.
    InvalidIdempotencyKey = "invalid-idempotency-key",
    /// A router request without a valid bearer token.
    Unauthorized = "unauthorized",
    /// A router request whose token's scope does not allow it.
    Forbidden = "forbidden",
    /// A schedule that cannot be accepted: a bad time, duration, cron expression or time
    /// zone, or cron on a nats-server older than 2.14.
    InvalidSchedule = "invalid-schedule",
    /// No schedule of that id.
    UnknownSchedule = "unknown-schedule",
    /// A subscription that cannot be accepted: a bad name, template, window, filter or
    /// start, a function the component does not export, a stream that does not exist.
    InvalidSubscription = "invalid-subscription",
    /// No subscription of that name.
    UnknownSubscription = "unknown-subscription",
    /// The worker to create exists already.
    WorkerExists = "worker-exists",
    /// An API definition that cannot be deployed.
    InvalidApi = "invalid-api",
    /// No API of that name.
    UnknownApi = "unknown-api",
    /// A stored API definition that no longer decodes.
    CorruptApi = "corrupt-api",
    /// A route already served by another API.
    RouteConflict = "route-conflict",
    /// No user-defined route matches the request.
    NoRoute = "no-route",
    /// A route exists for the path, not for the method.
    MethodNotAllowed = "method-not-allowed",
    /// A route's function returned its error variant.
    FunctionError = "function-error",
    /// A route's response template could not be applied.
    ResponseTemplate = "response-template",
    /// No result is stored for the idempotency key (yet).
    NoResult = "no-result",
    /// The router's streams and buckets are not all there yet.
    NotReady = "not-ready",
    /// A NATS operation of the router failed.
    Nats = "nats",
}

/// Kinds renamed since they were first written, `(old, new)`: the old string
/// (persisted in results, oplogs or a client's code) still decodes to the new kind.
pub const RENAMED: &[(&str, &str)] = &[("idempotency-key-reused", "key-conflict")];

impl ErrorKind {
    /// Whether this build knows the kind (it is not [`ErrorKind::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl PartialEq for ErrorKind {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ErrorKind {}

impl std::hash::Hash for ErrorKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_round_trips_through_its_wire_string() {
        for kind in ErrorKind::KNOWN {
            assert!(kind.is_known());
            assert_eq!(ErrorKind::parse(kind.as_str()), *kind);
            assert!(
                matches!(ErrorKind::parse(kind.as_str()), ref k if k.is_known()),
                "{kind} parses to Other"
            );
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), *kind);
        }
    }

    #[test]
    fn wire_strings_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::KNOWN {
            let s = kind.as_str();
            assert!(seen.insert(s), "{s} is listed twice");
            assert!(
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && !s.starts_with('-')
                    && !s.ends_with('-'),
                "{s} is not kebab-case"
            );
        }
    }

    #[test]
    fn an_unknown_kind_is_kept_as_written() {
        let kind: ErrorKind = serde_json::from_str("\"cycle\"").unwrap();
        assert_eq!(kind, ErrorKind::Other("cycle".into()));
        assert!(!kind.is_known());
        assert_eq!(serde_json::to_string(&kind).unwrap(), "\"cycle\"");
        let bytes = rmp_serde::to_vec(&kind).unwrap();
        assert_eq!(rmp_serde::from_slice::<ErrorKind>(&bytes).unwrap(), kind);
    }

    #[test]
    fn a_renamed_kind_still_decodes_from_its_old_string() {
        assert_eq!(
            ErrorKind::parse("idempotency-key-reused"),
            ErrorKind::KeyConflict
        );
        let kind: ErrorKind = serde_json::from_str("\"idempotency-key-reused\"").unwrap();
        assert_eq!(kind.as_str(), "key-conflict");
        for (old, new) in RENAMED {
            assert!(
                ErrorKind::parse(new).is_known(),
                "{old} is renamed to an unknown {new}"
            );
        }
    }

    #[test]
    fn kinds_compare_by_their_wire_string() {
        assert_eq!(ErrorKind::Other("trap".into()), ErrorKind::Trap);
        assert_ne!(ErrorKind::Trap, ErrorKind::Divergence);
        assert_eq!(
            "worker-failed".parse::<ErrorKind>(),
            Ok(ErrorKind::WorkerFailed)
        );
    }
}
