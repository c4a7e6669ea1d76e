//! A worker's live instance: calling one guest function under the
//! invocation deadline, its end classified as a [`CallResult`] for
//! [`crate::attempt`] to judge.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{Instance, Val};

use crate::attempt::CallResult;
use crate::components::LoadedComponent;
use crate::durable::waits::Suspend;
use crate::durable::{Divergence, stdio};
use crate::store::{DeadlineExceeded, WorkerCtx};
use crate::values;

/// A worker's instance, ready to call.
pub struct Live {
    pub loaded: Arc<LoadedComponent>,
    pub store: Store<WorkerCtx>,
    pub instance: Instance,
}

/// The arguments of a call: typed already (a live invocation), or the JSON the oplog
/// recorded (replay).
pub enum Args<'a> {
    Typed(Vec<Val>),
    Json(&'a str),
}

impl Live {
    /// Calls export `function` (its full name) with `args`, under the invocation
    /// deadline when `timed` (replay of completed invocations is not: a loaded executor
    /// must not fail a worker because replaying its history was slow). The deadline
    /// covers host waits too (a slow HTTP response), not only wasm running; durable
    /// waits (timers, promises) move it by their length.
    pub async fn call(&mut self, function: &str, args: Args<'_>, timed: bool) -> CallResult {
        let Some(index) = self.loaded.export_index(function) else {
            return CallResult::BadArguments(format!("component has no export {function}"));
        };
        let Some(func) = self.instance.get_func(&mut self.store, index) else {
            return CallResult::BadArguments(format!("export {function} is not a function"));
        };
        let params = match args {
            Args::Typed(vals) => vals,
            Args::Json(text) => {
                let ty = func.ty(&self.store);
                let typed = serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|json| {
                        values::json_args_to_vals(&ty, &json).map_err(|e| e.to_string())
                    });
                match typed {
                    Ok(vals) => vals,
                    Err(e) => return CallResult::BadArguments(e),
                }
            }
        };
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        let data = self.store.data();
        let (deadline, timeout) = (data.deadline.clone(), data.timeout);
        deadline.start(timed.then_some(timeout));
        data.stderr_tail.clear();
        self.store.set_epoch_deadline(1);
        let call = func.call_async(&mut self.store, &params, &mut results);
        let ended = tokio::select! {
            ended = call => ended,
            // Blocked in a host call past the deadline: the call is dropped (the instance is
            // rebuilt after a deadline).
            () = deadline.passed() => Err(DeadlineExceeded(timeout).into()),
        };
        match ended {
            Ok(()) => CallResult::Returned(values::results_to_json(&results).to_string()),
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    CallResult::Exited(exit.0)
                } else if let Some(s) = e.downcast_ref::<Suspend>() {
                    CallResult::Suspended(s.waiting.clone())
                } else if let Some(d) = e.downcast_ref::<Divergence>() {
                    CallResult::Diverged(d.to_string())
                } else if let Some(d) = e.downcast_ref::<DeadlineExceeded>() {
                    CallResult::Deadline(d.to_string())
                } else {
                    // `{:#}`: the trap with its wasm backtrace, not the executor's own Rust
                    // backtrace; after what the guest printed about it (a traceback).
                    let stderr = self.store.data().stderr_tail.text();
                    CallResult::Trapped(stdio::trap_message(&format!("{e:#}"), &stderr))
                }
            }
        }
    }
}

impl Live {
    /// Calls the guest's `revenant:api/snapshot.save` (between invocations, untimed).
    pub async fn save(&mut self) -> Result<Vec<u8>, String> {
        let (bytes,) = self
            .call_snapshot_export::<(), (Vec<u8>,)>("save", ())
            .await?;
        Ok(bytes)
    }

    /// Calls the guest's `revenant:api/snapshot.load` on a fresh instance.
    pub async fn load(&mut self, data: Vec<u8>) -> Result<(), String> {
        let (loaded,) = self
            .call_snapshot_export::<(Vec<u8>,), (Result<(), String>,)>("load", (data,))
            .await?;
        loaded.map_err(|e| format!("the guest's load refused it: {e}"))
    }

    async fn call_snapshot_export<P, R>(&mut self, function: &str, params: P) -> Result<R, String>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Send + Sync,
        R: wasmtime::component::ComponentNamedList
            + wasmtime::component::Lift
            + Send
            + Sync
            + 'static,
    {
        let name = revenant_types::snapshot::export_name(function);
        let index = self
            .loaded
            .export_index(&name)
            .ok_or_else(|| format!("the component does not export {name}"))?;
        let func = self
            .instance
            .get_typed_func::<P, R>(&mut self.store, index)
            .map_err(|e| format!("{name} has an unexpected type: {e}"))?;
        self.store.data().deadline.start(None);
        self.store.set_epoch_deadline(1);
        func.call_async(&mut self.store, params)
            .await
            .map_err(|e| format!("{name} trapped: {e:#}"))
    }
}
