//! stdout / stderr of a worker: streamed live as events (to
//! `<ns>.events.<component>.<worker>` by the runtime) and never re-emitted
//! while the journal replays. stdin is empty.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc::UnboundedSender;
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

/// The guest's stdout or stderr.
#[derive(Clone)]
pub struct EventStream {
    stream: Stream,
    journal: Journal,
    sink: UnboundedSender<Output>,
}

impl EventStream {
    pub fn new(stream: Stream, journal: Journal, sink: UnboundedSender<Output>) -> Self {
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
            // A closed sink means the worker is being dropped; the output has nowhere to go.
            let _ = self.sink.send(Output {
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
