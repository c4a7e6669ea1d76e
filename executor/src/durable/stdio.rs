//! stdout / stderr of a worker, and its `wasi:logging` lines
//! ([`super::logging`]): streamed live as events (to
//! `<ns>.events.<component>.<worker>` by the runtime) and never re-emitted
//! while the journal replays. stdin is empty.
//!
//! The tail of what the guest wrote to stderr during the current call is kept
//! ([`StderrTail`]): language runtimes (componentize-py, componentize-js) print an
//! uncaught exception's message and traceback there before they trap, and
//! [`trap_message`] puts that report in front of the bare wasm trap the caller gets.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::Journal;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// What the guest wrote or logged, as forwarded to the worker's event publisher.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A chunk of stdout or stderr.
    Text { stream: Stream, data: Bytes },
    /// A `wasi:logging` line.
    Log {
        level: &'static str,
        context: String,
        message: String,
    },
}

impl Output {
    /// The event's kind and fields (the runtime adds `kind` and `at`).
    pub fn event(&self) -> (&'static str, serde_json::Value) {
        match self {
            Self::Text { stream, data } => (
                stream.as_str(),
                serde_json::json!({ "data": String::from_utf8_lossy(data) }),
            ),
            Self::Log {
                level,
                context,
                message,
            } => (
                "log",
                serde_json::json!({ "level": level, "context": context, "message": message }),
            ),
        }
    }
}

/// Where a worker's output goes (to be published as events): bounded, so a guest that
/// prints faster than events can be published loses lines, not the executor's memory.
pub type EventSink = mpsc::Sender<Output>;

/// How many output chunks a worker may have waiting to be published.
pub const EVENT_BUFFER: usize = 1024;

/// How much of a call's stderr [`StderrTail`] keeps (its last bytes).
pub const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// The last [`STDERR_TAIL_BYTES`] the guest wrote to stderr since [`StderrTail::clear`]
/// (called when a call starts).
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<Vec<u8>>>);

impl StderrTail {
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn push(&self, data: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tail.extend_from_slice(data);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }

    /// What was kept, as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The message of a trap: the guest's own report of it (its stderr during the call,
/// e.g. a Python traceback) first, then the wasm trap with its backtrace.
pub fn trap_message(trap: &str, stderr: &str) -> String {
    let report = stderr.trim();
    if report.is_empty() {
        trap.to_owned()
    } else {
        format!("{report}\n(guest stderr above; the wasm trap: {trap})")
    }
}

/// The guest's stdout or stderr.
#[derive(Clone)]
pub struct EventStream {
    stream: Stream,
    journal: Journal,
    sink: EventSink,
    tail: Option<StderrTail>,
}

impl EventStream {
    pub fn new(stream: Stream, journal: Journal, sink: EventSink) -> Self {
        Self {
            stream,
            journal,
            sink,
            tail: None,
        }
    }

    /// Also keeps the tail of what is written in `tail`.
    pub fn keeping_tail(self, tail: StderrTail) -> Self {
        Self {
            tail: Some(tail),
            ..self
        }
    }
}

impl IsTerminal for EventStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for EventStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for EventStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(tail) = &self.tail {
            tail.push(buf);
        }
        if !self.journal.is_replaying() {
            // A closed sink means the worker is being dropped; a full one, that events lag
            // behind the guest: either way this chunk is not published (it is not journaled).
            let _ = self.sink.try_send(Output::Text {
                stream: self.stream,
                data: Bytes::copy_from_slice(buf),
            });
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trap_after_a_guest_report_leads_with_the_report() {
        let m = trap_message(
            "wasm trap: unreachable",
            "Traceback (most recent call last):\n  ValueError: x\n",
        );
        assert!(
            m.starts_with(
                "Traceback (most recent call last):\n  ValueError: x\n(guest stderr above"
            ),
            "{m}"
        );
        assert!(m.ends_with("wasm trap: unreachable)"), "{m}");
    }

    #[test]
    fn output_becomes_an_event_of_its_kind() {
        let text = Output::Text {
            stream: Stream::Stderr,
            data: Bytes::from_static(b"boom\n"),
        };
        assert_eq!(
            text.event(),
            ("stderr", serde_json::json!({"data": "boom\n"}))
        );
        let log = Output::Log {
            level: "warn",
            context: "payment".into(),
            message: "retrying".into(),
        };
        assert_eq!(
            log.event(),
            (
                "log",
                serde_json::json!({"level": "warn", "context": "payment", "message": "retrying"})
            )
        );
    }

    #[test]
    fn a_trap_without_stderr_is_the_bare_trap() {
        assert_eq!(
            trap_message("wasm trap: unreachable", " \n"),
            "wasm trap: unreachable"
        );
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_written_since_clear() {
        let tail = StderrTail::default();
        tail.push(b"old");
        tail.clear();
        tail.push(&vec![b'a'; STDERR_TAIL_BYTES]);
        tail.push(b"end");
        let text = tail.text();
        assert_eq!(text.len(), STDERR_TAIL_BYTES);
        assert!(text.ends_with("aend"));
    }
}
