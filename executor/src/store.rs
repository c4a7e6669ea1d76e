//! A worker's wasmtime store: its data ([`WorkerCtx`]: WASI, wasi-http with
//! the durable hooks, the journal, limits and deadline) and how a store is
//! built for a worker ([`StoreSpec::build`]). Calling into an instance is
//! [`crate::live`]'s.

use std::sync::Arc;
use std::time::Duration;

use revenant_types::WorkerId;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreContextMut, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::ExecutorOptions;
use crate::dirs::DirPool;
use crate::durable::clocks::DurableMonotonic;
use crate::durable::http::DurableHttp;
use crate::durable::logging::{HasLogger, Logger};
use crate::durable::stdio::{EventSink, EventStream, StderrTail, Stream};
use crate::durable::waits::{CanWait, Deadline, PromiseBook, WaitParts, WaitState};
use crate::durable::{HasJournal, Journal, random};
use crate::replay::CreateInfo;

/// The deadline of the running invocation was reached.
#[derive(Debug, thiserror::Error)]
#[error("invocation exceeded its deadline of {0:?}")]
pub struct DeadlineExceeded(pub Duration);

/// The store data of a worker.
pub struct WorkerCtx {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: DurableHttp,
    journal: Journal,
    monotonic: DurableMonotonic,
    waits: WaitState,
    limits: StoreLimits,
    pub(crate) deadline: Deadline,
    pub(crate) timeout: Duration,
    /// What the guest wrote to stderr during the current call (for trap messages).
    pub(crate) stderr_tail: StderrTail,
    /// Where its `wasi:logging` lines go.
    events: EventSink,
    /// The worker's filesystem; removed with the store.
    _fs: tempfile::TempDir,
}

impl WasiView for WorkerCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for WorkerCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl HasJournal for WorkerCtx {
    fn journal(&self) -> &Journal {
        &self.journal
    }
    fn monotonic(&self) -> &DurableMonotonic {
        &self.monotonic
    }
}

impl HasLogger for WorkerCtx {
    fn logger(&mut self) -> Logger<'_> {
        Logger {
            journal: &self.journal,
            events: &self.events,
        }
    }
}

impl CanWait for WorkerCtx {
    fn wait_parts(&mut self) -> WaitParts<'_> {
        WaitParts {
            journal: &self.journal,
            monotonic: &self.monotonic,
            waits: &self.waits,
            table: &mut self.table,
            deadline: &self.deadline,
        }
    }
}

/// What a worker's store is built from.
pub struct StoreSpec<'a> {
    pub id: &'a WorkerId,
    pub create: &'a CreateInfo,
    pub journal: &'a Journal,
    pub events: &'a EventSink,
    /// The worker's promises (they outlive its stores).
    pub promises: &'a Arc<PromiseBook>,
    pub nats: &'a revenant_nats::Nats,
    pub opts: &'a ExecutorOptions,
    pub dirs: &'a Arc<DirPool>,
}

impl StoreSpec<'_> {
    /// A fresh store: WASI with the worker's args and env, its own filesystem, durable
    /// clocks, random, stdio and HTTP, the memory limit and the deadline callback.
    pub fn build(&self, engine: &Engine) -> Result<Store<WorkerCtx>, String> {
        let fs = self
            .dirs
            .take()
            .map_err(|e| format!("creating its filesystem: {e}"))?;
        let monotonic = DurableMonotonic::default();
        let create = self.create;
        let stderr_tail = StderrTail::default();
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&create.args)
            .envs(&create.env)
            .env("REVENANT_COMPONENT", self.id.component.as_str())
            .env("REVENANT_WORKER", self.id.worker.as_str())
            .env(
                "REVENANT_COMPONENT_VERSION",
                create.component_version.to_string(),
            )
            .stdout(EventStream::new(
                Stream::Stdout,
                self.journal.clone(),
                self.events.clone(),
            ))
            .stderr(
                EventStream::new(Stream::Stderr, self.journal.clone(), self.events.clone())
                    .keeping_tail(stderr_tail.clone()),
            )
            .monotonic_clock(monotonic.clone())
            .insecure_random_seed(random::insecure_seed(&self.id.dotted()))
            .preopened_dir(fs.path(), "/", FsPerms::ReadWrite)
            .map_err(|e| format!("opening its filesystem: {e}"))?;
        let timeout = Duration::from_millis(self.opts.invocation_timeout_ms);
        let ctx = WorkerCtx {
            wasi: builder.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: DurableHttp::new(self.journal.clone()),
            journal: self.journal.clone(),
            monotonic,
            waits: WaitState::new(
                self.promises.clone(),
                suspend_after(self.opts, self.journal),
                self.nats.clone(),
            ),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.opts.memory_limit_bytes)
                .trap_on_grow_failure(true)
                .build(),
            deadline: Deadline::default(),
            timeout,
            stderr_tail,
            events: self.events.clone(),
            _fs: fs,
        };
        let mut store = Store::new(engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.epoch_deadline_callback(|ctx: StoreContextMut<'_, WorkerCtx>| {
            let data = ctx.data();
            if data.deadline.is_past() {
                Err(DeadlineExceeded(data.timeout).into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }
}

/// How long a durable wait lasts before the worker is suspended: never for an ephemeral
/// worker (its journal is in memory: there would be nothing to resume it from), whose
/// waits are bounded by the invocation deadline instead.
fn suspend_after(opts: &ExecutorOptions, journal: &Journal) -> Duration {
    if journal.is_in_memory() {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        Duration::from_millis(opts.suspend_after_ms)
    }
}
