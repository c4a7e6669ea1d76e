//! `wasi:logging/logging@0.1.0-draft`: a guest's log lines, shown as `log` events
//! of its worker (level, context, message) beside its stdout and stderr. Like them
//! they are output, not journaled: published live, and not again while the journal
//! replays (so a line logged before a crash is not shown twice after recovery).

use wasmtime::component::{HasData, Linker};

use super::Journal;
use super::stdio::{EventSink, Output};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wasi/logging.wit",
        world: "wasi:logging/imports@0.1.0-draft",
    });
}

use bindings::wasi::logging::logging::{self, Level};

/// What a store gives the logger: the journal (is it replaying?) and the event sink.
pub trait HasLogger: Send + 'static {
    fn logger(&mut self) -> Logger<'_>;
}

pub struct Logger<'a> {
    pub journal: &'a Journal,
    pub events: &'a EventSink,
}

/// The level's name in events.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
        Level::Critical => "critical",
    }
}

impl logging::Host for Logger<'_> {
    fn log(&mut self, level: Level, context: String, message: String) {
        if self.journal.is_replaying() {
            return;
        }
        // As for stdout: a full sink drops the line rather than hold the guest.
        let _ = self.events.try_send(Output::Log {
            level: level_name(level),
            context,
            message,
        });
    }
}

struct HasLogging;

impl HasData for HasLogging {
    type Data<'a> = Logger<'a>;
}

pub fn add_to_linker<T: HasLogger>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    logging::add_to_linker::<T, HasLogging>(linker, |t: &mut T| t.logger())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_its_wasi_name() {
        let names: Vec<_> = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
            Level::Critical,
        ]
        .into_iter()
        .map(level_name)
        .collect();
        assert_eq!(
            names,
            ["trace", "debug", "info", "warn", "error", "critical"]
        );
    }
}
