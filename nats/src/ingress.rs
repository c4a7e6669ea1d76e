//! Ingress rules (ARCHITECTURE.md "Ingress rules"): what an invocation message
//! may carry before anything acts on it. Pure functions of the message's
//! headers and the namespace, no IO; the shard consumer and the call bridge call
//! [`check_invocation`] on every message, and a refusal is answered (to the reply
//! subject, when that one passed), stored like a result (when the key passed)
//! and dead-lettered with the reason, like every other rejection.
//!
//! The rules:
//! - `Rvn-Reply-To` ([`reply_subject`]) is a literal subject (no wildcards, no
//!   empty tokens, no whitespace or control characters) of at most
//!   [`MAX_REPLY_LEN`] bytes, outside the namespace (`<ns>.…`), outside every
//!   `$`-prefixed subject (`$JS`, `$KV`, `$O`, `$SYS`, …: the server's and
//!   JetStream's APIs and storage) and not shaped like another namespace's
//!   streams (`<x>.invoke|oplog|dead|schedule.…`). RPC results do not use it: the
//!   executor addresses them itself.
//! - The idempotency key (`Nats-Msg-Id`, `Rvn-Idempotency-Key`) has at most
//!   [`MAX_KEY_LEN`] bytes and no control characters: it becomes a KV key and
//!   part of subjects, and the server closes a connection whose control line
//!   is over its limit.
//! - `Rvn-Function` has at most [`MAX_FUNCTION_LEN`] bytes; every other header
//!   value at most [`MAX_HEADER_LEN`], all headers together [`MAX_HEADERS_LEN`].
//! - Worker and component names are checked where the subject is parsed
//!   ([`crate::names`]); payload size by the invocation decision.
//!
//! Messages whose subject or headers are not UTF-8 never reach these functions:
//! the client library cannot parse them. [`crate::invocations`] finds them by
//! their stream sequence and dead-letters them (see [`is_valid_text`]).

use async_nats::HeaderMap;
use revenant_types::ErrorKind;
use revenant_types::oplog::ErrorBody;

use crate::headers;
use crate::names::Namespace;

/// Longest idempotency key, bytes (the router's `Idempotency-Key` too).
pub const MAX_KEY_LEN: usize = 256;
/// Longest `Rvn-Reply-To`, bytes.
pub const MAX_REPLY_LEN: usize = 256;
/// Longest `Rvn-Function`, bytes.
pub const MAX_FUNCTION_LEN: usize = 512;
/// Longest value of any other header, bytes.
pub const MAX_HEADER_LEN: usize = 4096;
/// Most bytes of all header names and values together.
pub const MAX_HEADERS_LEN: usize = 16 * 1024;

/// The subject tokens another namespace's streams capture (`<x>.<word>.…`).
const STREAM_WORDS: [&str; 4] = ["invoke", "oplog", "dead", "schedule"];

/// Why a message is refused: the error to answer and dead-letter with, and
/// whether its reply subject and its key may still be used to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub error: ErrorBody,
    /// The reply subject passed its rule: the refusal may be sent there.
    pub reply_usable: bool,
    /// The key passed its rule: the refusal may be stored under it in `RVN_RESULTS`.
    pub key_usable: bool,
}

/// Checks a reply subject (`Rvn-Reply-To`) against the rules in the module docs.
pub fn reply_subject(ns: &Namespace, subject: &str) -> Result<(), ErrorBody> {
    outside_namespace(ns, subject).map_err(|why| {
        ErrorBody::new(
            ErrorKind::InvalidReplyTo,
            format!(
                "Rvn-Reply-To {:?} {why}; expected an inbox subject such as _INBOX.<id> (at most {MAX_REPLY_LEN} bytes, outside the namespace {:?} and outside $JS/$KV/$O/$SYS)",
                shorten(subject),
                ns.prefix()
            ),
        )
    })
}

/// Checks a subject a guest publishes to (`revenant:api/messaging.publish`): the same
/// rules as a reply subject's — a concrete subject outside the namespace and outside
/// the system and JetStream API subjects; `Err` says why not.
pub fn publish_subject(ns: &Namespace, subject: &str) -> Result<(), String> {
    outside_namespace(ns, subject).map_err(|why| {
        format!(
            "subject {:?} {why}; expected a concrete subject (no wildcards, at most {MAX_REPLY_LEN} bytes) outside the namespace {:?} and outside $JS/$KV/$O/$SYS",
            shorten(subject),
            ns.prefix()
        )
    })
}

/// A concrete subject outside the namespace and the system subjects; `Err` says why not.
fn outside_namespace(ns: &Namespace, subject: &str) -> Result<(), String> {
    if subject.len() > MAX_REPLY_LEN {
        return Err(format!("is {} bytes long", subject.len()));
    }
    if let Some(c) = subject
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '*' || *c == '>')
    {
        return Err(format!("contains {c:?}"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Err("has an empty token".into());
    }
    if tokens[0].starts_with('$') {
        return Err("is a system or JetStream subject".into());
    }
    if tokens[0] == ns.prefix() {
        return Err("is inside the namespace".into());
    }
    if tokens.len() > 2 && STREAM_WORDS.contains(&tokens[1]) {
        return Err("is shaped like a Revenant stream subject".into());
    }
    Ok(())
}

/// Checks an idempotency key (`Nats-Msg-Id` or `Rvn-Idempotency-Key`).
pub fn key(key: &str) -> Result<(), ErrorBody> {
    let refuse = |why: String| {
        Err(ErrorBody::new(
            ErrorKind::InvalidIdempotencyKey,
            format!(
                "the idempotency key {:?} {why}; expected 1 to {MAX_KEY_LEN} bytes without control characters",
                shorten(key)
            ),
        ))
    };
    if key.len() > MAX_KEY_LEN {
        return refuse(format!("is {} bytes long", key.len()));
    }
    if key.chars().any(char::is_control) {
        return refuse("contains a control character".into());
    }
    Ok(())
}

/// Checks every header of an invocation (or call request) message; `reply` is its
/// reply subject (`Rvn-Reply-To`, or a call's NATS reply).
pub fn check_invocation(
    ns: &Namespace,
    h: Option<&HeaderMap>,
    reply: Option<&str>,
) -> Result<(), Refusal> {
    let reply_ok = reply.is_none_or(|r| reply_subject(ns, r).is_ok());
    let mut keys_ok = true;
    let mut first: Option<ErrorBody> = None;
    let mut note = |e: ErrorBody| {
        first.get_or_insert(e);
    };
    if let Some(r) = reply
        && let Err(e) = reply_subject(ns, r)
    {
        note(e);
    }
    for name in [headers::MSG_ID, headers::IDEMPOTENCY_KEY] {
        for v in values(h, name) {
            if let Err(e) = key(v) {
                keys_ok = false;
                note(e);
            }
        }
    }
    for v in values(h, headers::FUNCTION) {
        if v.len() > MAX_FUNCTION_LEN {
            note(too_long(headers::FUNCTION, v.len(), MAX_FUNCTION_LEN));
        }
    }
    let mut total = 0;
    for (name, vs) in h.into_iter().flat_map(|h| h.iter()) {
        let name: &str = name.as_ref();
        for v in vs {
            total += name.len() + v.as_str().len();
            if v.as_str().len() > MAX_HEADER_LEN && !name.eq_ignore_ascii_case(headers::FUNCTION) {
                note(too_long(name, v.as_str().len(), MAX_HEADER_LEN));
            }
        }
    }
    if total > MAX_HEADERS_LEN {
        note(ErrorBody::new(
            ErrorKind::InvalidHeader,
            format!(
                "the headers are {total} bytes together; expected at most {MAX_HEADERS_LEN} bytes"
            ),
        ));
    }
    match first {
        None => Ok(()),
        Some(error) => Err(Refusal {
            error,
            reply_usable: reply_ok,
            key_usable: keys_ok,
        }),
    }
}

/// Whether bytes that should be a subject or header block are UTF-8 text (the
/// client library drops its connection on anything else).
pub fn is_valid_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

/// The error of a message whose subject or headers are not UTF-8.
pub fn not_utf8(what: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::InvalidHeader,
        format!("the message's {what} is not valid UTF-8; expected UTF-8 text"),
    )
}

fn too_long(name: &str, len: usize, max: usize) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::InvalidHeader,
        format!("header {name} is {len} bytes long; expected at most {max} bytes"),
    )
}

fn values<'a>(h: Option<&'a HeaderMap>, name: &str) -> impl Iterator<Item = &'a str> {
    h.into_iter()
        .flat_map(move |h| h.get_all(name))
        .map(|v| v.as_str())
}

/// At most 80 characters of a refused value, for error messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        Namespace::new("rvn").unwrap()
    }

    fn refused(subject: &str) -> bool {
        reply_subject(&ns(), subject).is_err()
    }

    #[test]
    fn an_inbox_is_a_valid_reply_subject() {
        assert!(reply_subject(&ns(), "_INBOX.abc123.7").is_ok());
        assert!(reply_subject(&ns(), "replies.client-1").is_ok());
    }

    #[test]
    fn a_reply_subject_inside_the_namespace_is_refused() {
        assert!(refused("rvn.oplog.c.victim"));
        assert!(refused("rvn.invoke.c.w"));
        assert!(refused("rvn"));
    }

    #[test]
    fn system_and_jetstream_subjects_are_refused() {
        for s in [
            "$KV.RVN_SHARDS.shard.3",
            "$JS.API.STREAM.DELETE.RVN_OPLOG",
            "$O.RVN_BLOBS.C.x",
            "$SYS.REQ.SERVER.PING",
        ] {
            let e = reply_subject(&ns(), s).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidReplyTo, "{s}");
            assert!(e.message.contains("system or JetStream"), "{}", e.message);
        }
    }

    #[test]
    fn another_namespaces_stream_subjects_are_refused() {
        assert!(refused("other.oplog.c.w"));
        assert!(refused("other.invoke.c.w"));
        assert!(refused("other.dead.c.w"));
        assert!(!refused("other.oplog"));
    }

    #[test]
    fn wildcards_blanks_and_empty_tokens_are_refused() {
        for s in [
            "_INBOX.*", "_INBOX.>", "a..b", ".a", "a.", "", "a b", "a\tb",
        ] {
            assert!(refused(s), "{s:?}");
        }
    }

    #[test]
    fn a_reply_subject_over_the_cap_is_refused_and_the_message_says_the_cap() {
        let long = format!("_INBOX.{}", "x".repeat(MAX_REPLY_LEN));
        let e = reply_subject(&ns(), &long).unwrap_err();
        assert!(e.message.contains("at most 256 bytes"), "{}", e.message);
        assert!(e.message.len() < 400, "the message quotes only a prefix");
    }

    #[test]
    fn keys_over_the_cap_or_with_control_characters_are_refused() {
        assert!(key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        let e = key(&"k".repeat(MAX_KEY_LEN + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidIdempotencyKey);
        assert!(key("a\u{7}b").is_err());
    }

    #[test]
    fn a_refusal_says_whether_its_reply_and_key_can_be_used() {
        let mut h = HeaderMap::new();
        h.insert(headers::MSG_ID, "k".repeat(MAX_KEY_LEN + 1).as_str());
        let r = check_invocation(&ns(), Some(&h), Some("_INBOX.x")).unwrap_err();
        assert!(r.reply_usable && !r.key_usable);
        assert_eq!(r.error.kind, ErrorKind::InvalidIdempotencyKey);

        let mut h = HeaderMap::new();
        h.insert(headers::MSG_ID, "k1");
        let r = check_invocation(&ns(), Some(&h), Some("rvn.oplog.c.v")).unwrap_err();
        assert!(!r.reply_usable && r.key_usable);
        assert_eq!(r.error.kind, ErrorKind::InvalidReplyTo);

        assert!(check_invocation(&ns(), Some(&h), Some("_INBOX.x")).is_ok());
        assert!(check_invocation(&ns(), None, None).is_ok());
    }

    #[test]
    fn long_functions_long_headers_and_large_header_blocks_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(headers::FUNCTION, "f".repeat(MAX_FUNCTION_LEN + 1).as_str());
        let r = check_invocation(&ns(), Some(&h), None).unwrap_err();
        assert_eq!(r.error.kind, ErrorKind::InvalidHeader);
        assert!(r.error.message.contains(headers::FUNCTION));

        let mut h = HeaderMap::new();
        h.insert("X-Big", "v".repeat(MAX_HEADER_LEN + 1).as_str());
        assert!(check_invocation(&ns(), Some(&h), None).is_err());

        let mut h = HeaderMap::new();
        for i in 0..8 {
            h.insert(
                format!("X-{i}").as_str(),
                "v".repeat(MAX_HEADER_LEN - 8).as_str(),
            );
        }
        let r = check_invocation(&ns(), Some(&h), None).unwrap_err();
        assert!(r.error.message.contains("together"), "{}", r.error.message);
    }

    #[test]
    fn text_that_is_not_utf8_is_told_apart() {
        assert!(is_valid_text(b"NATS/1.0\r\nRvn-Function: add\r\n\r\n"));
        assert!(!is_valid_text(
            b"NATS/1.0\r\nRvn-Function: \xff\xfe\r\n\r\n"
        ));
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests (proptest) of the invocation decoder's checks: any header
    //! map and reply subject is accepted or refused without a panic, and what is
    //! accepted keeps every rule; any byte block is judged readable or not.

    use proptest::prelude::*;

    use super::*;
    use crate::quarantine::header_block_readable;

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[_$a-zA-Z0-9.*> ]{0,40}",
            Just("rvn.oplog.c.w".to_owned()),
            Just("$KV.RVN_SHARDS.shard.1".to_owned()),
            (0usize..6000).prop_map(|n| "x".repeat(n)),
        ]
    }

    proptest! {
        #[test]
        fn any_headers_and_reply_are_accepted_or_refused_and_accepted_ones_keep_the_rules(
            reply in prop::option::of(any_text()),
            key in prop::option::of(any_text()),
            function in prop::option::of(any_text()),
            extra in prop::collection::vec(("[A-Za-z-]{1,12}", any_text()), 0..6),
        ) {
            let ns = Namespace::new("rvn").unwrap();
            let mut h = HeaderMap::new();
            let clean = |v: &str| v.replace(['\r', '\n'], "");
            if let Some(k) = &key { h.insert(headers::MSG_ID, clean(k).as_str()); }
            if let Some(f) = &function { h.insert(headers::FUNCTION, clean(f).as_str()); }
            for (n, v) in &extra { h.append(n.as_str(), clean(v).as_str()); }
            match check_invocation(&ns, Some(&h), reply.as_deref()) {
                Ok(()) => {
                    if let Some(r) = &reply {
                        prop_assert!(r.len() <= MAX_REPLY_LEN && !r.starts_with('$'));
                        prop_assert!(r != "rvn" && !r.starts_with("rvn."));
                        prop_assert!(!r.contains(['*', '>', ' ']));
                    }
                    if let Some(k) = &key { prop_assert!(clean(k).len() <= MAX_KEY_LEN); }
                }
                Err(r) => {
                    prop_assert!(!r.error.message.is_empty());
                    prop_assert!(r.error.message.len() < 1024, "messages quote a prefix only");
                    if let Some(rp) = &reply {
                        prop_assert_eq!(r.reply_usable, reply_subject(&ns, rp).is_ok());
                    }
                }
            }
        }

        #[test]
        fn any_bytes_are_judged_readable_or_not(block in prop::collection::vec(any::<u8>(), 0..200)) {
            let readable = header_block_readable(&block);
            if readable {
                prop_assert!(std::str::from_utf8(&block).is_ok());
            }
        }

        #[test]
        fn every_block_a_client_can_send_is_readable(
            pairs in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~]{0,30}"), 0..6),
        ) {
            let mut block = String::from("NATS/1.0\r\n");
            for (n, v) in &pairs { block.push_str(&format!("{n}: {v}\r\n")); }
            block.push_str("\r\n");
            prop_assert!(header_block_readable(block.as_bytes()), "{block:?}");
        }
    }
}
