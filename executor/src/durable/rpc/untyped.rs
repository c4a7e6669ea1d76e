//! `revenant:api/rpc` over the generated bindings: the untyped calls (a target and
//! JSON arguments), run by the protocol of [`super`].

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::DynPollable;

use super::super::api::bindings::revenant::api::rpc;
use super::super::waits::{CanWait, WaitParts};
use super::{Mode, RpcError, RpcFuture};

pub struct Rpc<'a> {
    parts: WaitParts<'a>,
}

impl From<RpcError> for rpc::RpcError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::NotFound(m) => Self::NotFound(m),
            RpcError::Denied(m) => Self::Denied(m),
            RpcError::RemoteError(m) => Self::RemoteError(m),
            RpcError::WorkerFailed(m) => Self::WorkerFailed(m),
            RpcError::Cycle(m) => Self::Cycle(m),
            RpcError::Protocol(m) => Self::Protocol(m),
        }
    }
}

impl Rpc<'_> {
    async fn start(
        &mut self,
        target: rpc::WorkerId,
        function: &str,
        args: &str,
        mode: Mode,
    ) -> wasmtime::Result<Result<(u64, String), rpc::RpcError>> {
        let target = match super::check(&target.component, &target.worker, args) {
            Ok(target) => target,
            Err(e) => return Ok(Err(e.into())),
        };
        let started = super::start(&mut self.parts, &target, function, args, mode).await?;
        Ok(started.map_err(Into::into))
    }
}

impl rpc::Host for Rpc<'_> {
    async fn invoke_and_await(
        &mut self,
        target: rpc::WorkerId,
        function: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, rpc::RpcError>> {
        let index = match self
            .start(target, &function, &args_json, Mode::Await)
            .await?
        {
            Ok((index, _)) => index,
            Err(e) => return Ok(Err(e)),
        };
        Ok(super::outcome(&mut self.parts, index)
            .await?
            .map_err(Into::into))
    }

    async fn invoke(
        &mut self,
        target: rpc::WorkerId,
        function: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, rpc::RpcError>> {
        let started = self
            .start(target, &function, &args_json, Mode::Send)
            .await?;
        Ok(started.map(|(_, key)| key))
    }

    async fn invoke_async(
        &mut self,
        target: rpc::WorkerId,
        function: String,
        args_json: String,
    ) -> wasmtime::Result<Result<Resource<RpcFuture>, rpc::RpcError>> {
        let index = match self
            .start(target, &function, &args_json, Mode::Async)
            .await?
        {
            Ok((index, _)) => index,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.parts.table.push(RpcFuture { index })?))
    }

    async fn schedule(
        &mut self,
        at_epoch_ms: u64,
        target: rpc::WorkerId,
        function: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, rpc::RpcError>> {
        let target = match super::check(&target.component, &target.worker, &args_json) {
            Ok(target) => target,
            Err(e) => return Ok(Err(e.into())),
        };
        let scheduled =
            super::schedule(&mut self.parts, at_epoch_ms, &target, &function, &args_json).await?;
        Ok(scheduled.map_err(Into::into))
    }

    async fn cancel_schedule(
        &mut self,
        target: rpc::WorkerId,
        id: String,
    ) -> wasmtime::Result<Result<bool, rpc::RpcError>> {
        let target = match super::check(&target.component, &target.worker, "null") {
            Ok(target) => target,
            Err(e) => return Ok(Err(e.into())),
        };
        let cancelled = super::cancel_schedule(&mut self.parts, &target, &id).await?;
        Ok(cancelled.map_err(Into::into))
    }
}

impl rpc::HostFutureResult for Rpc<'_> {
    fn subscribe(
        &mut self,
        future: Resource<RpcFuture>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let index = self.parts.table.get(&future)?.index;
        super::outcome_pollable(&mut self.parts, index)
    }

    fn get(
        &mut self,
        future: Resource<RpcFuture>,
    ) -> wasmtime::Result<Option<Result<String, rpc::RpcError>>> {
        let index = self.parts.table.get(&future)?.index;
        Ok(super::poll(&self.parts, index)?.map(|r| r.map_err(Into::into)))
    }

    fn drop(&mut self, future: Resource<RpcFuture>) -> wasmtime::Result<()> {
        self.parts.table.delete(future)?;
        Ok(())
    }
}

struct HasRpc;

impl HasData for HasRpc {
    type Data<'a> = Rpc<'a>;
}

/// Registers `revenant:api/rpc`.
pub fn add_to_linker<T: CanWait>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    rpc::add_to_linker::<T, HasRpc>(linker, |t: &mut T| Rpc {
        parts: t.wait_parts(),
    })
}
