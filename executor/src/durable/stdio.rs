//! stdout / stderr of a worker: streamed live as events (to
//! `<ns>.events.<component>.<worker>` by the runtime) and never re-emitted
//! while the journal replays. stdin is empty.

use std::pin::Pin;
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

/// A chunk the guest wrote, as forwarded to the worker's event publisher.
#[derive(Debug, Clone)]
pub struct Output {
    pub stream: Stream,
    pub data: Bytes,
}

/// Where a worker's output goes (to be published as events): bounded, so a guest that
/// prints faster than events can be published loses lines, not the executor's memory.
pub type EventSink = mpsc::Sender<Output>;

/// How many output chunks a worker may have waiting to be published.
pub const EVENT_BUFFER: usize = 1024;

/// The guest's stdout or stderr.
#[derive(Clone)]
pub struct EventStream {
    stream: Stream,
    journal: Journal,
    sink: EventSink,
}

impl EventStream {
    pub fn new(stream: Stream, journal: Journal, sink: EventSink) -> Self {
        Self {
            stream,
            journal,
            sink,
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
        if !self.journal.is_replaying() {
            // A closed sink means the worker is being dropped; a full one, that events lag
            // behind the guest: either way this chunk is not published (it is not journaled).
            let _ = self.sink.try_send(Output {
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
